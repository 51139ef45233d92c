"""Helpers for the cluster tests: run Snakemake with a timeout, read SLURM job ids from the
plugin's logs, query finished jobs with scontrol, compare two result trees."""

from __future__ import annotations

import hashlib
import json
import math
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
    (`rule_<rule>` or `group_<group>_<rules>`; jobs with wildcards log one level deeper, e.g.
    rule_predict_chunk/chunk0000/<jobid>.log)."""
    logs = workdir / ".snakemake" / "slurm_logs"
    jobs: dict[str, list[int]] = {}
    for log in sorted(logs.rglob("*.log")):
        folder = log.relative_to(logs).parts[0]
        if SLURM_LOG.match(folder) and log.stem.isdigit():
            jobs.setdefault(folder, []).append(int(log.stem))
    return {folder: sorted(ids) for folder, ids in jobs.items()}


def _scontrol_fields(job_id: int) -> tuple[int, dict[str, str], str]:
    """(return code, `scontrol show job` fields, stderr) of a job."""
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True, timeout=15
    )
    fields = dict(field.split("=", 1) for field in result.stdout.split() if "=" in field)
    return result.returncode, fields, result.stderr


def scontrol_job(job_id: int) -> dict[str, str]:
    """`scontrol show job` fields of a (recently finished) job; MinJobAge=600 keeps them."""
    returncode, fields, stderr = _scontrol_fields(job_id)
    assert returncode == 0, f"scontrol show job {job_id}: {stderr}"
    return fields


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
                # RUNNING in squeue can precede the batch step's start on a loaded node: wait
                # until the job has written its log, so the kill really lands mid-run.
                if time.monotonic() - seen >= self.running_s and _has_started(int(job_id)):
                    subprocess.run(["scancel", job_id], check=True, timeout=15)
                    self.cancelled, self.cancelled_comment = int(job_id), comment
                    return


def _has_started(job_id: int) -> bool:
    """Whether a job's batch step has started, i.e. its StdOut file exists."""
    stdout = _scontrol_fields(job_id)[1].get("StdOut")
    return bool(stdout) and Path(stdout).is_file()


# Group jobs have UUIDs as Snakemake job ids, rule jobs numbers.
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+)")


def slurm_ids_by_snakemake_job(output: str) -> dict[str, list[int]]:
    """{Snakemake job id: SLURM job ids in submission order} from the slurm plugin's
    "Job N has been submitted with SLURM jobid M" lines; a retried job has several."""
    ids: dict[str, list[int]] = {}
    for job, slurm_id in SUBMITTED.findall(output):
        ids.setdefault(job, []).append(int(slurm_id))
    return ids


RTOL, ATOL = 1e-4, 1e-5
# Fields that legitimately differ between two runs of the same inputs (timings, hosts).
VOLATILE_JSON_KEYS = {"created", "timestamp", "date", "time", "hostname", "host", "elapsed_s"}
VOLATILE_NAME = re.compile(r"seconds|elapsed|duration|timestamp|hostname", re.I)


def compare_result_trees(local: Path, cluster: Path) -> list[str]:
    """Differences between two results/ trees, compared by content: arrays (NIfTI, npz, npy) and
    tables within RTOL/ATOL, JSON by value, DICOM studies by (series, instance, pixel data) since
    file names may be random; other files (figures, HTML) by presence."""
    problems: list[str] = []
    files_local = _files_by_kind(local)
    files_cluster = _files_by_kind(cluster)
    for kind in sorted(set(files_local) | set(files_cluster)):
        only_local = files_local.get(kind, {}).keys() - files_cluster.get(kind, {}).keys()
        only_cluster = files_cluster.get(kind, {}).keys() - files_local.get(kind, {}).keys()
        problems += [f"only in local run: {p}" for p in sorted(only_local)]
        problems += [f"only in cluster run: {p}" for p in sorted(only_cluster)]
    for relative, path in files_local.get("file", {}).items():
        other = files_cluster.get("file", {}).get(relative)
        if other is not None:
            problem = _compare_file(path, other)
            if problem:
                problems.append(f"{relative}: {problem}")
    for folder, path in files_local.get("dicom", {}).items():
        other = files_cluster.get("dicom", {}).get(folder)
        if other is not None and _dicom_study(path) != _dicom_study(other):
            problems.append(f"{folder}: DICOM series/instances/pixel data differ")
    return problems


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(132)[128:132] == b"DICM"


