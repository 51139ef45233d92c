"""cine2lge.exclusion: expected data problems exclude a subject (status record, empty outputs),
the exclusion is passed on downstream, unexpected errors still fail, and the cohort tables see
only the analysed subjects."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cine2lge import exclusion
from cine2lge.dicom import IngestError
from cine2lge.exclusion import EXCLUSION_COLUMNS, ExpectedDataProblem, run_stage
from cine2lge.quantify.myocardium import MyocardiumUnavailable


def stage(tmp_path, name, work, upstream=(), subject="S01"):
    outputs = {
        "table": str(tmp_path / name / "lesions.tsv"),
        "plot": str(tmp_path / name / "bullseye.png"),
        "dicom": str(tmp_path / name / "dicom"),
    }
    status = tmp_path / name / "status.json"
    record = run_stage(
        work,
        stage=name,
        subject=subject,
        split="internal_test",
        outputs=outputs,
        status=status,
        log_path=f"logs/{name}/{subject}.log",
        upstream=upstream,
        directories=("dicom",),
    )
    return record, outputs, status


def raise_(error):
    def work():
        raise error

    return work


@pytest.mark.parametrize(
    "error",
    [
        IngestError("subject S01: file 3.dcm: cannot read pixel data"),
        MyocardiumUnavailable("subject S01: label map has no myocardium labels [2]"),
        exclusion.LocalisationFailed("LV not found: no slice has an LV centre (image)"),
        exclusion.PairingFailed("subject S01: no cine slice has an LGE slice within 5.0 mm"),
    ],
)
def test_expected_problem_excludes_with_status_and_empty_outputs(tmp_path, error):
    assert isinstance(error, ExpectedDataProblem)
    record, outputs, status = stage(tmp_path, "quantify", raise_(error))
    assert json.loads(status.read_text()) == record
    assert record == {
        "subject": "S01",
        "split": "internal_test",
        "stage": "quantify",
        "status": "excluded",
        "reason": str(error),
        "error": type(error).__name__,
        "log": "logs/quantify/S01.log",
    }
    assert (tmp_path / "quantify" / "lesions.tsv").read_bytes() == b""
    assert (tmp_path / "quantify" / "dicom").is_dir()
    assert not any((tmp_path / "quantify" / "dicom").iterdir())
    png = (tmp_path / "quantify" / "bullseye.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 100


def test_exclusion_is_passed_on_without_running_the_stage(tmp_path):
    first, _, ingest_status = stage(tmp_path, "ingest", raise_(IngestError("too few slices")))
    ran = []
    record, outputs, _ = stage(tmp_path, "preprocess", lambda: ran.append(1), [ingest_status])
    assert not ran and record == first and record["stage"] == "ingest"
    assert (tmp_path / "preprocess" / "lesions.tsv").read_bytes() == b""


def test_analysed_stage_runs_and_says_so(tmp_path):
    def work():
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "lesions.tsv").write_text("a\n1\n")

    _, _, upstream = stage(tmp_path, "ingest", lambda: None)
    record, outputs, _ = stage(tmp_path, "model", work, [upstream])
    assert record["status"] == "analysed" and record["stage"] == "model"
    assert (tmp_path / "model" / "lesions.tsv").read_text() == "a\n1\n"


def test_unexpected_error_still_fails_the_job(tmp_path):
    with pytest.raises(ZeroDivisionError):
        stage(tmp_path, "quantify", lambda: 1 / 0)
    with pytest.raises(ValueError, match="a bug"):
        stage(tmp_path, "quantify", raise_(ValueError("a bug")))
    assert not (tmp_path / "quantify" / "status.json").exists()


def test_cohort_keeps_analysed_and_lists_excluded_once(tmp_path):
    _, _, a = stage(tmp_path / "a", "ingest", lambda: None, subject="S01")
    _, _, b_ingest = stage(tmp_path / "b", "ingest", raise_(IngestError("unreadable")), (), "S02")
    _, _, b = stage(tmp_path / "b", "quantify", lambda: None, [b_ingest], "S02")
    kept, paths = exclusion.keep_analysed(["S01", "S02"], [a, b], ["a.tsv", "b.tsv"])
    assert kept == ["S01"] and paths == ["a.tsv"]
    table = exclusion.write_exclusions([a, b_ingest, b], tmp_path / "exclusions.tsv")
    read = pd.read_csv(tmp_path / "exclusions.tsv", sep="\t")
    assert list(read.columns) == EXCLUSION_COLUMNS and len(table) == len(read) == 1
    assert read.iloc[0].to_dict() == {
        "subject": "S02",
        "split": "internal_test",
        "stage": "ingest",
        "reason": "unreadable",
        "log": "logs/ingest/S02.log",
    }
    counts = exclusion.split_counts(
        {"S01": "internal_test", "S02": "internal_test"}, [a, b], ["internal_test", "external"]
    )
    assert counts == {"internal_test": (1, 1), "external": (0, 0)}


def test_nobody_excluded_gives_a_header_only_table(tmp_path):
    _, _, a = stage(tmp_path, "ingest", lambda: None)
    exclusion.write_exclusions([a], tmp_path / "exclusions.tsv")
    assert (tmp_path / "exclusions.tsv").read_text() == "\t".join(EXCLUSION_COLUMNS) + "\n"


def test_statuses_given_as_records_by_subject():
    # Cohort rules read statuses from chunk records (cine2lge.chunks.final_statuses).
    statuses = {
        "S01": {"subject": "S01", "status": "analysed", "stage": "quantify"},
        "S02": {"subject": "S02", "status": "excluded", "stage": "ingest"},
    }
    kept, paths = exclusion.keep_analysed(["S02", "S01"], statuses, ["b.tsv", "a.tsv"])
    assert kept == ["S01"] and paths == ["a.tsv"]
    counts = exclusion.split_counts({"S01": "test", "S02": "test"}, statuses, ["test"])
    assert counts == {"test": (1, 1)}
    table = exclusion.exclusion_table(statuses.values())
    assert table["subject"].tolist() == ["S02"]
    with pytest.raises(ValueError, match="no status record"):
        exclusion.analysed(["S03"], statuses)
