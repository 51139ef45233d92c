# Rule exclusions: subjects excluded by an expected data problem -> results/tables/exclusions.tsv.
from cine2lge.exclusion import write_exclusions
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    write_exclusions(snakemake.input, snakemake.output[0])
