# Rule report_cohort: Table 1 of the cohort per split, site and vendor.
from cine2lge.logs import to_file
from cine2lge.report.stage import cohort_stage

with to_file(snakemake.log[0]):
    cohort_stage(
        snakemake.params.rows,
        snakemake.params.sidecars,
        dict(zip(snakemake.params.subjects, snakemake.input.paired, strict=True)),
        snakemake.output[0],
        snakemake.params.split_order,
    )
