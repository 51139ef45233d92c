"""Stage test: the ingest rules on a small sheet in a temporary directory — a subject with cine,
LGE and labels, one with a cine only, and (with --keep-going) one whose study is broken."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .fixtures import write_study

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
    sheet = pd.DataFrame([
        ["S01", "train", "siteA", "studies/S01", "studies/S01", "studies/S01_myo.nii.gz", "demo"],
        ["S02", "predict", "siteA", "studies/S02", "", "", "demo"],
        ["S03", "predict", "siteA", "studies/S03", "", "", "demo"],
    ], columns=["subject", "split", "site", "cine", "lge", "myo", "label_scheme"])
    sheet.to_csv(tmp_path / "config" / "sheet.tsv", sep="\t", index=False)
    command = [str(BIN / "snakemake"), "-s", str(repo / "Snakefile"), "-d", str(tmp_path),
               "--config", "subjects=config/sheet.tsv", "-c", "2", "--keep-going",
               *[f"results/ingest/{s}/qc.json" for s in ("S01", "S02", "S03")]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0  # S03 fails, the others complete
    out = tmp_path / "results" / "ingest"
    assert sorted(p.name for p in (out / "S01").iterdir() if not p.name.startswith(".")) == [
        "cine.json", "cine.nii.gz", "labels.nii.gz", "lge.json", "lge.nii.gz", "qc.json",
        "qc_cine.json", "qc_labels.json", "qc_lge.json",
    ]
    np.testing.assert_array_equal(nib.load(out / "S01" / "labels.nii.gz").dataobj, labels)
    assert not (out / "S02" / "lge.nii.gz").exists()
    assert json.loads((out / "S02" / "qc.json").read_text())["cine"]["shape"] == [10, 12, 5, 6]
    log = (tmp_path / "logs" / "ingest" / "S03_cine.log").read_text()
    assert "subject S03: study folder" in log and "no readable DICOM image among 1 files" in log
    assert (tmp_path / "benchmarks" / "ingest" / "S01_cine.tsv").is_file()


def test_ingest_outputs_follow_the_sheet_row():
    from cine2lge.dicom.outputs import ingest_paths, labels_grid_path, qc_part_paths

    full = {"cine": "a", "lge": "a", "myo": "m.nii.gz"}
    assert set(ingest_paths(full, "S1")) == {"cine", "cine_json", "lge", "lge_json", "labels", "qc"}
    assert set(ingest_paths({"cine": "a", "lge": "", "myo": ""}, "S2")) == {"cine", "cine_json",
                                                                           "qc"}
    assert qc_part_paths({"cine": "a", "lge": "", "myo": "m"}, "S3") == [
        "results/ingest/S3/qc_cine.json", "results/ingest/S3/qc_labels.json"]
    assert labels_grid_path({"cine": "a", "lge": ""}, "S3") == "results/ingest/S3/cine.nii.gz"
    assert labels_grid_path(full, "S1") == "results/ingest/S1/lge.nii.gz"
