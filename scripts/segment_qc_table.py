# Rule segment_qc_table: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.segment.postprocess import collect_qc

with to_file(snakemake.log[0]):
    collect_qc(snakemake.input, snakemake.output[0])
