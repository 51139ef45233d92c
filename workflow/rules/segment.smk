# Stage: segment (cine2lge.segment, issue 10). 2D UNet segmentation of the cine crops (LV blood
# pool, myocardium, RV): training on the sheet's labelled subjects (rule train_segment), masks per
# subject with closed-ring post-processing and QC, Dice/HD95 on held-out labelled subjects. The
# masks replace expert labels in quantification for subjects without 'myo'.

SEGMENT = config["segment"]
SEGMENT_TRAINED = "results/segment/train/model.safetensors"
# A relative weights path is looked up in the working directory, then in the workflow's own
# directory (common.smk: workflow_file), like the diffusion model's.
SEGMENT_WEIGHTS = (
    SEGMENT_TRAINED
    if SEGMENT["weights"] == "train"
    else workflow_file(SEGMENT["weights"])
)


# Labelled subjects ('myo' in the sheet) of the training, validation and evaluation splits.
SEGMENT_TRAIN_SUBJECTS = [
    s for s in subjects_in(*SEGMENT["train_splits"]) if ROWS[s]["myo"]
]
SEGMENT_VAL_SUBJECTS = [
    s for s in subjects_in(*SEGMENT["val_splits"]) if ROWS[s]["myo"]
]
# SEGMENT_EVAL_SUBJECTS, SEGMENT_UNLABELLED and SEGMENT_SUBJECTS: common.smk (the report reads
# them too).


SEGMENT_SCHEMES = {
    s: config["label_schemes"][ROWS[s]["label_scheme"]] for s in SUBJECTS
}


rule train_segment:
    input:
        records=records("preprocess", SEGMENT_TRAIN_SUBJECTS + SEGMENT_VAL_SUBJECTS),
        init=init_weights_input(SEGMENT),
    output:
        weights=SEGMENT_TRAINED,
        sha256=f"{SEGMENT_TRAINED}.sha256",
        metrics="results/segment/train/metrics.tsv",
    log:
        "logs/segment/train.log",
    benchmark:
        "benchmarks/segment/train.tsv"
    conda:
        "../../envs/model.yaml"
    threads: SEGMENT["train"]["threads"]
    resources:
        gpu=1 if config["use_gpu"] else 0,
        mem_mb=lambda wc, attempt: SEGMENT["train"]["mem_mb"] * attempt,
        runtime=SEGMENT["train"]["runtime_min"],
    params:
        # Not an output: Snakemake must not delete it when a preempted job fails; a rerun resumes.
        checkpoints="results/segment/train/checkpoints",
        train_subjects=SEGMENT_TRAIN_SUBJECTS,
        val_subjects=SEGMENT_VAL_SUBJECTS,
        reads={"paired": "results/preprocess/{subject}/paired.npz"},
        schemes={
            s: SEGMENT_SCHEMES[s]
            for s in SEGMENT_TRAIN_SUBJECTS + SEGMENT_VAL_SUBJECTS
        },
        # What the weights depend on, not job resources (model.smk: NOT_PARAMS).
        section={
            "label_phase_fraction": SEGMENT["label_phase_fraction"],
            "net": SEGMENT["net"],
            "train": {
                k: v for k, v in SEGMENT["train"].items() if k not in NOT_PARAMS
            },
        },
        grid_size=config["preprocess"]["grid_size"],
        preprocess=config["preprocess"],
        use_gpu=config["use_gpu"],
    script:
        "../../scripts/segment_train.py"


# Masks per subject, one job per chunk of `subjects_per_job` subjects (cine2lge.chunks).
for _chunk, _members in chunks_of(SEGMENT_SUBJECTS).items():

    rule:
        name:
            f"segment_subject_{_chunk}"
        input:
            upstream=records("preprocess", _members),
            weights=SEGMENT_WEIGHTS,
            sha256=f"{SEGMENT_WEIGHTS}.sha256",
            token=stage_token("segment_subject"),
        output:
            **indexed(
                [
                    {
                        "masks": f"results/segment/{s}/masks.npz",
                        "qc": f"results/segment/{s}/qc.tsv",
                        "status": f"results/segment/{s}/status.json",
                    }
                    for s in _members
                ]
            ),
            record=chunk_record("segment", f"segment_subject_{_chunk}", _members),
        log:
            **indexed([{"log": f"logs/segment/{s}.log"} for s in _members]),
        benchmark:
            f"benchmarks/segment/{_chunk}.tsv"
        conda:
            "../../envs/model.yaml"
        threads: SEGMENT["predict"]["threads"]
        resources:
            mem_mb=lambda wc, attempt: SEGMENT["predict"]["mem_mb"] * attempt,
            runtime=5 + 2 * len(_members),
        params:
            subjects=_members,
            each={
                s: {
                    "split": ROWS[s]["split"],
                    "upstream": status_of("preprocess", s),
                }
                for s in _members
            },
            # Read by the job; the declared inputs are the records of the preprocess chunks.
            reads={"paired": "results/preprocess/{subject}/paired.npz"},
            phase_fraction=SEGMENT["label_phase_fraction"],
            postprocess=SEGMENT["postprocess"],
            batch_size=SEGMENT["predict"]["batch_size"],
            flip_tta=SEGMENT["predict"]["flip_tta"],
            preprocess=config["preprocess"],
        script:
            "../../scripts/segment_predict.py"

    exact_outputs(f"segment_subject_{_chunk}")


rule segment_qc_table:
    input:
        records=records("segment", SEGMENT_SUBJECTS),
    output:
        "results/segment/qc.tsv",
    log:
        "logs/segment/qc_table.log",
    benchmark:
        "benchmarks/segment/qc_table.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        subjects=SEGMENT_SUBJECTS,
        reads={"qc": "results/segment/{subject}/qc.tsv"},
    script:
        "../../scripts/segment_qc_table.py"


rule segment_evaluate:
    input:
        records=records("segment", SEGMENT_EVAL_SUBJECTS),
    output:
        table="results/segment/evaluation.tsv",
        summary="results/segment/evaluation_summary.tsv",
    log:
        "logs/segment/evaluate.log",
    benchmark:
        "benchmarks/segment/evaluate.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        subjects=SEGMENT_EVAL_SUBJECTS,
        reads={
            "masks": "results/segment/{subject}/masks.npz",
            "paired": "results/preprocess/{subject}/paired.npz",
            "geometry": "results/preprocess/{subject}/geometry.json",
        },
        schemes={s: SEGMENT_SCHEMES[s] for s in SEGMENT_EVAL_SUBJECTS},
        splits={s: ROWS[s]["split"] for s in SEGMENT_EVAL_SUBJECTS},
    script:
        "../../scripts/segment_evaluate.py"


TARGETS["segment"] = lambda: (
    ["results/segment/qc.tsv"] if SEGMENT_SUBJECTS else []
) + (
    ["results/segment/evaluation.tsv", "results/segment/evaluation_summary.tsv"]
    if SEGMENT_EVAL_SUBJECTS
    else []
)
