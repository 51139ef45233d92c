# Rules ingest_cine / ingest_lge: one role of a subject's study (DICOM folder or NIfTI).
from cine2lge.dicom.ingest import ingest_series
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    ingest_series(
        source=snakemake.input.study,
        subject=snakemake.wildcards.subject,
        role=snakemake.params.role,
        nifti_path=snakemake.output.nifti,
        sidecar_path=snakemake.output.sidecar,
        qc_path=snakemake.output.qc,
        config=snakemake.params.settings,
        series_uids=snakemake.params.series_uids,
        threads=snakemake.threads,
    )
