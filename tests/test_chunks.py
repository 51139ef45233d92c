"""cine2lge.chunks: chunk membership, per-subject names of a chunk rule, and how a chunk job
treats an excluded subject and an unexpected error."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cine2lge.chunks import (
    SubjectFailed,
    SubjectJob,
    analysed_reads,
    by_index,
    chunk_subjects,
    final_statuses,
    indexed,
    read_records,
    run_chunk,
    stage_statuses,
    subject_jobs,
    write_record,
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


def test_upstream_statuses_come_from_each_and_the_record_is_no_subjects():
    # The declared inputs are upstream chunk records; each subject's upstream status files are
    # params each[subject]["upstream"], and the chunk's own record is not a subject's output.
    smk = SimpleNamespace(
        params=Named(
            subjects=["a"],
            each={"a": {"split": "train", "upstream": ["pre/a.json", "model/a.json"]}},
            reads={"paired": "p/{subject}.npz"},
        ),
        input=Named(upstream=["records/pre0.json"], token="t"),
        output=Named(indexed([{"table": "ta", "status": "sa"}]), record="records/q0.json"),
        log=Named(indexed([{"log": "la"}])),
    )
    (a,) = subject_jobs(smk)
    assert a.input == {"paired": "p/a.npz", "upstream": ["pre/a.json", "model/a.json"]}
    assert a.output == {"table": "ta", "status": "sa"} and a.params == {"split": "train"}
    assert a.stage_arguments("quantify")["upstream"] == ["pre/a.json", "model/a.json"]


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


def test_the_chunk_record_holds_every_subjects_status_and_outputs(tmp_path):
    jobs = [job(tmp_path, s) for s in ("a", "b")]

    def work(subject_job):
        if subject_job.subject == "b":
            raise ExpectedDataProblem("b: unreadable")

    record = tmp_path / "chunks" / "quantify_lesions_chunk0000.json"
    statuses = run_chunk(jobs, work, stage="quantify", record=record)
    written = json.loads(record.read_text())
    assert written["stage"] == "quantify" and list(written["subjects"]) == ["a", "b"]
    assert [written["subjects"][s]["status"] for s in ("a", "b")] == statuses
    assert written["subjects"]["a"]["outputs"] == jobs[0].output
    assert read_records([record]) == {"quantify": {"a": statuses[0], "b": statuses[1]}}
    with pytest.raises(ValueError, match="needs the stage"):
        run_chunk(jobs, lambda j: None, record=record)


def test_no_record_when_the_chunk_fails(tmp_path):
    record = tmp_path / "record.json"
    with pytest.raises(SubjectFailed):
        run_chunk([job(tmp_path, "a")], lambda j: 1 / 0, stage="ingest", record=record)
    assert not record.exists()


def write_chunk(tmp_path, stage, name, statuses):
    """A chunk record of `stage` with {subject: "analysed" | "excluded by <stage>"}."""
    jobs, records = [], []
    for subject, status in statuses.items():
        jobs.append(SubjectJob(subject=subject, output={"status": f"{stage}/{subject}.json"}))
        excluded = status.startswith("excluded")
        records.append(
            {
                "subject": subject,
                "stage": status.split()[-1] if excluded else stage,
                "status": "excluded" if excluded else "analysed",
            }
        )
    path = tmp_path / f"{name}.json"
    write_record(path, stage, jobs, records)
    return path


def test_cohort_statuses_from_chunk_records(tmp_path):
    # s1 and s2 reach quantify, s3 stops at preprocess (excluded at ingest, passed on); s4 is
    # excluded at segment, which its quantify stage does not read (not upstream of it).
    ingest = write_chunk(tmp_path, "ingest", "i0", {"s1": "a", "s2": "a", "s3": "excluded ingest"})
    ingest4 = write_chunk(tmp_path, "ingest", "i1", {"s4": "a"})
    preprocess = write_chunk(
        tmp_path,
        "preprocess",
        "p0",
        {"s1": "a", "s2": "a", "s3": "excluded ingest", "s4": "a"},
    )
    segment = write_chunk(tmp_path, "segment", "g0", {"s4": "excluded segment"})
    quantify = write_chunk(tmp_path, "quantify", "q0", {"s1": "a", "s2": "a", "s4": "a"})
    # The latest stage among the records given: each subject's final status.
    final = final_statuses([quantify, preprocess, segment])
    assert {s: (r["stage"], r["status"]) for s, r in final.items()} == {
        "s1": ("quantify", "analysed"),
        "s2": ("quantify", "analysed"),
        "s3": ("ingest", "excluded"),
        "s4": ("quantify", "analysed"),
    }
    # One stage's records: that stage's statuses.
    assert final_statuses([segment])["s4"]["status"] == "excluded"
    kept, reads = analysed_reads(
        ["s3", "s2", "s1"], [preprocess, quantify], {"table": "q/{subject}/lesions.tsv"}
    )
    assert kept == ["s2", "s1"] and reads == {"table": ["q/s2/lesions.tsv", "q/s1/lesions.tsv"]}
    with pytest.raises(ValueError, match="no status record"):
        analysed_reads(["s5"], [quantify], {})
    # Every status, subject by subject in the given order, stages in pipeline order.
    every = stage_statuses(["s4", "s3"], [quantify, segment, preprocess, ingest, ingest4])
    assert [(r["subject"], r["stage"]) for r in every] == [
        ("s4", "ingest"),
        ("s4", "preprocess"),
        ("s4", "segment"),
        ("s4", "quantify"),
        ("s3", "ingest"),
        ("s3", "ingest"),
    ]
    not_a_record = tmp_path / "status.json"
    not_a_record.write_text(json.dumps({"subject": "s1", "status": "analysed"}))
    with pytest.raises(ValueError, match="not a chunk record"):
        read_records([not_a_record])
