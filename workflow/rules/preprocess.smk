# Stage: preprocess (see docs/architecture.md, docs/preprocess.md): LV-centred crops of the cine
# (and LGE, labels), paired by slice position; training splits assembled into memory-mapped arrays.
PREPROCESS = "results/preprocess"
DATASET_SPLITS = ("train", "val")


# Ingest volumes of each subject: the LGE only when its sheet row has `lge`, labels only with
# `myo`, T2 only with `t2`.
PREPROCESS_INPUTS = {
    s: {
        k: v
        for k, v in ingest_outputs(s).items()
        if k in ("cine", "lge", "labels", "t2")
    }
    for s in SUBJECTS
}
# Subjects of a training split that can give paired slices (those with LGE), in sheet order.
DATASET_SUBJECTS = {
    split: [s for s in subjects_in(split) if ROWS[s]["lge"]] for split in DATASET_SPLITS
}


rule preprocess_subject:
    input:
        unpack(lambda wc: PREPROCESS_INPUTS[wc.subject]),
        upstream=lambda wc: status_of("ingest", wc.subject),
    output:
        paired=f"{PREPROCESS}/{{subject}}/paired.npz",
        geometry=f"{PREPROCESS}/{{subject}}/geometry.json",
        pairs=f"{PREPROCESS}/{{subject}}/pairs.tsv",
        qc=f"{PREPROCESS}/{{subject}}/qc.png",
        status=f"{PREPROCESS}/{{subject}}/status.json",
    log:
        "logs/preprocess/{subject}.log",
    benchmark:
        "benchmarks/preprocess/{subject}.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        split=split_param,
        settings=config["preprocess"],
        myocardium=lambda wc: config["label_schemes"][
            ROWS[wc.subject]["label_scheme"]
        ]["myocardium"],
    script:
        "../../scripts/preprocess.py"


rule dataset:
    input:
        paired=lambda wc: expand(
            f"{PREPROCESS}/{{subject}}/paired.npz", subject=DATASET_SUBJECTS[wc.split]
        ),
        status=lambda wc: statuses("preprocess", DATASET_SUBJECTS[wc.split]),
    output:
        directory("results/dataset/{split}"),
    log:
        "logs/dataset/{split}.log",
    benchmark:
        "benchmarks/dataset/{split}.tsv"
    wildcard_constraints:
        split="|".join(DATASET_SPLITS),
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        subjects=lambda wc: [
            {
                "subject": s,
                "site": ROWS[s]["site"],
                "label_scheme": ROWS[s]["label_scheme"],
            }
            for s in DATASET_SUBJECTS[wc.split]
        ],
    script:
        "../../scripts/dataset.py"


# Per-subject preprocessing is requested by the model and quantify stages; nothing extra here.
TARGETS["preprocess"] = lambda: []
