"""Whole-workflow checks: the DAG builds on the demo config, lint/format/style are clean, and a
bad config stops Snakemake before any job with a message naming the key."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def snakemake(repo: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run Snakemake on this repository's workflow in `workdir` (which holds a config/ copy)."""
    command = [str(BIN / "snakemake"), "-s", str(repo / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture()
def workdir(repo, tmp_path) -> Path:
    shutil.copytree(repo / "config", tmp_path / "config")
    return tmp_path


def test_dry_run_builds_the_whole_dag(repo, workdir):
    result = snakemake(repo, workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    # Every demo subject gets its study generated; the DAG reaches the final stage.
    assert "demo_subject" in result.stdout + result.stderr


def test_bad_config_names_the_key(repo, workdir):
    result = snakemake(repo, workdir, "-n", "--config", "use_gpu=maybe")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "use_gpu" in output and "boolean" in output


def test_bad_sheet_names_row_and_column(repo, workdir):
    sheet = workdir / "config" / "subjects.tsv"
    lines = sheet.read_text().splitlines()
    lines[2] = lines[2].replace("internal_test", "testing")
    sheet.write_text("\n".join(lines) + "\n")
    result = snakemake(repo, workdir, "-n")
    assert result.returncode != 0
    assert "row 2 (subject 'demo0002'), column 'split'" in result.stdout + result.stderr


def test_lint_is_clean(repo, workdir):
    result = snakemake(repo, workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean(repo):
    files = [repo / "Snakefile", repo / "workflow"]
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *map(str, files)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_is_clean(repo, command):
    result = subprocess.run(
        [str(BIN / "ruff"), *command, "src", "tests", "scripts", "bench"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_evaluation_config_builds_its_dag(repo, workdir):
    """config/evaluate_demo.yaml (the model's quality evaluation) is valid and reaches the
    summary table with 12 + 12 test subjects and quantification of the test splits only."""
    result = snakemake(
        repo,
        workdir,
        "-n",
        "results/tables/summary.tsv",
        "--configfile",
        str(repo / "config/evaluate_demo.yaml"),
    )
    assert result.returncode == 0, result.stderr
    stats = dict(
        line.split()[:2]
        for line in result.stdout.split("Job stats:")[1].splitlines()
        if line.strip() and line.split()[-1].isdigit()
    )
    # 24 subjects in chunks of subjects_per_job (8): three jobs per chunked stage, one token job.
    for stage in ("predict_subject", "quantify_lesions"):
        chunks = [job for job in stats if job.startswith(f"{stage}_chunk")]
        assert sorted(chunks) == [f"{stage}_chunk{i:04d}" for i in range(3)]
        assert stats[stage] == "1"


def test_probability_weights_are_an_input_of_predict_chunk(repo, workdir):
    """model.probability_weights (and its .sha256) become inputs of the inference jobs."""
    weights = workdir / "scar.safetensors"
    weights.touch()
    (workdir / "scar.safetensors.sha256").touch()
    overlay = workdir / "probability.yaml"
    overlay.write_text(f"model:\n  probability_weights: {weights}\n")
    result = snakemake(
        repo, workdir, "-n", "results/model/chunks/chunk0000.npz", "--configfile", str(overlay)
    )
    assert result.returncode == 0, result.stderr
    inputs = next(
        line
        for line in result.stdout.split("rule predict_chunk:")[1].splitlines()
        if line.strip().startswith("input:")
    )
    assert f"{weights}, {weights}.sha256" in inputs
