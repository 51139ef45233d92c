"""Stage test: the ingest rules on a small sheet in a temporary directory — a subject with cine,
LGE and labels, one with a cine only, one with a cine and labels on its grid (no LGE), and (with
--keep-going) one whose study is broken, and one with a cine and a T2-STIR (optional role t2).
One job per subject, one rule per role set."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .fixtures import SeriesSpec, write_single_frame, write_study

BIN = Path(sys.executable).parent


def test_ingest_rules_on_a_small_sheet(repo, tmp_path):
    shutil.copytree(repo / "config", tmp_path / "config")
    full = write_study(tmp_path / "studies" / "S01")
    lge = full["lge"]
    labels = np.zeros(lge.volume.shape, np.int16)
    labels[3:6, 4:8, 1:3] = 2
    nib.save(nib.Nifti1Image(labels, lge.affine), tmp_path / "studies" / "S01_myo.nii.gz")
    write_study(tmp_path / "studies" / "S02", seed=5)
    (tmp_path / "studies" / "S03").mkdir()
    (tmp_path / "studies" / "S03" / "readme.txt").write_text("not an image")
    cine = write_study(tmp_path / "studies" / "S04", seed=7)["cine"]
    cine_labels = np.zeros(cine.volume.shape[:3], np.int16)
    cine_labels[2:5, 3:7, 0:2] = 1
    nib.save(nib.Nifti1Image(cine_labels, cine.affine), tmp_path / "studies" / "S04_myo.nii.gz")
    write_study(tmp_path / "studies" / "S05", seed=9)
    stir = SeriesSpec(description="SA T2 STIR", number=9, n_slices=5, n_phases=1, seed=19)
    stir.inversion_time_ms = 170.0
    t2 = write_single_frame(tmp_path / "studies" / "S05", stir, cine=False)
    sheet = pd.DataFrame(
        [
            [
                "S01",
                "train",
                "siteA",
                "studies/S01",
                "studies/S01",
                "studies/S01_myo.nii.gz",
                "demo",
            ],
            ["S02", "predict", "siteA", "studies/S02", "", "", "demo"],
            ["S03", "predict", "siteA", "studies/S03", "", "", "demo"],
            ["S04", "predict", "siteA", "studies/S04", "", "studies/S04_myo.nii.gz", "demo"],
            ["S05", "predict", "siteA", "studies/S05", "", "", "demo"],
        ],
        columns=["subject", "split", "site", "cine", "lge", "myo", "label_scheme"],
    )
    sheet["t2"] = ["", "", "", "", "studies/S05"]
    sheet.to_csv(tmp_path / "config" / "sheet.tsv", sep="\t", index=False)
    subjects = ("S01", "S02", "S03", "S04", "S05")
    command = [
        str(BIN / "snakemake"),
        "-s",
        str(repo / "Snakefile"),
        "-d",
        str(tmp_path),
        "--config",
        "subjects=config/sheet.tsv",
        "-c",
        "2",
        "--keep-going",
        *[f"results/ingest/{s}/qc.json" for s in subjects],
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    # S03 (no readable image) is an expected data problem: excluded, not a failed job.
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # One job per chunk of subjects (subjects_per_job) of a role set, by the rule of the set.
    for rule, subject in [
        ("ingest_cine_lge_labels", "S01"),
        ("ingest_cine", "S02"),
        ("ingest_cine_labels", "S04"),
        ("ingest_cine_t2", "S05"),
    ]:
        assert re.search(
            rf"rule {rule}_chunk0000:\n(?:    .*\n)*?    output: .*"
            rf"results/ingest/{subject}/qc.json",
            output,
        ), f"{subject} not ingested by {rule}"
    out = tmp_path / "results" / "ingest"
    assert sorted(p.name for p in (out / "S01").iterdir() if not p.name.startswith(".")) == [
        "cine.json",
        "cine.nii.gz",
        "labels.nii.gz",
        "lge.json",
        "lge.nii.gz",
        "qc.json",
        "status.json",
    ]
    np.testing.assert_array_equal(nib.load(out / "S01" / "labels.nii.gz").dataobj, labels)
    qc = json.loads((out / "S01" / "qc.json").read_text())
    assert {"cine", "lge", "labels"} <= set(qc) and qc["labels"]["labels_present"] == [0, 2]
    assert sorted(p.name for p in (out / "S02").iterdir() if not p.name.startswith(".")) == [
        "cine.json",
        "cine.nii.gz",
        "qc.json",
        "status.json",
    ]
    assert json.loads((out / "S02" / "qc.json").read_text())["cine"]["shape"] == [10, 12, 5, 6]
    # Labels of a subject without LGE lie on its cine grid.
    np.testing.assert_array_equal(nib.load(out / "S04" / "labels.nii.gz").dataobj, cine_labels)
    assert not (out / "S04" / "lge.nii.gz").exists()
    log = (tmp_path / "logs" / "ingest" / "S03.log").read_text()
    assert "subject S03: study folder" in log and "no readable DICOM image among 1 files" in log
    status = json.loads((out / "S03" / "status.json").read_text())
    assert (status["status"], status["stage"]) == ("excluded", "ingest")
    assert "no readable DICOM image" in status["reason"]
    assert json.loads((out / "S01" / "status.json").read_text())["status"] == "analysed"
    assert (tmp_path / "benchmarks" / "ingest" / "ingest_cine_lge_labels_chunk0000.tsv").is_file()
    assert sorted(p.name for p in (out / "S05").iterdir() if not p.name.startswith(".")) == [
        "cine.json",
        "cine.nii.gz",
        "qc.json",
        "status.json",
        "t2.json",
        "t2.nii.gz",
    ]
    np.testing.assert_array_equal(nib.load(out / "S05" / "t2.nii.gz").dataobj, t2.volume)
    assert json.loads((out / "S05" / "qc.json").read_text())["t2"]["role"] == "t2"


def test_ingest_outputs_follow_the_sheet_row():
    from cine2lge.dicom.outputs import (
        ingest_paths,
        ingest_sources,
        output_patterns,
        series_uids,
        subjects_by_roles,
    )

    full = {"cine": "a", "lge": "a", "myo": "m.nii.gz"}
    assert set(ingest_paths(full, "S1")) == {"cine", "cine_json", "lge", "lge_json", "labels", "qc"}
    assert set(ingest_paths({"cine": "a", "lge": "", "myo": ""}, "S2")) == {
        "cine",
        "cine_json",
        "qc",
    }
    assert ingest_paths({"cine": "a", "lge": "", "myo": "m"}, "S3")["labels"] == (
        "results/ingest/S3/labels.nii.gz"
    )
    assert output_patterns(("cine",))["cine"] == "results/ingest/{subject}/cine.nii.gz"
    assert ingest_sources({"cine": "c", "lge": "", "myo": "m"}) == {"cine": "c", "labels": "m"}
    assert ingest_sources(full) == {"cine": "a", "lge": "a", "labels": "m.nii.gz"}
    assert series_uids({"cine": "a", "lge_series": "1.2;1.3"}) == {
        "cine": "",
        "lge": "1.2;1.3",
        "t2": "",
    }
    rows = {"S1": full, "S2": {"cine": "b", "lge": "", "myo": ""}, "S3": full}
    assert subjects_by_roles(rows) == {("cine", "lge", "labels"): ["S1", "S3"], ("cine",): ["S2"]}


def test_t2_role_follows_the_sheet_row_and_names_its_rule():
    from cine2lge.dicom.outputs import (
        ingest_paths,
        ingest_sources,
        output_patterns,
        series_uids,
        subject_roles,
        subjects_by_roles,
    )

    full = {"cine": "a", "lge": "a", "t2": "a", "myo": "m.nii.gz", "t2_series": "1.9"}
    assert subject_roles(full) == ("cine", "lge", "t2", "labels")
    paths = ingest_paths(full, "S1")
    assert list(paths) == [
        "cine",
        "cine_json",
        "lge",
        "lge_json",
        "t2",
        "t2_json",
        "labels",
        "qc",
    ]
    assert (paths["t2"], paths["t2_json"]) == (
        "results/ingest/S1/t2.nii.gz",
        "results/ingest/S1/t2.json",
    )
    assert output_patterns(("cine", "t2"))["t2"] == "results/ingest/{subject}/t2.nii.gz"
    assert ingest_sources({"cine": "c", "t2": "t.nii.gz"}) == {"cine": "c", "t2": "t.nii.gz"}
    assert series_uids(full)["t2"] == "1.9"
    rows = {
        "S1": full,
        "S2": {"cine": "b", "lge": "b", "t2": "", "myo": "m"},
        "S3": {"cine": "c", "t2": "c"},
        "S4": full,
    }
    groups = subjects_by_roles(rows)
    assert groups == {
        ("cine", "lge", "t2", "labels"): ["S1", "S4"],
        ("cine", "lge", "labels"): ["S2"],
        ("cine", "t2"): ["S3"],
    }
    # Every subject in exactly one group; rule names are valid identifiers.
    assert sorted(s for members in groups.values() for s in members) == sorted(rows)
    names = ["ingest_" + "_".join(roles) for roles in groups]
    assert names[0] == "ingest_cine_lge_t2_labels" and all(n.isidentifier() for n in names)


def test_subjects_regex_matches_exactly_its_subjects():
    from cine2lge.dicom.outputs import subjects_regex

    pattern = re.compile(f"(?:{subjects_regex(['S1', 'S1-b', 'a.b'])})$")
    assert all(pattern.match(s) for s in ("S1", "S1-b", "a.b"))
    assert not any(pattern.match(s) for s in ("S10", "S1-", "axb", ""))
    assert not re.match(f"(?:{subjects_regex([])})$", "S1")
