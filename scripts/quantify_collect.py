# scripts/quantify_collect.py — rule quantify_cohort: per-subject lesions.tsv -> cohort table, of
# the analysed subjects (the excluded are in results/tables/exclusions.tsv, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.quantify.subject import collect_tables

with to_file(snakemake.log[0]):
    _, tables = keep_analysed(
        snakemake.params.subjects, snakemake.input.status, snakemake.input.tables
    )
    collect_tables(tables, snakemake.output[0])
