# Rule report_panels: image panels of the slices with the most true enhancement and one without,
# of one split (analysed subjects only, cine2lge.exclusion). Optional rule input `lesions`
# (results/tables/lesions.tsv) gives the true enhancement per slice.
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.report.stage import panels_stage

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    panels_stage(
        snakemake.wildcards.split,
        snakemake.input.similarity,
        dict(zip(subjects, reads["paired"], strict=True)),
        dict(zip(subjects, reads["prediction"], strict=True)),
        snakemake.output[0],
        lesions_path=snakemake.input.get("lesions"),
        enhancement_labels=snakemake.params.get("enhancement_labels"),
    )
