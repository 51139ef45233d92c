# scripts/quantify_collect.py — rule quantify_cohort: per-subject lesions.tsv -> cohort table, of
# the analysed subjects (the excluded are in results/tables/exclusions.tsv, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.quantify.subject import collect_tables

with to_file(snakemake.log[0]):
    _, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    collect_tables(reads["tables"], snakemake.output[0])
