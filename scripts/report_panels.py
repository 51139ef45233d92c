# Rule report_panels: image panels of the best, median and worst slices of one split.
from cine2lge.logs import to_file
from cine2lge.report.stage import panels_stage

with to_file(snakemake.log[0]):
    panels_stage(
        snakemake.wildcards.split,
        snakemake.input.similarity,
        dict(zip(snakemake.params.subjects, snakemake.input.paired, strict=True)),
        dict(zip(snakemake.params.subjects, snakemake.input.prediction, strict=True)),
        snakemake.output[0],
    )
