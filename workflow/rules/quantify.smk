# Stage: quantify (see docs/architecture.md, docs/quantify.md). Lesion classes and burden per
# subject, slice and AHA segment for real LGE, the model's LGE-like image and enhancement
# probability, and the ground-truth labels; cohort table results/tables/lesions.tsv.

QUANTIFY = config["quantify"]
# The learned quantifier's weights are an input (and resolved like shipped weights) when used.
LEARNED_WEIGHTS = (
    workflow_file(QUANTIFY["learned"]["weights"])
    if QUANTIFY["method"] == "learned"
    else None
)
QUANTIFY_SETTINGS = (
    QUANTIFY | {"learned": QUANTIFY["learned"] | {"weights": LEARNED_WEIGHTS}}
    if LEARNED_WEIGHTS
    else QUANTIFY
)


# Subjects without labels use the segmentation stage's predicted masks (segment.smk) when
# segment.quantify_unlabelled is set; lesions.tsv records it in `myocardium_source`.
# PREDICTED_MASKS and QUANTIFY_SUBJECTS: common.smk.
PREDICTED_MASKS_OF = {
    s: (
        []
        if ROWS[s]["myo"] or not PREDICTED_MASKS
        else f"results/segment/{s}/masks.npz"
    )
    for s in SUBJECTS
}


rule quantify_lesions:
    input:
        paired="results/preprocess/{subject}/paired.npz",
        geometry="results/preprocess/{subject}/geometry.json",
        prediction=lambda wc: (
            f"results/model/{wc.subject}/prediction.npz"
            if ROWS[wc.subject]["split"] in QUANTIFY["model_splits"]
            else []
        ),
        segmentation=lambda wc: PREDICTED_MASKS_OF[wc.subject],
        upstream=lambda wc: quantify_upstream(wc.subject),
        learned=(
            [LEARNED_WEIGHTS, f"{LEARNED_WEIGHTS}.sha256"] if LEARNED_WEIGHTS else []
        ),
    output:
        table="results/quantify/{subject}/lesions.tsv",
        status="results/quantify/{subject}/status.json",
        bullseye=report(
            "results/quantify/{subject}/bullseye.png",
            caption="../report/quantify_bullseye.rst",
            category="Lesions per subject",
            labels={"subject": "{subject}"},
        ),
    log:
        "logs/quantify/{subject}.log",
    benchmark:
        "benchmarks/quantify/{subject}.tsv"
    group:
        "subject_results"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        split=split_param,
        scheme=lambda wc: config["label_schemes"][ROWS[wc.subject]["label_scheme"]],
        settings=QUANTIFY_SETTINGS,
    script:
        "../../scripts/quantify.py"


rule quantify_cohort:
    input:
        tables=expand(
            "results/quantify/{subject}/lesions.tsv", subject=QUANTIFY_SUBJECTS
        ),
        status=statuses("quantify", QUANTIFY_SUBJECTS),
    output:
        "results/tables/lesions.tsv",
    log:
        "logs/quantify/cohort.log",
    benchmark:
        "benchmarks/quantify/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        subjects=QUANTIFY_SUBJECTS,
    script:
        "../../scripts/quantify_collect.py"


TARGETS["quantify"] = lambda: ["results/tables/lesions.tsv"] + [
    f"results/quantify/{s}/bullseye.png" for s in QUANTIFY_SUBJECTS
]
