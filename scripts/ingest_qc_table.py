# Rule ingest_qc_table: the cohort's QC table results/ingest/qc.tsv (analysed subjects only; the
# excluded are listed in results/tables/exclusions.tsv).
from cine2lge.dicom.qc import write_qc_table
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    _, qc = keep_analysed(snakemake.params.subjects, snakemake.input.status, snakemake.input.qc)
    write_qc_table(qc, snakemake.output[0])
