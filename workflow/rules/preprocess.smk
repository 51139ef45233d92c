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


PREPROCESS_CHUNKS = chunks_of(SUBJECTS)
# Upstream files a chunk job reads (cine2lge.chunks.subject_jobs: its declared inputs are the
# records of its subjects' ingest chunks, written after every other ingest output).
PREPROCESS_READS = {
    role: f"{INGEST}/{{subject}}/{role}.nii.gz"
    for role in ("cine", "lge", "labels", "t2")
}


for _chunk, _members in PREPROCESS_CHUNKS.items():

    rule:
        name:
            f"preprocess_subject_{_chunk}"
        input:
            upstream=records("ingest", _members),
            token=stage_token("preprocess_subject"),
        output:
            **indexed([preprocess_outputs(s) for s in _members]),
            record=chunk_record("preprocess", f"preprocess_subject_{_chunk}", _members),
        log:
            **indexed([{"log": f"logs/preprocess/{s}.log"} for s in _members]),
        benchmark:
            f"benchmarks/preprocess/{_chunk}.tsv"
        conda:
            "../../envs/imaging.yaml"
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=5 + 5 * len(_members),
        params:
            subjects=_members,
            each={
                s: {
                    "split": ROWS[s]["split"],
                    "myocardium": config["label_schemes"][ROWS[s]["label_scheme"]][
                        "myocardium"
                    ],
                    "reads": list(PREPROCESS_INPUTS[s]),
                    "upstream": status_of("ingest", s),
                }
                for s in _members
            },
            reads=PREPROCESS_READS,
            settings=config["preprocess"],
        script:
            "../../scripts/preprocess.py"

    exact_outputs(f"preprocess_subject_{_chunk}")


rule dataset:
    input:
        records=lambda wc: records("preprocess", DATASET_SUBJECTS[wc.split]),
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
        reads={"paired": f"{PREPROCESS}/{{subject}}/paired.npz"},
    script:
        "../../scripts/dataset.py"


# Per-subject preprocessing is requested by the model and quantify stages; nothing extra here.
TARGETS["preprocess"] = lambda: []
