# Rule report_roc: ROC/AUC, thresholds and calibration of the enhancement probability.
from cine2lge.logs import to_file
from cine2lge.report.stage import roc_stage

with to_file(snakemake.log[0]):
    roc_stage(
        snakemake.input.lesions,
        snakemake.input.probabilities,
        snakemake.output,
        snakemake.params.split_of,
        snakemake.params.settings,
        dict(zip(snakemake.params.subjects, snakemake.input.paired, strict=True)),
    )
