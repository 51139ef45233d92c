# Rule ingest_qc_table: the cohort's QC table results/ingest/qc.tsv (analysed subjects only; the
# excluded are listed in results/tables/exclusions.tsv).
from cine2lge.chunks import analysed_reads
from cine2lge.dicom.qc import write_qc_table
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    _, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    write_qc_table(reads["qc"], snakemake.output[0])
