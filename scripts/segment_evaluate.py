# Rule segment_evaluate: Snakemake's objects to the library, nothing else (excluded subjects are
# left out, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.segment.evaluate import evaluate_cohort

with to_file(snakemake.log[0]):
    subjects, masks, paired, geometry = keep_analysed(
        snakemake.params.subjects,
        snakemake.input.status,
        snakemake.input.masks,
        snakemake.input.paired,
        snakemake.input.geometry,
    )
    evaluate_cohort(
        subjects,
        masks,
        paired,
        geometry,
        snakemake.params.schemes,
        snakemake.params.splits,
        snakemake.output.table,
        snakemake.output.summary,
    )