def _files_by_kind(root: Path) -> dict[str, dict[str, Path]]:
    """{"file": {relative path: path}, "dicom": {relative folder: folder}} of a results tree."""
    kinds: dict[str, dict[str, Path]] = {"file": {}, "dicom": {}}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        relative = str(path.relative_to(root))
        if _is_dicom(path):
            kinds["dicom"][str(path.parent.relative_to(root))] = path.parent
        else:
            kinds["file"][relative] = path
    return kinds


def _dicom_study(folder: Path) -> list[tuple]:
    import pydicom

    instances = []
    for path in folder.rglob("*"):
        if path.is_file() and _is_dicom(path):
            ds = pydicom.dcmread(path)
            pixels = hashlib.sha1(ds.PixelData).hexdigest() if "PixelData" in ds else ""
            key = (str(ds.get("SeriesDescription", "")), int(ds.get("InstanceNumber", 0) or 0))
            instances.append((*key, pixels))
    return sorted(instances)


def _compare_file(a: Path, b: Path) -> str:
    import numpy as np

    name = a.name
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        image_a, image_b = nib.load(a), nib.load(b)
        if not np.allclose(image_a.affine, image_b.affine, rtol=RTOL, atol=ATOL):
            return "affines differ"
        return _compare_arrays(np.asanyarray(image_a.dataobj), np.asanyarray(image_b.dataobj))
    if name.endswith(".npy"):
        return _compare_arrays(np.load(a), np.load(b))
    if name.endswith(".npz"):
        with np.load(a) as za, np.load(b) as zb:
            if sorted(za.files) != sorted(zb.files):
                return f"arrays {sorted(za.files)} != {sorted(zb.files)}"
            for key in za.files:
                problem = _compare_arrays(za[key], zb[key])
                if problem:
                    return f"array {key}: {problem}"
        return ""
    if name.endswith((".tsv", ".csv")):
        import pandas as pd

        sep = "\t" if name.endswith(".tsv") else ","
        try:
            pd.testing.assert_frame_equal(
                _stable_rows(pd.read_csv(a, sep=sep)),
                _stable_rows(pd.read_csv(b, sep=sep)),
                check_exact=False,
                rtol=RTOL,
            )
        except AssertionError as error:
            return f"tables differ: {str(error).splitlines()[0:3]}"
        return ""
    if name.endswith(".json"):
        va, vb = json.loads(a.read_text()), json.loads(b.read_text())
        return "" if _json_close(va, vb) else "JSON values differ"
    return ""  # figures, HTML, ...: presence is compared by the caller


def _stable_rows(table):
    """A table without timing columns and without rows of a tidy table's timing metrics
    (e.g. metric == "seconds_per_step")."""
    table = table.drop(columns=[c for c in table.columns if VOLATILE_NAME.search(str(c))])
    if "metric" in table.columns:
        timing = table["metric"].astype(str).str.contains(VOLATILE_NAME)
        table = table[~timing].reset_index(drop=True)
    return table


def _compare_arrays(a, b) -> str:
    import numpy as np

    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape/dtype {a.shape} {a.dtype} != {b.shape} {b.dtype}"
    if np.issubdtype(a.dtype, np.floating):
        if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
            return f"values differ (max abs difference {np.nanmax(np.abs(a - b)):.3g})"
        return ""
    if not np.array_equal(a, b):
        return f"{int(np.sum(a != b))} of {a.size} values differ"
    return ""


def _json_close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (a.keys() | b.keys()) - VOLATILE_JSON_KEYS
        return all(k in a and k in b and _json_close(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
        )
    return a == b
