# Stage script (rule preprocess_subject): Snakemake's objects in, cine2lge.preprocess does the work.
from cine2lge.logs import to_file
from cine2lge.preprocess.subject import run_subject

with to_file(snakemake.log[0]):
    run_subject(
        snakemake.wildcards.subject,
        snakemake.input.cine,
        dict(snakemake.output.items()),
        snakemake.params.settings,
        lge=snakemake.input.get("lge"),
        labels=snakemake.input.get("labels"),
        myocardium_labels=snakemake.params.myocardium,
        t2=snakemake.input.get("t2"),
    )
