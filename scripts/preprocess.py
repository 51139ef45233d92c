# Stage script (rule preprocess_subject): Snakemake's objects in, cine2lge.preprocess does the work;
# an excluded subject (upstream or here) gets a status.json instead (cine2lge.exclusion).
from cine2lge.exclusion import run_stage, stage_arguments
from cine2lge.logs import to_file
from cine2lge.preprocess.subject import run_subject

with to_file(snakemake.log[0]):
    stage = stage_arguments(snakemake, "preprocess")
    run_stage(
        lambda: run_subject(
            snakemake.wildcards.subject,
            snakemake.input.cine,
            stage["outputs"],
            snakemake.params.settings,
            lge=snakemake.input.get("lge"),
            labels=snakemake.input.get("labels"),
            myocardium_labels=snakemake.params.myocardium,
            t2=snakemake.input.get("t2"),
        ),
        **stage,
    )
