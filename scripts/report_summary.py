# Rule report_summary: the one-page summary beside the paper's numbers, with the analysed /
# excluded subjects per split (cine2lge.exclusion).
from cine2lge.chunks import final_statuses
from cine2lge.exclusion import split_counts
from cine2lge.logs import to_file
from cine2lge.report.stage import summary_stage

with to_file(snakemake.log[0]):
    summary_stage(
        snakemake.input.agreement,
        snakemake.input.roc,
        snakemake.input.similarity,
        snakemake.output[0],
        snakemake.params.splits,
        split_counts(
            snakemake.params.split_of,
            final_statuses(snakemake.input.records),
            snakemake.params.splits,
        ),
    )
