"""The conda environment files and pyproject.toml must ask for the same versions."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

# conda-forge names of PyPI packages whose names differ.
CONDA_TO_PYPI = {"pytorch": "torch", "simpleitk": "SimpleITK"}


def _pyproject_specs(repo) -> dict[str, str]:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    specs = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        specs[requirement.name.lower()] = str(requirement.specifier)
    return specs


def _env_specs(path) -> dict[str, str]:
    specs = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        lines = entry["pip"] if isinstance(entry, dict) else [entry]
        for line in lines:
            if line.startswith("-e") or line.startswith("python"):
                continue
            name, _, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(([<>=!]=?.*)?)$", line).groups()
            specs[CONDA_TO_PYPI.get(name, name).lower()] = (spec or "").replace(" ", "")
    return specs


@pytest.mark.parametrize("env", ["imaging", "model", "report"])
def test_env_versions_match_pyproject(repo, env):
    project = _pyproject_specs(repo)
    env_specs = _env_specs(repo / "envs" / f"{env}.yaml")
    shared = set(env_specs) & set(project)
    assert len(shared) >= 5, f"envs/{env}.yaml shares too few packages with pyproject.toml"
    mismatched = {
        name: (env_specs[name], project[name])
        for name in shared
        if env_specs[name] and env_specs[name] != project[name]
    }
    assert not mismatched, f"envs/{env}.yaml vs pyproject.toml (env, pyproject): {mismatched}"
    unknown = set(env_specs) - set(project) - {"pip", "einops"}
    assert not unknown, f"envs/{env}.yaml has packages pyproject.toml does not declare: {unknown}"


def test_every_env_file_is_used_by_a_rule(repo):
    rules = "".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    for env in (repo / "envs").glob("*.yaml"):
        assert f"envs/{env.name}" in rules, f"{env} is not referenced by any rule"
