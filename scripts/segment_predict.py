# Rules segment_subject_<chunk>: Snakemake's objects to the library for each subject of the chunk
# (an excluded subject gets a status.json instead, cine2lge.exclusion, cine2lge.chunks).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.segment.predict import predict_subject

run_chunk(
    subject_jobs(snakemake),
    lambda job: predict_subject(
        job.subject,
        job.input["paired"],
        snakemake.input.weights,
        job.output["masks"],
        job.output["qc"],
        snakemake.params.phase_fraction,
        snakemake.params.postprocess,
        threads=snakemake.threads,
        batch_size=snakemake.params.batch_size,
        preprocess=snakemake.params.preprocess,
        flip_tta=snakemake.params.flip_tta,
    ),
    stage="segment",
    record=snakemake.output.record,
)
