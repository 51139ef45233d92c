"""The pipeline itself through `snakemake --profile slurm` on a real SLURM cluster, on the tiny demo
cohort of tests/cluster/cohort.yaml: jobs go through sbatch (chunks of subjects), the GPU rules
are submitted with the GPU request, the results equal those of a local run, a job scancel-ed
mid-run is retried, and --forcerun of one stage selects that stage and its dependants only.

The default target is the cohort's lesion table: it needs every per-subject stage and the GPU
rules (demo, ingest, preprocess, predict_chunk, quantify) while leaving out the cohort-level
report rules, each of which would be one more SLURM job of 15-25 s (the report is covered by the
local whole-pipeline test). CINE2LGE_CLUSTER_TARGETS="file ..." replaces it (e.g. "all") and
CINE2LGE_CLUSTER_COHORT=path.yaml replaces the cohort config."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .helpers import (
    CancelFirstRunningJob,
    all_slurm_job_ids,
    compare_result_trees,
    run_snakemake,
    scontrol_job,
    slurm_ids_by_snakemake_job,
    slurm_jobs_by_log_dir,
)

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

REPO = Path(__file__).resolve().parents[2]
COHORT = Path(os.environ.get("CINE2LGE_CLUSTER_COHORT", Path(__file__).parent / "cohort.yaml"))
N_SUBJECTS = yaml.safe_load(COHORT.read_text())["demo"]["n_subjects"]
TARGETS = os.environ.get("CINE2LGE_CLUSTER_TARGETS", "results/tables/lesions.tsv").split()
GPU_RULES = ["train_model", "predict_chunk"]
TIMEOUT_S = 900  # per snakemake run; the cluster run polls job states every 5-45 s


@dataclass
class PipelineRuns:
    local: Path
    cluster: Path
    cluster_output: str
    cancelled_job: int | None


def workflow_args(workdir: Path) -> list[str]:
    """Targets first: --configfile and --config take every following word."""
    return [
        *TARGETS,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(COHORT),
    ]


def new_workdir(root: Path) -> Path:
    """A working directory like a checkout's: config/ copied, resources/ (weights) linked."""
    root.mkdir()
    shutil.copytree(REPO / "config", root / "config")
    (root / "resources").symlink_to(REPO / "resources")
    return root


@pytest.fixture(scope="module")
def pipeline(slurm_env, tmp_path_factory) -> PipelineRuns:
    base = tmp_path_factory.mktemp("pipeline")
    local = new_workdir(base / "local")
    cluster = new_workdir(base / "cluster")
    run_snakemake(
        [*workflow_args(local), "--cores", "2", "--config", "use_gpu=False"],
        local,
        slurm_env,
        TIMEOUT_S,
    )
    # Kill the cluster run's first per-subject job while it runs: it must be retried (profile
    # `retries`). The comment prefix keeps the watcher off other tests' SLURM jobs.
    watcher = CancelFirstRunningJob(all_slurm_job_ids(), comment_prefix="rule_demo_subject_chunk")
    watcher.start()
    try:
        run = run_snakemake(
            [*workflow_args(cluster), "--profile", "slurm"], cluster, slurm_env, TIMEOUT_S
        )
    finally:
        watcher.stop()
    return PipelineRuns(local, cluster, run.output, watcher.cancelled)


def test_jobs_went_through_sbatch_chunked_per_subject(pipeline):
    jobs = slurm_jobs_by_log_dir(pipeline.cluster)
    assert jobs, "no SLURM job logs in .snakemake/slurm_logs"
    # The per-subject stages run chunks of subjects (config subjects_per_job) per SLURM job:
    # the demo studies of all subjects come from chunk jobs, fewer than the subjects.
    chunked = {folder: ids for folder, ids in jobs.items() if "_chunk" in folder}
    assert any(folder.startswith("rule_demo_subject_chunk") for folder in chunked), sorted(jobs)
    assert "rule_demo_subject" not in jobs
    n_slurm_jobs = sum(len(ids) for ids in jobs.values())
    rule_jobs = len(
        re.findall(r"^Finished jobid: \d+ \(Rule: (?!all\))", pipeline.cluster_output, re.M)
    )
    assert n_slurm_jobs < rule_jobs, f"{n_slurm_jobs} SLURM jobs for {rule_jobs} rule jobs"
    # Every job but the one the test cancelled succeeded at once (no flaky failures).
    for ids in jobs.values():
        for job_id in ids:
            if job_id != pipeline.cancelled_job:
                assert scontrol_job(job_id)["JobState"] == "COMPLETED", f"SLURM job {job_id}"


