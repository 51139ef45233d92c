# Rule report_roc: ROC/AUC, thresholds and calibration of the enhancement probability (analysed
# subjects only, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.report.stage import roc_stage

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    roc_stage(
        snakemake.input.lesions,
        reads["probabilities"],
        snakemake.output,
        snakemake.params.split_of,
        snakemake.params.settings,
        dict(zip(subjects, reads["paired"], strict=True)),
    )
