# Rule report_similarity_chunk: SSIM/PSNR/MAE of LGE-like vs real LGE slices, one inference chunk.
from cine2lge.logs import to_file
from cine2lge.report.stage import similarity_chunk_stage

with to_file(snakemake.log[0]):
    similarity_chunk_stage(
        snakemake.params.subjects,
        snakemake.input.paired,
        snakemake.input.prediction,
        snakemake.output[0],
        snakemake.params.myocardium_labels,
        snakemake.params.data_range,
    )
