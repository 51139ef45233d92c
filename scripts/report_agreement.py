# Rule report_agreement: LGE-like vs real LGE lesion burden statistics per split.
from cine2lge.logs import to_file
from cine2lge.report.stage import agreement_stage

with to_file(snakemake.log[0]):
    agreement_stage(
        snakemake.input.lesions,
        snakemake.output[0],
        snakemake.params.split_of,
        snakemake.params.settings,
    )
