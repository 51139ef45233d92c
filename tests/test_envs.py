"""pyproject.toml, the hashed locks (requirements/) and the conda envs (envs/) must agree:
every declared dependency is locked at a version its range allows, each env pins exactly the
lock's versions, and torch (in no lock) is pinned to the same version everywhere."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

FAMILIES = ["imaging", "model", "report"]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)(.*?)(?=^[A-Za-z0-9_.-]+==|\Z)", re.M | re.S)


def _lock(repo, name="lock.txt") -> dict[str, tuple[str, str]]:
    """{canonical name: (version, the entry's text with its hashes)}."""
    text = (repo / "requirements" / name).read_text()
    return {canonicalize_name(m[1]): (m[2], m[3]) for m in PIN.finditer(text)}


def _project(repo) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]


def _torch_pin(repo) -> str:
    text = (repo / "requirements" / "constraints.txt").read_text()
    return re.search(r"^torch==(\S+)", text, re.M)[1]


def _env_pip(repo, env) -> tuple[list, dict[str, str]]:
    """(conda entries, {canonical name: version} of the pip section) of envs/<env>.yaml."""
    conda, pip = [], {}
    for entry in yaml.safe_load((repo / "envs" / f"{env}.yaml").read_text())["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line)
                assert match, f"envs/{env}.yaml: pip entry {line!r} is not pinned with =="
                pip[canonicalize_name(match[1])] = match[2]
        else:
            conda.append(entry)
    return conda, pip


@pytest.mark.parametrize(
    "lock, groups",
    [
        ("lock.txt", ["dependencies"]),
        ("lock-test.txt", ["dependencies", "test", "slurm"]),
        ("lock-gpl-codecs.txt", ["gpl-codecs"]),
    ],
)
def test_every_pyproject_dependency_is_locked_within_its_range(repo, lock, groups):
    project, locked = _project(repo), _lock(repo, lock)
    for group in groups:
        lines = (
            project[group] if group == "dependencies" else project["optional-dependencies"][group]
        )
        for line in lines:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            if name == "torch":  # in no lock: the Makefile's TORCH or the user's own build
                assert requirement.specifier.contains(Version(_torch_pin(repo)))
                continue
            assert name in locked, f"{line!r} ({group}) is not in requirements/{lock}: make lock"
            version = locked[name][0]
            assert requirement.specifier.contains(Version(version), prereleases=True), (
                f"requirements/{lock} pins {name}=={version}, pyproject asks {line!r}: make lock"
            )


@pytest.mark.parametrize("lock", ["lock.txt", "lock-test.txt", "lock-gpl-codecs.txt"])
def test_locks_are_hashed_cpu_only_and_without_torch(repo, lock):
    locked = _lock(repo, lock)
    assert locked, f"requirements/{lock} is empty"
    unhashed = [name for name, (_, entry) in locked.items() if "--hash=sha256:" not in entry]
    assert not unhashed, f"requirements/{lock}: entries without hashes: {unhashed}"
    assert "torch" not in locked, "torch must stay out of the locks (CPU and CUDA builds differ)"
    cuda = [n for n in locked if n.startswith(("nvidia-", "cuda-")) or n == "triton"]
    assert not cuda, f"requirements/{lock} holds CUDA-only packages {cuda}: lock against CPU torch"


def test_test_lock_keeps_the_runtime_pins(repo):
    runtime, test = _lock(repo), _lock(repo, "lock-test.txt")
    assert set(runtime) <= set(test)
    moved = {n: (runtime[n][0], test[n][0]) for n in runtime if runtime[n][0] != test[n][0]}
    assert not moved, f"lock.txt vs lock-test.txt versions differ: {moved}"


def test_gpl_codec_is_optional(repo):
    assert "pylibjpeg-libjpeg" not in _lock(repo), "the GPL-3.0 codec must stay an extra"
    assert "pylibjpeg-libjpeg" not in _lock(repo, "lock-test.txt")
    for env in FAMILIES:
        assert "pylibjpeg-libjpeg" not in _env_pip(repo, env)[1]


def test_makefile_torch_matches_the_lock_constraint(repo):
    makefile = (repo / "Makefile").read_text()
    assert re.search(r"^TORCH \?= torch==(\S+)$", makefile, re.M)[1] == _torch_pin(repo)


@pytest.mark.parametrize("env", FAMILIES)
def test_env_pins_equal_the_lock(repo, env):
    conda, pip = _env_pip(repo, env)
    assert [c.split()[0] for c in conda] == ["python", "pip"], (
        f"envs/{env}.yaml: conda provides python and pip only, the rest is pinned by pip: {conda}"
    )
    locked = {name: version for name, (version, _) in _lock(repo).items()}
    locked["torch"] = _torch_pin(repo)
    differ = {n: (v, locked.get(n)) for n, v in pip.items() if locked.get(n) != v}
    assert not differ, f"envs/{env}.yaml vs requirements/lock.txt (env, lock): {differ}"


@pytest.mark.parametrize("env", FAMILIES)
def test_env_holds_what_its_family_needs_and_installs_the_package_without_deps(repo, env):
    _, pip = _env_pip(repo, env)
    wanted = (repo / "requirements" / "envs" / f"{env}.in").read_text()
    for line in wanted.splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = canonicalize_name(Requirement(line).name)
            assert name in pip, f"envs/{env}.yaml lacks {name} of requirements/envs/{env}.in"
    assert "cine2lge" not in pip
    assert "torch" not in pip or "monai" in pip  # torch only where the model code runs
    deploy = (repo / "envs" / f"{env}.post-deploy.sh").read_text()
    assert "pip install --no-deps" in deploy


def test_report_env_is_not_the_full_stack(repo):
    _, pip = _env_pip(repo, "report")
    assert not {"torch", "monai", "snakemake", "pydicom"} & set(pip)


def test_every_env_file_is_used_by_a_rule(repo):
    rules = "".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    for env in (repo / "envs").glob("*.yaml"):
        assert f"envs/{env.name}" in rules, f"{env} is not referenced by any rule"
