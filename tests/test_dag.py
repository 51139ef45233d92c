"""cine2lge.dag: the string version of Snakemake 9's DAG.check_directory_outputs gives the same
answer as Snakemake's own (which workflow/rules/common.smk replaces for speed)."""

from __future__ import annotations

import os
import random
from functools import total_ordering
from pathlib import Path
from types import SimpleNamespace

import pytest
import snakemake.api  # noqa: F401  (snakemake.dag is imported through it: no import cycle)
from snakemake.dag import DAG
from snakemake.exceptions import ChildIOException

from cine2lge.dag import nested_output, path_parts

CHECK = DAG.check_directory_outputs  # Snakemake's (this process never loads the workflow)


@total_ordering
class Job:
    """What the check uses of a job: its outputs; hashable and ordered (by rule name)."""

    def __init__(self, name, output):
        self.name, self.output = name, output

    def __lt__(self, other):
        return self.name < other.name

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__


def snakemake_answer(jobs):
    """(parent, child) paths that Snakemake's check names, or None."""
    try:
        CHECK(SimpleNamespace(jobs=jobs))
    except ChildIOException as error:
        lines = str(error).splitlines()
        return lines[1], lines[2]
    return None


def our_answer(jobs):
    found = nested_output(((f, job) for job in jobs for f in job.output), os.getcwd())
    if found is None:
        return None
    (a, job_a), (b, job_b) = found
    return str((Path("/", *a), job_a)), str((Path("/", *b), job_b))


def test_parts_are_pathlibs():
    for path in ("a/b", "./a//b/", "/x/./y", "a/../b", "a.b/c", "a-b"):
        assert path_parts(path, "/w/d") == Path("/w/d", path).parts[1:]


@pytest.mark.parametrize("seed", range(40))
def test_same_answer_as_snakemake(seed, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    rng = random.Random(seed)
    names = ["a", "b", "a.b", "a-b", "ab", "b0", "."]
    jobs = []
    for j in range(rng.randint(1, 6)):
        outputs = set()
        for _ in range(rng.randint(1, 6)):
            depth = rng.randint(1, 4)
            outputs.add("/".join(rng.choice(names) for _ in range(depth)))
        jobs.append(Job(f"rule{rng.randint(0, 3)}_{j}", sorted(outputs)))
    assert our_answer(jobs) == snakemake_answer(jobs)


def test_a_file_inside_another_jobs_folder_is_found(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    folder = Job("demo", ["results/demo/s1/dicom", "results/demo/s1/truth.json"])
    inside = Job("ingest", ["results/demo/s1/dicom/extra.dcm", "results/ingest/s1/qc.json"])
    assert our_answer([folder, inside]) == snakemake_answer([folder, inside]) is not None
    same_job = Job("demo", ["results/demo/s1/dicom", "results/demo/s1/dicom/x"])
    assert our_answer([same_job]) is None and snakemake_answer([same_job]) is None
