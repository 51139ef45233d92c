# Rule segment_qc_table: Snakemake's objects to the library, nothing else (excluded subjects are
# left out, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.segment.postprocess import collect_qc

with to_file(snakemake.log[0]):
    _, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    collect_qc(reads["qc"], snakemake.output[0])
