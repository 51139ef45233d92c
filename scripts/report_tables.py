# Rule tables: index of every result table under results/tables/.
from cine2lge.logs import to_file
from cine2lge.report.stage import index_stage

with to_file(snakemake.log[0]):
    index_stage(snakemake.input, snakemake.output[0])
