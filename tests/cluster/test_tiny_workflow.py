"""The site profile on a real SLURM cluster, with a test-only workflow (tests/cluster/tiny):
grouped per-subject jobs go through sbatch as one job, a `gpu=1` rule gets the (fake) GPU gres,
a job killed by scancel mid-run is retried, and --forcerun reruns one rule and its dependants."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import TINY_WORKFLOW
from .helpers import (
    CancelFirstRunningJob,
    all_slurm_job_ids,
    run_snakemake,
    scontrol_job,
    slurm_jobs_by_log_dir,
)

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

SUBJECTS = ["s1", "s2"]
CHAIN = ["step_a", "step_b", "step_c"]
GROUP_LOG_DIR = "group_subject_" + "_".join(CHAIN)
# Both subjects' chains in one SLURM job, like profiles/default groups the pipeline's subjects.
GROUPING = ["--group-components", f"subject={len(SUBJECTS)}"]


@dataclass
class TinyRun:
    workdir: Path
    output: str
    cancelled_job: int | None


@pytest.fixture(scope="module")
def tiny_run(slurm_env, tmp_path_factory) -> TinyRun:
    """One cluster run, all jobs at once to keep SLURM polling rounds few: the chain for two
    subjects, the GPU probe, and rule slow, whose first SLURM job is scancel-ed while running."""
    workdir = tmp_path_factory.mktemp("cluster") / "tiny"
    shutil.copytree(TINY_WORKFLOW, workdir)
    watcher = CancelFirstRunningJob(all_slurm_job_ids(), comment_prefix="rule_slow")
    watcher.start()
    try:
        run = run_snakemake(
            ["all", "gpu_probe.txt", "slow.txt", "--profile", "slurm", *GROUPING]
            + ["--cores", "1", "--config", "slow_s=8"],
            workdir,
            slurm_env,
            240,
        )
    finally:
        watcher.stop()
    return TinyRun(workdir, run.output, watcher.cancelled)


def test_grouped_subject_jobs_run_as_one_sbatch_job(tiny_run):
    jobs = slurm_jobs_by_log_dir(tiny_run.workdir)
    # 2 subjects x 3 rules = 6 rule jobs, submitted as a single grouped SLURM job.
    assert set(jobs) == {GROUP_LOG_DIR, "rule_gpu_probe", "rule_slow"}
    assert len(jobs[GROUP_LOG_DIR]) == 1
    group_job = scontrol_job(jobs[GROUP_LOG_DIR][0])
    assert group_job["JobState"] == "COMPLETED"
    assert group_job["Comment"] == "rule_subject_" + "_".join(CHAIN)
    assert "gpu" not in group_job.get("TresPerJob", "")
    for subject in SUBJECTS:
        # step_b doubles the line of step_a, step_c counts lines.
        assert (tiny_run.workdir / "out" / subject / "c.txt").read_text().strip() == "2"


def test_gpu_rule_is_granted_the_gpu_gres(tiny_run):
    (job_id,) = slurm_jobs_by_log_dir(tiny_run.workdir)["rule_gpu_probe"]
    job = scontrol_job(job_id)
    assert job["JobState"] == "COMPLETED"
    assert job["TresPerJob"] == "gres:gpu:1"
    # What the job itself saw: SLURM's GPU allocation (torch still finds no real GPU here).
    probe = dict(f.split("=", 1) for f in (tiny_run.workdir / "gpu_probe.txt").read_text().split())
    assert probe == {"job": str(job_id), "gpus_on_node": "1", "cuda": "0"}


def test_forcerun_reruns_only_the_rule_and_its_dependants(tiny_run, slurm_env):
    workdir = tiny_run.workdir
    outputs = {
        (rule, s): workdir / "out" / s / f"{rule[-1]}.txt" for rule in CHAIN for s in SUBJECTS
    }
    before = {key: path.stat().st_mtime_ns for key, path in outputs.items()}
    jobs_before = slurm_jobs_by_log_dir(workdir)[GROUP_LOG_DIR]

    dry = run_snakemake(
        ["all", "--profile", "slurm", "-n", "--forcerun", "step_b", "--quiet", "rules"],
        workdir,
        slurm_env,
        120,
    )
    assert "step_a" not in dry.output
    assert "step_b" in dry.output and "step_c" in dry.output

    time.sleep(1.1)  # distinct mtimes on coarse-grained filesystems
    run_snakemake(
        ["all", "--profile", "slurm", *GROUPING, "--cores", "1", "--forcerun", "step_b"],
        workdir,
        slurm_env,
        240,
    )
    after = {key: path.stat().st_mtime_ns for key, path in outputs.items()}
    for (rule, subject), mtime in after.items():
        if rule == "step_a":
            assert mtime == before[rule, subject], f"{rule} {subject} was rerun"
        else:
            assert mtime > before[rule, subject], f"{rule} {subject} was not rerun"
    # The rerun went through SLURM again: one more grouped job (step_b + step_c of both subjects).
    jobs_after = slurm_jobs_by_log_dir(workdir)
    assert len(jobs_after["group_subject_step_b_step_c"]) == 1
    assert slurm_jobs_by_log_dir(workdir)[GROUP_LOG_DIR] == jobs_before


def test_job_cancelled_mid_run_is_retried(tiny_run):
    assert tiny_run.cancelled_job is not None, "no running job of rule slow was seen to cancel"
    assert scontrol_job(tiny_run.cancelled_job)["JobState"] == "CANCELLED"
    assert "CANCELLED" in tiny_run.output and "Trying to restart job" in tiny_run.output

    cancelled, retried = slurm_jobs_by_log_dir(tiny_run.workdir)["rule_slow"]
    assert cancelled == tiny_run.cancelled_job
    assert scontrol_job(retried)["JobState"] == "COMPLETED"
    # The output is complete and comes from the second attempt, the retried SLURM job.
    slow = (tiny_run.workdir / "slow.txt").read_text().split()
    assert slow == ["attempt=2", f"job={retried}"]
