# Stage script (rules preprocess_subject_<chunk>): Snakemake's objects in, cine2lge.preprocess
# does the work for each subject of the chunk; an excluded subject (upstream or here) gets a
# status.json instead (cine2lge.exclusion, cine2lge.chunks).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.preprocess.subject import run_subject

run_chunk(
    subject_jobs(snakemake),
    lambda job: run_subject(
        job.subject,
        job.input["cine"],
        {k: v for k, v in job.output.items() if k != "status"},
        snakemake.params.settings,
        lge=job.input.get("lge"),
        labels=job.input.get("labels"),
        myocardium_labels=job.params["myocardium"],
        t2=job.input.get("t2"),
    ),
    stage="preprocess",
    record=snakemake.output.record,
)
