"""Fixtures for the cluster tests: a running SLURM cluster (started by `bash .ci/slurm.sh`), the
site profile installed as the `slurm` profile of a temporary user, and fresh work folders.

Every test here needs the cluster: it skips with the reason when `sinfo` is absent or the node is
not usable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import BIN, cluster_state

TINY_WORKFLOW = Path(__file__).parent / "tiny"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    usable, reason = cluster_state()
    if not usable:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_env(slurm_cluster, tmp_path_factory) -> dict[str, str]:
    """Environment of a user who installed the site profile with the documented command, so that
    `snakemake --profile slurm` resolves to it (via $XDG_CONFIG_HOME/snakemake/slurm)."""
    config_home = tmp_path_factory.mktemp("xdg_config")
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    install = subprocess.run(
        [str(BIN / "cine2lge"), "install-slurm-profile"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert install.returncode == 0, install.stderr
    assert (config_home / "snakemake" / "slurm" / "config.yaml").is_file()
    return env


@pytest.fixture()
def tiny_workdir(tmp_path) -> Path:
    """A fresh copy of the test-only workflow tests/cluster/tiny."""
    workdir = tmp_path / "tiny"
    shutil.copytree(TINY_WORKFLOW, workdir)
    return workdir
