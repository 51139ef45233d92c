# Rule segment_subject: Snakemake's objects to the library, nothing else (an excluded subject
# gets a status.json instead, cine2lge.exclusion).
from cine2lge.exclusion import run_stage, stage_arguments
from cine2lge.logs import to_file
from cine2lge.segment.predict import predict_subject

with to_file(snakemake.log[0]):
    run_stage(
        lambda: predict_subject(
            snakemake.wildcards.subject,
            snakemake.input.paired,
            snakemake.input.weights,
            snakemake.output.masks,
            snakemake.output.qc,
            snakemake.params.phase_fraction,
            snakemake.params.postprocess,
            threads=snakemake.threads,
            batch_size=snakemake.params.batch_size,
            preprocess=snakemake.params.preprocess,
        ),
        **stage_arguments(snakemake, "segment"),
    )
