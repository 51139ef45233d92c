# Rule report_similarity: collect per-subject similarity and summarise it per split.
from cine2lge.logs import to_file
from cine2lge.report.stage import similarity_stage

with to_file(snakemake.log[0]):
    similarity_stage(snakemake.input, snakemake.output, snakemake.params.split_of)
