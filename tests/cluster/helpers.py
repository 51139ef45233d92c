"""Helpers for the cluster tests: run Snakemake with a timeout, read SLURM job ids from the
plugin's logs, query finished jobs with scontrol, compare two result trees."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# A slurm log is .snakemake/slurm_logs/<rule_NAME | group_NAME_rules...>/<jobid>.log
SLURM_LOG = re.compile(r"^(?P<kind>rule|group)_(?P<name>.+)$")


def cluster_state() -> tuple[bool, str]:
    """(usable, reason): whether a SLURM node answers and can run jobs."""
    if shutil.which("sinfo") is None:
        return False, "sinfo not found: SLURM is not installed (start it: bash .ci/slurm.sh)"
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return False, "sinfo did not answer in 15 s: slurmctld is not running"
    states = result.stdout.split()
    if result.returncode != 0 or not states:
        return False, f"SLURM cluster not up (sinfo: {result.stderr.strip() or 'no nodes'})"
    if not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        return False, f"no usable SLURM node (states: {', '.join(states)})"
    return True, ""


@dataclass
class SnakemakeRun:
    returncode: int
    output: str
    seconds: float


def run_snakemake(
    args: list[str], cwd: Path, env: dict[str, str], timeout_s: int, check: bool = True
) -> SnakemakeRun:
    """Run snakemake under `timeout -k 10` (the slurm plugin can poll forever when status queries
    fail) and return its combined output; with `check`, fail the test showing the output's end."""
    command = ["timeout", "-k", "10", str(timeout_s), str(BIN / "snakemake"), *args]
    start = time.monotonic()
    result = subprocess.run(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run = SnakemakeRun(result.returncode, result.stdout, time.monotonic() - start)
    if check and run.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} exited {run.returncode} after {run.seconds:.0f} s "
            f"(124 = timeout) in {cwd}:\n{run.output[-6000:]}"
        )
    return run


def slurm_jobs_by_log_dir(workdir: Path) -> dict[str, list[int]]:
    """SLURM job ids of a workdir's runs, from the plugin's logs, keyed by log folder
    (`rule_<rule>` or `group_<group>_<rules>`)."""
    logs = workdir / ".snakemake" / "slurm_logs"
    jobs: dict[str, list[int]] = {}
    for log in sorted(logs.glob("*/*.log")):
        if SLURM_LOG.match(log.parent.name) and log.stem.isdigit():
            jobs.setdefault(log.parent.name, []).append(int(log.stem))
    return {folder: sorted(ids) for folder, ids in jobs.items()}


def scontrol_job(job_id: int) -> dict[str, str]:
    """`scontrol show job` fields of a (recently finished) job; MinJobAge=600 keeps them."""
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True, timeout=15
    )
    assert result.returncode == 0, f"scontrol show job {job_id}: {result.stderr}"
    return dict(field.split("=", 1) for field in result.stdout.split() if "=" in field)


def all_slurm_job_ids() -> set[int]:
    """Ids of every job squeue still knows (finished ones stay MinJobAge seconds)."""
    result = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%i"], capture_output=True, text=True, timeout=15
    )
    return {int(i) for i in result.stdout.split() if i.isdigit()}


class CancelFirstRunningJob(threading.Thread):
    """Watch squeue and `scancel` the first job, not in `known_ids`, that has been RUNNING for
    `running_s` seconds: a job killed mid-run, as by a pre-empting scheduler or a user."""

    def __init__(self, known_ids: set[int], comment_prefix: str = "", running_s: float = 1.0):
        super().__init__(daemon=True)
        self.known_ids = known_ids
        self.comment_prefix = comment_prefix
        self.running_s = running_s
        self.cancelled: int | None = None
        self.cancelled_comment = ""
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    def run(self) -> None:
        first_seen: dict[int, float] = {}
        while not self._stop_event.wait(0.25):
            result = subprocess.run(
                ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            for line in result.stdout.splitlines():
                job_id, _, comment = line.partition(" ")
                if not job_id.isdigit() or int(job_id) in self.known_ids:
                    continue
                if not comment.startswith(self.comment_prefix):
                    continue
                seen = first_seen.setdefault(int(job_id), time.monotonic())
                if time.monotonic() - seen >= self.running_s:
                    subprocess.run(["scancel", job_id], check=True, timeout=15)
                    self.cancelled, self.cancelled_comment = int(job_id), comment
                    return
