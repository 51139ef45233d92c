# Rule report_cohort: Table 1 of the analysed subjects per split, site and vendor.
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.report.stage import cohort_stage

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    cohort_stage(
        {s: snakemake.params.rows[s] for s in subjects},
        {s: snakemake.params.sidecars[s] for s in subjects},
        dict(zip(subjects, reads["paired"], strict=True)),
        snakemake.output[0],
        snakemake.params.split_order,
    )
