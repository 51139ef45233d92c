"""cine2lge.chunks: chunk membership, per-subject names of a chunk rule, and how a chunk job
treats an excluded subject and an unexpected error."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cine2lge.chunks import (
    SubjectFailed,
    SubjectJob,
    by_index,
    chunk_subjects,
    indexed,
    run_chunk,
    subject_jobs,
)
from cine2lge.exclusion import ExpectedDataProblem


def test_chunks_are_sorted_and_independent_of_sheet_order():
    chunks = chunk_subjects(["S3", "S1", "S5", "S2", "S4"], 2)
    assert chunks == {"chunk0000": ["S1", "S2"], "chunk0001": ["S3", "S4"], "chunk0002": ["S5"]}
    assert chunk_subjects(["S5", "S4", "S3", "S2", "S1"], 2) == chunks
    assert chunk_subjects(["b", "a"], 1) == {"chunk0000": ["a"], "chunk0001": ["b"]}
    assert chunk_subjects([], 5) == {}
    with pytest.raises(ValueError, match=">= 1"):
        chunk_subjects(["a"], 0)


def test_indexed_names_round_trip():
    per_subject = [{"cine": "a/cine", "lge": "a/lge"}, {"cine": "b/cine"}]
    names = indexed(per_subject)
    assert names == {"cine__0": "a/cine", "lge__0": "a/lge", "cine__1": "b/cine"}
    # Names without an index (shared inputs such as weights) are not a subject's.
    assert by_index([*names.items(), ("weights", "w")], 2) == per_subject
    with pytest.raises(ValueError, match="beyond"):
        by_index([("cine__2", "c")], 2)


class Named(dict):
    """The part of Snakemake's Namedlist that subject_jobs uses."""

    def __getattr__(self, name):
        return self[name]


def test_subject_jobs_from_a_chunk_rule():
    smk = SimpleNamespace(
        params=Named(subjects=["a", "b"], each={"a": {"split": "train"}, "b": {"split": "test"}}),
        input=Named(indexed([{"paired": "pa", "upstream": "ua"}, {"paired": "pb"}]), w="w"),
        output=Named(indexed([{"table": "ta", "status": "sa"}, {"table": "tb", "status": "sb"}])),
        log=Named(indexed([{"log": "la"}, {"log": "lb"}])),
    )
    a, b = subject_jobs(smk)
    assert (a.subject, a.input, a.output, a.log, a.params) == (
        "a",
        {"paired": "pa", "upstream": "ua"},
        {"table": "ta", "status": "sa"},
        "la",
        {"split": "train"},
    )
    arguments = b.stage_arguments("quantify")
    assert arguments["outputs"] == {"table": "tb"} and arguments["status"] == "sb"
    assert arguments["split"] == "test" and arguments["upstream"] == []


def job(tmp_path, subject):
    root = tmp_path / subject
    return SubjectJob(
        subject=subject,
        output={"table": str(root / "t.tsv"), "status": str(root / "status.json")},
        log=str(tmp_path / "logs" / f"{subject}.log"),
        params={"split": "train"},
    )


def test_one_bad_subject_is_excluded_and_the_chunk_goes_on(tmp_path):
    jobs = [job(tmp_path, s) for s in ("a", "b", "c")]

    def work(subject_job):
        if subject_job.subject == "b":
            raise ExpectedDataProblem("b: no myocardium in labels.nii.gz")
        with open(subject_job.output["table"], "w") as stream:
            stream.write(subject_job.subject)

    (tmp_path / "a").mkdir(), (tmp_path / "c").mkdir()
    records = run_chunk(jobs, work, stage="quantify")
    assert [r["status"] for r in records] == ["analysed", "excluded", "analysed"]
    excluded = json.loads((tmp_path / "b" / "status.json").read_text())
    assert excluded["reason"] == "b: no myocardium in labels.nii.gz"
    assert excluded["log"] == jobs[1].log
    assert (tmp_path / "b" / "t.tsv").read_bytes() == b""  # placeholder
    assert (tmp_path / "c" / "t.tsv").read_text() == "c"
    # Each subject logs to its own file.
    assert "no myocardium" in (tmp_path / "logs" / "b.log").read_text()
    assert "no myocardium" not in (tmp_path / "logs" / "c.log").read_text()


def test_an_unexpected_error_fails_the_chunk_naming_the_subject(tmp_path):
    jobs = [job(tmp_path, s) for s in ("a", "b")]
    done = []

    def work(subject_job):
        if subject_job.subject == "b":
            raise KeyError("weights")
        done.append(subject_job.subject)

    with pytest.raises(SubjectFailed, match=r"subject b \(stage segment, 2 of 2") as error:
        run_chunk(jobs, work, stage="segment")
    assert isinstance(error.value.__cause__, KeyError) and done == ["a"]
    assert "job failed" in (tmp_path / "logs" / "b.log").read_text()


def test_without_a_stage_work_just_runs(tmp_path):
    seen = []
    assert run_chunk([job(tmp_path, "a")], lambda j: seen.append(j.subject)) == []
    assert seen == ["a"]
