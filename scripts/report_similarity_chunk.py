# Rule report_similarity_chunk: SSIM/PSNR/MAE of LGE-like vs real LGE slices, one inference chunk
# (analysed subjects only, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.report.stage import similarity_chunk_stage

with to_file(snakemake.log[0]):
    subjects, paired, prediction = keep_analysed(
        snakemake.params.subjects,
        snakemake.input.status,
        snakemake.input.paired,
        snakemake.input.prediction,
    )
    similarity_chunk_stage(
        subjects,
        paired,
        prediction,
        snakemake.output[0],
        snakemake.params.myocardium_labels,
        snakemake.params.data_range,
    )
