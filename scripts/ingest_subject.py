# Rules ingest_<roles> (one per role set of the sheet): all roles of one subject and its qc.json;
# an expected data problem excludes the subject (status.json, cine2lge.exclusion).
from cine2lge.dicom.subject import ingest_subject
from cine2lge.exclusion import run_stage, stage_arguments
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    stage = stage_arguments(snakemake, "ingest")
    run_stage(
        lambda: ingest_subject(
            subject=snakemake.wildcards.subject,
            sources=dict(snakemake.input.items()),
            outputs=stage["outputs"],
            config=snakemake.params.settings,
            series_uids=snakemake.params.series_uids,
            labels_tolerance_mm=snakemake.params.labels_tolerance_mm,
            threads=snakemake.threads,
        ),
        **stage,
    )
