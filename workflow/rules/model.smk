# Stage: model (see docs/architecture.md). Conditional diffusion model: training on the dataset
# splits (rule train_model), inference in chunks of subjects (one model load per job, GPU when
# use_gpu) and per-subject outputs on the original cine grid (CPU, chunks of subjects per job).

MODEL = config["model"]
# MODEL_SPLITS, MODEL_SUBJECTS: common.smk.
TRAINED_WEIGHTS = "results/model/train/model.safetensors"

# A relative weights path is looked up in the working directory, then in the workflow's own
# directory (common.smk: workflow_file).
MODEL_WEIGHTS = (
    TRAINED_WEIGHTS if MODEL["weights"] == "train" else workflow_file(MODEL["weights"])
)
# Optional discriminative cine -> scar network that makes the enhancement probability instead of
# the generator (model.probability_weights; the LGE-like image still comes from the generator).
PROBABILITY_WEIGHTS = MODEL.get("probability_weights")
PROBABILITY_INPUT = (
    [workflow_file(PROBABILITY_WEIGHTS), f"{workflow_file(PROBABILITY_WEIGHTS)}.sha256"]
    if PROBABILITY_WEIGHTS
    else []
)
MODEL_CHUNKS = chunked(MODEL_SUBJECTS, MODEL["subjects_per_chunk"])
CHUNK_OF = {s: chunk for chunk, members in MODEL_CHUNKS.items() for s in members}


# Job resources (and the init_weights path, an input) are no params: a params change reruns the
# job, and a memory request must not retrain. The trainers fingerprint what their weights depend
# on (cine2lge.training), so a rerun with the same data and settings only re-exports.
NOT_PARAMS = ("threads", "mem_mb", "runtime_min", "init_weights")


rule train_model:
    input:
        train="results/dataset/train",
        val="results/dataset/val",
        init=init_weights_input(MODEL),
    output:
        weights=TRAINED_WEIGHTS,
        sha256=f"{TRAINED_WEIGHTS}.sha256",
        metrics="results/model/train/metrics.tsv",
    log:
        "logs/model/train.log",
    benchmark:
        "benchmarks/model/train.tsv"
    conda:
        "../../envs/model.yaml"
    threads: MODEL["train"]["threads"]
    resources:
        gpu=1 if config["use_gpu"] else 0,
        mem_mb=lambda wc, attempt: MODEL["train"]["mem_mb"] * attempt,
        runtime=MODEL["train"]["runtime_min"],
    params:
        # Not an output: Snakemake must not delete it when a preempted job fails; a rerun resumes.
        checkpoints="results/model/train/checkpoints",
        model={
            **{
                k: MODEL[k]
                for k in ("enhancement_classes", "label_scheme", "net", "diffusion")
            },
            "extra_conditions": MODEL.get("extra_conditions", []),
            "train": {k: v for k, v in MODEL["train"].items() if k not in NOT_PARAMS},
        },
        label_schemes=config["label_schemes"],
        preprocess=config["preprocess"],
    script:
        "../../scripts/train_model.py"


rule predict_chunk:
    input:
        weights=MODEL_WEIGHTS,
        sha256=f"{MODEL_WEIGHTS}.sha256",
        probability=PROBABILITY_INPUT,
        records=lambda wc: records("preprocess", MODEL_CHUNKS[wc.chunk]),
    output:
        "results/model/chunks/{chunk}.npz",
    log:
        "logs/model/{chunk}.log",
    benchmark:
        "benchmarks/model/{chunk}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: MODEL["predict"]["threads"]
    resources:
        gpu=1 if config["use_gpu"] else 0,
        mem_mb=lambda wc, attempt: MODEL["predict"]["mem_mb"] * attempt,
        runtime=MODEL["predict"]["runtime_min"],
    params:
        subjects=lambda wc: MODEL_CHUNKS[wc.chunk],
        reads={"paired": "results/preprocess/{subject}/paired.npz"},
        model={
            "enhancement_classes": MODEL["enhancement_classes"],
            "extra_conditions": MODEL.get("extra_conditions", []),
            "predict": {
                k: v for k, v in MODEL["predict"].items() if k not in NOT_PARAMS
            },
        },
        preprocess=config["preprocess"],
    script:
        "../../scripts/predict_chunk.py"


for _chunk, _members in chunks_of(MODEL_SUBJECTS).items():

    rule:
        name:
            f"predict_subject_{_chunk}"
        input:
            upstream=records("preprocess", _members),
            inference=sorted(
                {f"results/model/chunks/{CHUNK_OF[s]}.npz" for s in _members}
            ),
            token=stage_token("predict_subject"),
        output:
            **indexed([predict_subject_outputs(s) for s in _members]),
            record=chunk_record("model", f"predict_subject_{_chunk}", _members),
        log:
            **indexed([{"log": f"logs/model/{s}.log"} for s in _members]),
        benchmark:
            f"benchmarks/model/subjects_{_chunk}.tsv"
        conda:
            "../../envs/model.yaml"
        resources:
            mem_mb=lambda wc, attempt: 1500 * attempt,
            runtime=5 + 2 * len(_members),
        params:
            subjects=_members,
            each={
                s: {
                    "split": ROWS[s]["split"],
                    "inference": f"results/model/chunks/{CHUNK_OF[s]}.npz",
                    "upstream": status_of("preprocess", s),
                }
                for s in _members
            },
            # Read by the job; the declared inputs are the records of the preprocess chunks (and
            # the inference chunks).
            reads={
                "paired": "results/preprocess/{subject}/paired.npz",
                "geometry": "results/preprocess/{subject}/geometry.json",
                "cine": "results/ingest/{subject}/cine.nii.gz",
            },
        script:
            "../../scripts/predict_subject.py"

    exact_outputs(f"predict_subject_{_chunk}")


# Every subject's outputs are targets through its chunk job (common.smk: CHUNK_TARGETS).
TARGETS["model"] = lambda: []
