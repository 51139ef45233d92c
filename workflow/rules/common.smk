# Shared setup: configuration and subject sheet, validated before any job runs.
import os
from pathlib import Path

from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.dag import DAG
from snakemake.exceptions import ChildIOException
from snakemake.utils import min_version, validate

from cine2lge.chunks import chunk_subjects, indexed
from cine2lge.dag import nested_output
from cine2lge.dicom.outputs import subjects_by_roles
from cine2lge.phantom.cohort import demo_sheet
from cine2lge.sheet import read_sheet, validate_sheet

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "../schemas/config.schema.yaml")

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
if config["subjects"] == "demo":
    _sheet = demo_sheet(config["demo"]["n_subjects"], t2=config["demo"]["t2"])
    _source = "demo"
else:
    _sheet, _source = read_sheet(config["subjects"]), config["subjects"]
SHEET = validate_sheet(
    _sheet, SCHEMAS / "subjects.schema.yaml", config["label_schemes"], source=_source
)
# Plain dicts make every per-subject lookup O(1), also for cohorts of 10,000 subjects.
ROWS = SHEET.to_dict("index")
SUBJECTS = list(ROWS)
DEMO_ROOT = "results/demo"


# Global constraints come before any rule: each one declared later is applied to every rule
# defined so far (output by output), which for the hundreds of chunk rules of a large cohort
# costs seconds. {chunk}: the inference and similarity chunks (model.smk, report.smk).
wildcard_constraints:
    subject="[A-Za-z0-9_-]+",
    chunk="chunk[0-9]+",


def subjects_in(*splits):
    """Subject ids of the given splits, in sheet order."""
    return [s for s, row in ROWS.items() if row["split"] in splits]


# Subjects of each stage, decided by the sheet and config alone (shared by the stage rule files
# and the report, which follows every subject's last stage).
MODEL_SPLITS = ("internal_test", "external_test", "predict")
MODEL_SUBJECTS = subjects_in(*MODEL_SPLITS)
SEGMENT_EVAL_SUBJECTS = [
    s for s in subjects_in(*config["segment"]["evaluate_splits"]) if ROWS[s]["myo"]
]
# Subjects whose quantification uses predicted masks (quantify.smk: PREDICTED_MASKS_OF).
PREDICTED_MASKS = config["segment"]["quantify_unlabelled"]
SEGMENT_UNLABELLED = (
    [s for s in SUBJECTS if not ROWS[s]["myo"]] if PREDICTED_MASKS else []
)
# The set is built once: a set per subject is quadratic in the cohort size.
_SEGMENTED = set(SEGMENT_EVAL_SUBJECTS) | set(SEGMENT_UNLABELLED)
SEGMENT_SUBJECTS = [s for s in SUBJECTS if s in _SEGMENTED]
# Subjects with myocardium labels (or predicted masks) in the quantify splits that have something
# to measure: a real LGE, or model outputs (model splits).
QUANTIFY_SUBJECTS = [
    s
    for s in subjects_in(*config["quantify"]["splits"])
    if (ROWS[s]["myo"] or PREDICTED_MASKS)
    and (ROWS[s]["lge"] or ROWS[s]["split"] in config["quantify"]["model_splits"])
]


# Per-subject stages run in chunks of `subjects_per_job` subjects, one job per chunk
# (cine2lge.chunks): a chunk rule per chunk and stage, named <stage rule>_<chunk>, whose outputs
# are every subject's files (same paths as one job per subject). Chunks are taken in sorted
# subject order, per stage (and per ingest role set).
SUBJECTS_PER_JOB = config["subjects_per_job"]


def chunks_of(subjects, prefix="chunk"):
    """{chunk name: subjects}: `subjects_per_job` subjects per chunk, in sorted order."""
    return chunk_subjects(subjects, SUBJECTS_PER_JOB, prefix)


# Each chunked stage keeps a rule under the stage's old rule name whose output (a token file) is
# an input of every chunk of the stage, so `--forcerun quantify_lesions` still reruns the stage
# (the chunks of the requested targets) and what depends on it. The token's mtime is the epoch:
# rewritten for one subject's rerun, it never makes the stage's other chunks out of date.
STAGES_ROOT = "results/.stages"


def stage_token(stage_rule):
    return f"{STAGES_ROOT}/{stage_rule}"


# One output of each chunk job, requested by `all`: the job writes all of its subjects' outputs,
# and Snakemake reruns a job whose outputs are incomplete, so one target per job is enough and
# keeps the DAG small.
CHUNK_TARGETS = []


