# scripts/quantify.py — rule quantify_lesions: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.quantify.subject import quantify_subject

with to_file(snakemake.log[0]):
    quantify_subject(
        snakemake.wildcards.subject,
        snakemake.input.paired,
        snakemake.input.geometry,
        snakemake.input.get("prediction"),
        snakemake.params.scheme,
        snakemake.params.settings,
        snakemake.output.table,
        snakemake.output.bullseye,
        segmentation_path=snakemake.input.get("segmentation"),
    )
