# scripts/quantify.py — rules quantify_lesions_<chunk>: Snakemake's objects to the library for
# each subject of the chunk (an excluded subject gets a status.json instead, cine2lge.exclusion,
# cine2lge.chunks).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.quantify.subject import quantify_subject

run_chunk(
    subject_jobs(snakemake),
    lambda job: quantify_subject(
        job.subject,
        job.input["paired"],
        job.input["geometry"],
        job.input.get("prediction"),
        snakemake.params.schemes[job.params["scheme"]],
        snakemake.params.settings,
        job.output["table"],
        job.output["bullseye"],
        segmentation_path=job.input.get("segmentation"),
    ),
    stage="quantify",
    record=snakemake.output.record,
)
