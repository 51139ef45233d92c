# Rule segment_evaluate: Snakemake's objects to the library, nothing else (excluded subjects are
# left out, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.segment.evaluate import evaluate_cohort

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    evaluate_cohort(
        subjects,
        reads["masks"],
        reads["paired"],
        reads["geometry"],
        snakemake.params.schemes,
        snakemake.params.splits,
        snakemake.output.table,
        snakemake.output.summary,
    )
