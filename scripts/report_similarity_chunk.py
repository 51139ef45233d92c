# Rule report_similarity_chunk: SSIM/PSNR/MAE of LGE-like vs real LGE slices, one inference chunk
# (analysed subjects only, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.report.stage import similarity_chunk_stage

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    similarity_chunk_stage(
        subjects,
        reads["paired"],
        reads["prediction"],
        snakemake.output[0],
        snakemake.params.myocardium_labels,
        snakemake.params.data_range,
    )
