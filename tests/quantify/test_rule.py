"""Stage test: rule quantify_lesions and quantify_cohort on prepared inputs in a temp directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cine2lge.chunks import SubjectJob, write_record
from cine2lge.exclusion import ANALYSED, read_status, write_status

from .rings import lge_image, ring, sector
from .test_subject import geometry

BIN = Path(sys.executable).parent


def write_inputs(workdir: Path, subject: str, with_prediction: bool) -> None:
    myocardium, blood, rv = ring()
    core = np.repeat(sector(60, 120)[None], 6, 0) & myocardium
    labels = np.zeros(myocardium.shape, np.int16)
    labels[blood], labels[rv], labels[myocardium], labels[core] = 1, 3, 2, 5
    lge = lge_image(myocardium, core, np.zeros_like(core))
    folder = workdir / "results" / "preprocess" / subject
    folder.mkdir(parents=True)
    np.savez(folder / "paired.npz", lge_syx=lge, labels_syx=labels)
    (folder / "geometry.json").write_text(json.dumps(geometry(6)))
    # The preprocess stage's status record (cine2lge.exclusion): this subject was analysed.
    write_status(
        folder / "status.json", {"subject": subject, "status": ANALYSED, "stage": "preprocess"}
    )
    if with_prediction:
        model = workdir / "results" / "model" / subject
        model.mkdir(parents=True)
        np.savez(model / "prediction.npz", lgelike_syx=lge, enhancement_prob_syx=core * 0.9)
        write_status(
            model / "status.json", {"subject": subject, "status": ANALYSED, "stage": "model"}
        )


def write_chunk_record(workdir: Path, chunk_rule: str, stage: str, subjects: list[str]) -> None:
    """The record of an upstream chunk job (cine2lge.chunks): the declared input of the quantify
    chunk, written after the statuses of its subjects."""
    statuses = [f"results/{stage}/{s}/status.json" for s in subjects]
    write_record(
        workdir / "results" / "chunks" / f"{chunk_rule}.json",
        stage,
        [
            SubjectJob(subject=s, output={"status": p})
            for s, p in zip(subjects, statuses, strict=True)
        ],
        [read_status(workdir / p) for p in statuses],
    )


@pytest.mark.slow
def test_rules_write_subject_and_cohort_tables(repo, tmp_path):
    shutil.copytree(repo / "config", tmp_path / "config")
    sheet = pd.read_csv(tmp_path / "config/subjects.tsv", sep="\t", dtype=str)
    sheet = sheet[sheet["subject"].isin(["demo0001", "demo0002"])]  # train + internal_test
    sheet.to_csv(tmp_path / "config/subjects.tsv", sep="\t", index=False)
    write_inputs(tmp_path, "demo0001", with_prediction=False)
    write_inputs(tmp_path, "demo0002", with_prediction=True)
    write_chunk_record(
        tmp_path, "preprocess_subject_chunk0000", "preprocess", ["demo0001", "demo0002"]
    )
    write_chunk_record(tmp_path, "predict_subject_chunk0000", "model", ["demo0002"])
    command = [str(BIN / "snakemake"), "-s", str(repo / "Snakefile"), "-d", str(tmp_path), "-c1"]
    # quantify_lesions: the stage token; quantify_lesions_chunk0000: both subjects (one chunk).
    command += [
        "--allowed-rules",
        "quantify_lesions",
        "quantify_lesions_chunk0000",
        "quantify_cohort",
    ]
    command += ["--", "results/tables/lesions.tsv"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cohort = pd.read_csv(tmp_path / "results/tables/lesions.tsv", sep="\t", dtype=str)
    sources = cohort.groupby("subject")["source"].agg(lambda s: sorted(set(s)))
    assert sources["demo0001"] == ["lge", "truth"]
    assert sources["demo0002"] == ["lge", "lgelike", "probability", "truth"]
    assert (tmp_path / "results/quantify/demo0002/bullseye.png").stat().st_size > 10_000
    assert "quantified in" in (tmp_path / "logs/quantify/demo0002.log").read_text()
