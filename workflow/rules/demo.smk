# The synthetic demo cohort: one whole DICOM study and its ground truth per subject.
# The T2 series (demo.t2) is a param only when on: a new param would make Snakemake rerun
# (and retrain on) every existing demo study.
DEMO_PARAMS = {"seed": config["demo"]["seed"]} | (
    {"t2": True} if config["demo"]["t2"] else {}
)


rule demo_subject:
    output:
        dicom=directory(f"{DEMO_ROOT}/{{subject}}/dicom"),
        labels=f"{DEMO_ROOT}/{{subject}}/truth/labels.nii.gz",
        cine_labels=f"{DEMO_ROOT}/{{subject}}/truth/cine_labels.nii.gz",
        truth=f"{DEMO_ROOT}/{{subject}}/truth/truth.json",
    log:
        "logs/demo/{subject}.log",
    benchmark:
        "benchmarks/demo/{subject}.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        **DEMO_PARAMS,
    script:
        "../../scripts/demo_subject.py"


TARGETS["demo"] = lambda: [
    f"{DEMO_ROOT}/{s}/truth/labels.nii.gz" for s in SUBJECTS if is_demo(s)
]
