# Rule ingest_qc: merge a subject's QC parts (cine, lge, labels) into qc.json.
from cine2lge.dicom.ingest import ingest_qc
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    ingest_qc(snakemake.wildcards.subject, list(snakemake.input), snakemake.output[0])
