# Rule segment_evaluate: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.segment.evaluate import evaluate_cohort

with to_file(snakemake.log[0]):
    evaluate_cohort(
        snakemake.params.subjects,
        snakemake.input.masks,
        snakemake.input.paired,
        snakemake.input.geometry,
        snakemake.params.schemes,
        snakemake.params.splits,
        snakemake.output.table,
        snakemake.output.summary,
    )
