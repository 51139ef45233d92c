"""`cine2lge install-slurm-profile`: installs profiles/slurm where `snakemake --profile slurm`
finds it, keeps an edited copy, and the installed profile is valid for Snakemake and the SLURM
executor plugin (checked with a dry run; no cluster needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cine2lge.cli import main

BIN = Path(sys.executable).parent


@pytest.fixture()
def config_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def test_installs_where_snakemake_looks_for_profile_slurm(repo, config_home, monkeypatch):
    from snakemake.cli import get_profile_dir

    monkeypatch.chdir(repo)
    assert main(["install-slurm-profile"]) == 0
    installed = config_home / "snakemake" / "slurm"
    assert (installed / "config.yaml").read_text() == (
        repo / "profiles" / "slurm" / "config.yaml"
    ).read_text()
    # Snakemake's own lookup of `--profile slurm` (cwd has no ./slurm folder).
    assert get_profile_dir("slurm") == (installed, installed / "config.yaml")


def test_keeps_an_edited_profile_unless_forced(repo, config_home, capsys):
    installed = config_home / "snakemake" / "slurm" / "config.yaml"
    installed.parent.mkdir(parents=True)
    installed.write_text("executor: slurm\njobs: 7\n")
    assert main(["install-slurm-profile", "--source", str(repo / "profiles" / "slurm")]) == 1
    error = capsys.readouterr().err
    assert "already exists (maybe edited for your site); use --force to replace it" in error
    assert installed.read_text() == "executor: slurm\njobs: 7\n"
    assert main(["install-slurm-profile", "--force"]) == 0
    assert yaml.safe_load(installed.read_text())["jobs"] == 100


def test_rejects_a_folder_without_config(tmp_path, capsys):
    assert main(["install-slurm-profile", "--source", str(tmp_path), "--dest", "x"]) == 1
    assert f"{tmp_path} is not a Snakemake profile: no config.yaml" in capsys.readouterr().err


def test_site_profile_has_the_settings_the_cluster_needs(repo):
    profile = yaml.safe_load((repo / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"  # no sacct without slurmdbd
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] and profile["keep-going"]
    assert "slurm_account" not in profile["default-resources"]  # sacctmgr-validated; site sets it
    workflow_profile = yaml.safe_load((repo / "profiles" / "default" / "config.yaml").read_text())
    # The workflow profile must not switch local runs to SLURM nor shadow the site's resources.
    assert not {"executor", "default-resources", "set-resources"} & set(workflow_profile)
    # Per-subject stages run in chunks of subjects (config subjects_per_job), not SLURM groups.
    assert "group-components" not in workflow_profile


def test_installed_profile_is_accepted_by_snakemake_and_the_plugin(repo, config_home, tmp_path):
    assert main(["install-slurm-profile"]) == 0
    workdir = tmp_path / "work"
    (workdir / "out").mkdir(parents=True)
    (workdir / "Snakefile").write_text(
        'rule all:\n    output: "out/a.txt"\n    resources: gpu=1\n    shell: "touch {output}"\n'
    )
    result = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "slurm", "-n"],
        cwd=workdir,
        env=dict(os.environ, XDG_CONFIG_HOME=str(config_home)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Using profile slurm for setting default command line arguments" in output
    assert "gpu=1" in output
