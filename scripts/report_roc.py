# Rule report_roc: ROC/AUC, thresholds and calibration of the enhancement probability (analysed
# subjects only, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.report.stage import roc_stage

with to_file(snakemake.log[0]):
    subjects, probabilities, paired = keep_analysed(
        snakemake.params.subjects,
        snakemake.input.status,
        snakemake.input.probabilities,
        snakemake.input.paired,
    )
    roc_stage(
        snakemake.input.lesions,
        probabilities,
        snakemake.output,
        snakemake.params.split_of,
        snakemake.params.settings,
        dict(zip(subjects, paired, strict=True)),
    )
