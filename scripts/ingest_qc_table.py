# Rule ingest_qc_table: the cohort's QC table results/ingest/qc.tsv.
from cine2lge.dicom.qc import write_qc_table
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    write_qc_table(list(snakemake.input), snakemake.output[0])
