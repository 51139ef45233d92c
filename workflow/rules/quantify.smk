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


# Files a chunk job reads (cine2lge.chunks.subject_jobs); its declared inputs are the records of
# its subjects' upstream chunks (preprocess; model and segment where used), written last upstream.
QUANTIFY_READS = {
    "paired": "results/preprocess/{subject}/paired.npz",
    "geometry": "results/preprocess/{subject}/geometry.json",
    "prediction": "results/model/{subject}/prediction.npz",
    "segmentation": "results/segment/{subject}/masks.npz",
}


# Lesions per subject, one job per chunk of `subjects_per_job` subjects (cine2lge.chunks).
for _chunk, _members in chunks_of(QUANTIFY_SUBJECTS).items():

    rule:
        name:
            f"quantify_lesions_{_chunk}"
        input:
            upstream=upstream_records(_members, quantify_upstream),
            learned=(
                [LEARNED_WEIGHTS, f"{LEARNED_WEIGHTS}.sha256"]
                if LEARNED_WEIGHTS
                else []
            ),
            token=stage_token("quantify_lesions"),
        output:
            **indexed([quantify_outputs(s) for s in _members]),
            record=chunk_record("quantify", f"quantify_lesions_{_chunk}", _members),
        log:
            **indexed([{"log": f"logs/quantify/{s}.log"} for s in _members]),
        benchmark:
            f"benchmarks/quantify/{_chunk}.tsv"
        conda:
            "../../envs/imaging.yaml"
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=5 + 2 * len(_members),
        params:
            subjects=_members,
            each={
                s: {
                    "split": ROWS[s]["split"],
                    "scheme": ROWS[s]["label_scheme"],
                    "reads": quantify_reads(s),
                    "upstream": statuses_of_subject(s, quantify_upstream(s)),
                }
                for s in _members
            },
            schemes=config["label_schemes"],
            reads=QUANTIFY_READS,
            settings=QUANTIFY_SETTINGS,
        script:
            "../../scripts/quantify.py"

    exact_outputs(f"quantify_lesions_{_chunk}")


rule quantify_cohort:
    input:
        records=records("quantify", QUANTIFY_SUBJECTS),
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
        reads={"tables": "results/quantify/{subject}/lesions.tsv"},
    script:
        "../../scripts/quantify_collect.py"


# Per-subject tables and bull's-eye plots: through their chunk jobs (common.smk: CHUNK_TARGETS).
TARGETS["quantify"] = lambda: ["results/tables/lesions.tsv"]
