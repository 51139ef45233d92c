# Rule report_figures: agreement, ROC, calibration and bull's-eye figures.
from cine2lge.logs import to_file
from cine2lge.report.stage import figures_stage

with to_file(snakemake.log[0]):
    figures_stage(
        snakemake.input.lesions,
        snakemake.input.roc,
        snakemake.input.roc_curve,
        snakemake.input.calibration,
        snakemake.output,
        snakemake.params.split_of,
        snakemake.params.settings,
    )
