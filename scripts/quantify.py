# scripts/quantify.py — rule quantify_lesions: Snakemake's objects to the library, nothing else
# (an excluded subject gets a status.json instead, cine2lge.exclusion).
from cine2lge.exclusion import run_stage, stage_arguments
from cine2lge.logs import to_file
from cine2lge.quantify.subject import quantify_subject

with to_file(snakemake.log[0]):
    run_stage(
        lambda: quantify_subject(
            snakemake.wildcards.subject,
            snakemake.input.paired,
            snakemake.input.geometry,
            snakemake.input.get("prediction"),
            snakemake.params.scheme,
            snakemake.params.settings,
            snakemake.output.table,
            snakemake.output.bullseye,
            segmentation_path=snakemake.input.get("segmentation"),
        ),
        **stage_arguments(snakemake, "quantify"),
    )
