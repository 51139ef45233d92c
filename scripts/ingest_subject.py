# Rules ingest_<roles>_<chunk> (one per role set of the sheet and chunk of its subjects): all
# roles of each subject and its qc.json; an expected data problem excludes that subject only
# (status.json, cine2lge.exclusion; cine2lge.chunks).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.dicom.subject import ingest_subject

run_chunk(
    subject_jobs(snakemake),
    lambda job: ingest_subject(
        subject=job.subject,
        sources=dict(job.input.items()),
        outputs={k: v for k, v in job.output.items() if k != "status"},
        config=snakemake.params.settings,
        series_uids=job.params["series_uids"],
        labels_tolerance_mm=snakemake.params.labels_tolerance_mm,
        threads=snakemake.threads,
    ),
    stage="ingest",
    record=snakemake.output.record,
)