def test_results_equal_those_of_a_local_run(pipeline):
    assert (pipeline.cluster / "results").is_dir()
    assert compare_result_trees(pipeline.local / "results", pipeline.cluster / "results") == []


def test_job_cancelled_mid_run_was_retried(pipeline):
    assert pipeline.cancelled_job is not None, "no running job was seen to cancel"
    assert scontrol_job(pipeline.cancelled_job)["JobState"] == "CANCELLED"
    submissions = slurm_ids_by_snakemake_job(pipeline.cluster_output)
    (slurm_ids,) = [ids for ids in submissions.values() if pipeline.cancelled_job in ids]
    retried = [i for i in slurm_ids if i > pipeline.cancelled_job]
    assert retried, f"the cancelled SLURM job {pipeline.cancelled_job} was not resubmitted"
    assert scontrol_job(retried[-1])["JobState"] == "COMPLETED"


@pytest.mark.parametrize("rule", GPU_RULES)
def test_gpu_rules_were_submitted_with_the_gpu_request(pipeline, slurm_env, rule):
    jobs = slurm_jobs_by_log_dir(pipeline.cluster).get(f"rule_{rule}", [])
    if not jobs:
        listed = run_snakemake(
            [*workflow_args(pipeline.cluster), "--list-rules"], pipeline.cluster, slurm_env, 120
        )
        if rule not in listed.output.split():
            pytest.skip(f"rule {rule} is not in the workflow yet")
        if TARGETS != ["all"]:
            pytest.skip(f"rule {rule} is not needed for the targets {TARGETS} (shipped weights)")
        pytest.fail(f"rule {rule} is in the workflow but no SLURM job of it ran (use_gpu: true)")
    for job_id in jobs:
        assert scontrol_job(job_id).get("TresPerJob") == "gres:gpu:1", f"{rule} job {job_id}"


def rule_graph(workdir: Path, env: dict[str, str]) -> dict[str, set[str]]:
    """{rule: rules that consume its outputs} from `snakemake --rulegraph`."""
    dot = run_snakemake([*workflow_args(workdir), "--rulegraph"], workdir, env, 120).output
    names = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, re.M))
    children: dict[str, set[str]] = {name: set() for name in names.values()}
    for parent, child in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M):
        children[names[parent]].add(names[child])
    return children


def descendants(graph: dict[str, set[str]], rule: str) -> set[str]:
    found, todo = set(), [rule]
    while todo:
        for child in graph[todo.pop()] - found:
            found.add(child)
            todo.append(child)
    return found


def test_forcerun_selects_one_stage_and_its_dependants_only(pipeline, slurm_env):
    graph = rule_graph(pipeline.cluster, slurm_env)
    ancestors = {rule: {r for r in graph if rule in descendants(graph, r)} for rule in graph}
    # A stage in the middle of the pipeline: it has upstream rules that must not rerun and
    # downstream rules that must.
    rule = max(
        (r for r in graph if r != "all"),
        key=lambda r: (min(len(ancestors[r]), len(descendants(graph, r) - {"all"})), r),
    )
    dry = run_snakemake(
        [*workflow_args(pipeline.cluster), "--profile", "slurm", "-n", "--forcerun", rule],
        pipeline.cluster,
        slurm_env,
        120,
    )
    stats = dry.output.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    selected = set(re.findall(r"^(\w+)\s+\d+$", stats, re.M)) - {"all", "total"}
    assert selected == ({rule} | descendants(graph, rule)) - {"all"}
