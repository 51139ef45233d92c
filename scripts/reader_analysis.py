# Rule reader_analysis: Wilcoxon LGE-like vs real LGE and inter-reader agreement.
from cine2lge.logs import to_file
from cine2lge.report.stage import reader_analysis_stage

with to_file(snakemake.log[0]):
    reader_analysis_stage(
        snakemake.input.sheets,
        snakemake.input.key,
        snakemake.output,
        snakemake.params.settings,
    )
