# Rule reader_package: blinded, randomised reading package and its separate answer key.
from cine2lge.logs import to_file
from cine2lge.report.stage import reader_package_stage

with to_file(snakemake.log[0]):
    reader_package_stage(
        dict(zip(snakemake.params.subjects, snakemake.input.paired, strict=True)),
        dict(zip(snakemake.params.subjects, snakemake.input.prediction, strict=True)),
        snakemake.output.package,
        snakemake.output.key,
        snakemake.params.settings,
    )
