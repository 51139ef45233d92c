# Rule reader_package: blinded, randomised reading package and its separate answer key (analysed
# subjects only, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.report.stage import reader_package_stage

with to_file(snakemake.log[0]):
    subjects, paired, prediction = keep_analysed(
        snakemake.params.subjects,
        snakemake.input.status,
        snakemake.input.paired,
        snakemake.input.prediction,
    )
    reader_package_stage(
        dict(zip(subjects, paired, strict=True)),
        dict(zip(subjects, prediction, strict=True)),
        snakemake.output.package,
        snakemake.output.key,
        snakemake.params.settings,
    )