def exact_outputs(name):
    """Register chunk rule `name` (CHUNK_TARGETS) and let it answer "do you produce this
    file?" from a set: Snakemake 9 matches a rule's outputs one by one (Rule.is_producer,
    Rule.get_wildcards, once per file looked up), which for rules with hundreds of fixed outputs
    makes the DAG build quadratic in the chunk size.
    """
    rule_ = getattr(rules, name).rule
    CHUNK_TARGETS.append(str(rule_.output[0]))
    if rule_.has_wildcards():
        return
    products = frozenset(str(path) for path in rule_.products())
    rule_.is_producer = lambda path: str(path) in products
    # Likewise the wildcards of a requested file (none here), matched output by output.
    scan = rule_.get_wildcards

    def get_wildcards(requested_output, wildcards_dict=None):
        if requested_output is not None and str(requested_output) in products:
            return {}
        return scan(requested_output, wildcards_dict)

    rule_.get_wildcards = get_wildcards


def check_directory_outputs(dag):
    """Snakemake 9's DAG.check_directory_outputs (no output inside another job's output) on
    strings instead of pathlib (cine2lge.dag): the same check, ~9 s CPU less of the DAG build of
    10,000 subjects."""
    found = nested_output(
        ((f, job) for job in dag.jobs for f in job.output), os.getcwd()
    )
    if found is not None:
        (parent, parent_job), (child, child_job) = found
        raise ChildIOException(
            parent=(Path("/", *parent), parent_job),
            child=(Path("/", *child), child_job),
        )


if SNAKEMAKE_VERSION.startswith("9."):
    DAG.check_directory_outputs = check_directory_outputs


def chunked(subjects, size):
    """{"chunk0000": first `size` subjects, ...}: fixed by order, so subjects added at the end
    keep earlier chunks (and their outputs) valid."""
    return chunk_subjects(subjects, size, sort=False)


# Expected data problems exclude a subject instead of failing its job (cine2lge.exclusion): each
# per-subject rule writes results/<stage>/<subject>/status.json, reads its upstream statuses
# (params each[subject]["upstream"]) and passes an exclusion on; cohort rules read statuses (from
# chunk records, below) and keep the analysed.
def status_of(stage, subject):
    """Status record of one subject's stage (ingest, preprocess, segment, model, quantify)."""
    return f"results/{stage}/{subject}/status.json"


# Each chunk job of these stages also writes its chunk's record, results/chunks/<chunk rule>.json
# (cine2lge.chunks.write_record): its subjects' status records, written after all of their
# outputs. Cohort rules take the records of their subjects' chunks as input, one file per chunk
# instead of several per subject (the DAG of large cohorts builds faster), and read the
# per-subject files from path patterns (params.reads; cine2lge.chunks.analysed_reads).
CHUNK_RECORDS = "results/chunks"


def stage_chunks(stage_rule, subjects):
    """{<stage rule>_chunkNNNN, the name of a chunk rule: its subjects} of a chunked stage."""
    return {f"{stage_rule}_{c}": members for c, members in chunks_of(subjects).items()}


# {stage: {chunk rule: subjects}} of the chunked stages with status records, decided by the sheet
# and config alone: here, not in the stage files, so that a workflow of the report rules alone
# knows the records too. The stage files define these chunk rules (chunk_record checks).
STAGE_CHUNKS = {
    "ingest": {
        name: members
        for roles, role_subjects in subjects_by_roles(ROWS).items()
        for name, members in stage_chunks(
            "ingest_" + "_".join(roles), role_subjects
        ).items()
    },
    "preprocess": stage_chunks("preprocess_subject", SUBJECTS),
    "segment": stage_chunks("segment_subject", SEGMENT_SUBJECTS),
    "model": stage_chunks("predict_subject", MODEL_SUBJECTS),
    "quantify": stage_chunks("quantify_lesions", QUANTIFY_SUBJECTS),
}
# {stage: {subject: the record of its chunk}}
RECORD_OF = {
    stage: {
        s: f"{CHUNK_RECORDS}/{name}.json"
        for name, members in chunks.items()
        for s in members
    }
    for stage, chunks in STAGE_CHUNKS.items()
}


def chunk_record(stage, chunk_rule, subjects):
    """The record (output `record`) of chunk rule `chunk_rule`, a chunk of `subjects` of stage
    `stage`: RECORD_OF's."""
    path = f"{CHUNK_RECORDS}/{chunk_rule}.json"
    if any(RECORD_OF[stage][s] != path for s in subjects):
        raise ValueError(
            f"{chunk_rule}: its subjects' records differ from RECORD_OF[{stage!r}]"
        )
    return path


def records(stage, subjects):
    """The records of the chunks of `stage` that hold `subjects` (each once)."""
    of = RECORD_OF[stage]
    return list(dict.fromkeys(of[s] for s in subjects))


def statuses_of_subject(subject, stages):
    return [status_of(stage, subject) for stage in stages]


