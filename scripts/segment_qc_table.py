# Rule segment_qc_table: Snakemake's objects to the library, nothing else (excluded subjects are
# left out, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.segment.postprocess import collect_qc

with to_file(snakemake.log[0]):
    _, qc = keep_analysed(snakemake.params.subjects, snakemake.input.status, snakemake.input.qc)
    collect_qc(qc, snakemake.output[0])
