# Rule reader_package: blinded, randomised reading package and its separate answer key (analysed
# subjects only, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.report.stage import reader_package_stage

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    reader_package_stage(
        dict(zip(subjects, reads["paired"], strict=True)),
        dict(zip(subjects, reads["prediction"], strict=True)),
        snakemake.output.package,
        snakemake.output.key,
        snakemake.params.settings,
    )
