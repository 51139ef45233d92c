# Rule exclusions: subjects excluded by an expected data problem -> results/tables/exclusions.tsv.
# Every status record of every subject, from the chunk records of all stages (cine2lge.chunks).
from cine2lge.chunks import stage_statuses
from cine2lge.exclusion import write_exclusions
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    write_exclusions(
        stage_statuses(snakemake.params.subjects, snakemake.input.records), snakemake.output[0]
    )
