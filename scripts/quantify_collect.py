# scripts/quantify_collect.py — rule quantify_cohort: per-subject lesions.tsv -> cohort table.
from cine2lge.logs import to_file
from cine2lge.quantify.subject import collect_tables

with to_file(snakemake.log[0]):
    collect_tables(list(snakemake.input), snakemake.output[0])
