# Rule report_similarity_subject: SSIM/PSNR/MAE of one subject's LGE-like vs real LGE slices.
from cine2lge.logs import to_file
from cine2lge.report.stage import similarity_subject_stage

with to_file(snakemake.log[0]):
    similarity_subject_stage(
        snakemake.wildcards.subject,
        snakemake.input.paired,
        snakemake.input.prediction,
        snakemake.output[0],
        snakemake.params.myocardium_labels,
        snakemake.params.data_range,
    )
