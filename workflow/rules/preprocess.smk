# Stage: preprocess (see docs/architecture.md, docs/preprocess.md): LV-centred crops of the cine
# (and LGE, labels), paired by slice position; training splits assembled into memory-mapped arrays.
PREPROCESS = "results/preprocess"
DATASET_SPLITS = ("train", "val")


def preprocess_inputs(wildcards):
    """Ingest volumes of a subject: LGE only when its sheet row has `lge`, labels only with `myo`."""
    row = ROWS[wildcards.subject]
    inputs = {"cine": f"results/ingest/{wildcards.subject}/cine.nii.gz"}
    if row["lge"]:
        inputs["lge"] = f"results/ingest/{wildcards.subject}/lge.nii.gz"
    if row["myo"]:
        inputs["labels"] = f"results/ingest/{wildcards.subject}/labels.nii.gz"
    return inputs


def myocardium_labels(wildcards):
    """Integer labels of the myocardium in the subject's label scheme."""
    scheme = ROWS[wildcards.subject]["label_scheme"]
    return config["label_schemes"][scheme]["myocardium"]


def dataset_subjects(split):
    """Subjects of a split that can give paired slices (those with LGE), in sheet order."""
    return [s for s in subjects_in(split) if ROWS[s]["lge"]]


rule preprocess_subject:
    input:
        unpack(preprocess_inputs),
    output:
        paired=f"{PREPROCESS}/{{subject}}/paired.npz",
        geometry=f"{PREPROCESS}/{{subject}}/geometry.json",
        pairs=f"{PREPROCESS}/{{subject}}/pairs.tsv",
        qc=f"{PREPROCESS}/{{subject}}/qc.png",
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
        settings=config["preprocess"],
        myocardium=myocardium_labels,
    script:
        "../../scripts/preprocess.py"


rule dataset:
    input:
        lambda wc: expand(
            f"{PREPROCESS}/{{subject}}/paired.npz", subject=dataset_subjects(wc.split)
        ),
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
            for s in dataset_subjects(wc.split)
        ],
    script:
        "../../scripts/dataset.py"


# Per-subject preprocessing is requested by the model and quantify stages; nothing extra here.
TARGETS["preprocess"] = lambda: []
