# Rules ingest_<roles> (one per role set of the sheet): all roles of one subject and its qc.json.
from cine2lge.dicom.subject import ingest_subject
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    ingest_subject(
        subject=snakemake.wildcards.subject,
        sources=dict(snakemake.input.items()),
        outputs=dict(snakemake.output.items()),
        config=snakemake.params.settings,
        series_uids=snakemake.params.series_uids,
        labels_tolerance_mm=snakemake.params.labels_tolerance_mm,
        threads=snakemake.threads,
    )