def quantify_upstream(subject):
    """The stages whose outputs quantify_lesions reads for `subject` (QUANTIFY and
    PREDICTED_MASKS_OF: quantify.smk)."""
    stages = ["preprocess"]
    if ROWS[subject]["split"] in QUANTIFY["model_splits"]:
        stages.append("model")
    if PREDICTED_MASKS_OF[subject]:
        stages.append("segment")
    return stages


# A chunk rule's input `upstream`: the records of the upstream chunks of its subjects (written
# after all of their outputs); each subject's upstream status files are its params
# each[subject]["upstream"] (cine2lge.chunks.subject_jobs).
def upstream_records(subjects, stages_of):
    """The records of the chunks of stages_of(subject) that hold each of `subjects` (once)."""
    return list(
        dict.fromkeys(RECORD_OF[st][s] for s in subjects for st in stages_of(s))
    )


def final_records(subjects, *stages):
    """The records a cohort rule takes as input when it reads files of `stages` for
    `subjects`, each once: those of the chunks of these stages and of each subject's last stage
    (FINAL_STAGE in report.smk), whose status carries any exclusion of an earlier stage
    (cine2lge.chunks.final_statuses)."""
    paths = [RECORD_OF[stage][s] for stage in stages for s in subjects]
    paths += [RECORD_OF[FINAL_STAGE[s]][s] for s in subjects]
    return list(dict.fromkeys(paths))


def split_param(wc):
    """params.split of the per-subject rules (recorded with an exclusion)."""
    return ROWS[wc.subject]["split"]


def is_demo(subject):
    """True when the subject's study is generated by rule demo_subject."""
    return ROWS[subject]["cine"] == f"{DEMO_ROOT}/{subject}/dicom"


# Each stage's rule file registers a function returning its final outputs; rule all collects them.
TARGETS = {}


def all_targets():
    """Final outputs of the pipeline (for `all`): the stages' and one per chunk job."""
    stages = [path for stage_targets in TARGETS.values() for path in stage_targets()]
    return stages + CHUNK_TARGETS


def workflow_file(path):
    """A relative path not in the working directory is taken from the workflow directory."""
    if Path(path).is_absolute() or Path(path).exists():
        return path
    return str(Path(workflow.basedir) / path)


def init_weights_input(section):
    """Input files (weights, .sha256) of a training rule's optional `train.init_weights`."""
    path = section["train"].get("init_weights")
    return [workflow_file(path), f"{workflow_file(path)}.sha256"] if path else []


# Per-subject files of the chunked stages (used by the stage rule files).
# (demo.smk)
def demo_outputs(subject):
    truth = f"{DEMO_ROOT}/{subject}/truth"
    return {
        "dicom": directory(f"{DEMO_ROOT}/{subject}/dicom"),
        "labels": f"{truth}/labels.nii.gz",
        "cine_labels": f"{truth}/cine_labels.nii.gz",
        "truth": f"{truth}/truth.json",
    }


# (preprocess.smk)
def preprocess_outputs(subject):
    root = f"{PREPROCESS}/{subject}"
    names = ("paired.npz", "geometry.json", "pairs.tsv", "qc.png", "status.json")
    return {name.split(".")[0]: f"{root}/{name}" for name in names}


# (model.smk)
# Per-subject outputs on the cine grid, one job per chunk of `subjects_per_job` model subjects
# (cine2lge.chunks; independent of the inference chunks, MODEL_CHUNKS).
def predict_subject_outputs(subject):
    root = f"results/model/{subject}"
    return {
        "prediction": f"{root}/prediction.npz",
        "lgelike": f"{root}/lgelike.nii.gz",
        "enhancement_prob": f"{root}/enhancement_prob.nii.gz",
        "slices": f"{root}/slice_probability.tsv",
        "dicom": directory(f"{root}/lgelike_dicom"),
        "status": f"{root}/status.json",
    }


# (quantify.smk)
def quantify_reads(subject):
    """The QUANTIFY_READS names of one subject (prediction, segmentation only when used)."""
    names = ["paired", "geometry"]
    if ROWS[subject]["split"] in QUANTIFY["model_splits"]:
        names.append("prediction")
    if PREDICTED_MASKS_OF[subject]:
        names.append("segmentation")
    return names


# (quantify.smk)
def quantify_outputs(subject):
    root = f"results/quantify/{subject}"
    return {
        "table": f"{root}/lesions.tsv",
        "status": f"{root}/status.json",
        "bullseye": report(
            f"{root}/bullseye.png",
            caption="../report/quantify_bullseye.rst",
            category="Lesions per subject",
            labels={"subject": subject},
        ),
    }


def lesion_labels(subject):
    """Label values of a subject's lesion classes (hyperintense, intermediate) in its scheme."""
    scheme = config["label_schemes"][ROWS[subject].get("label_scheme") or "demo"]
    return [*scheme.get("hyperintense", []), *scheme.get("intermediate", [])]
