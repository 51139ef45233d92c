"""Simulated upstream outputs (ingest, preprocess, model, quantify) for report-stage tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cine2lge.exclusion import ANALYSED, write_status
from cine2lge.phantom.cohort import demo_sheet

N_SLICES, SIZE = 8, 32


def write_subject(root: Path, subject: str, split: str, rng, with_model: bool) -> list[tuple]:
    """Write one subject's upstream files; returns its lesions.tsv rows."""
    (root / "results/ingest" / subject).mkdir(parents=True, exist_ok=True)
    for kind in ("cine", "lge"):
        sidecar = {
            "Manufacturer": ["SIEMENS", "Philips"][hash(split) % 2],
            "MagneticFieldStrength": [1.5, 3.0][int(rng.integers(2))],
            "PatientAgeYears": float(rng.integers(30, 80)),
            "PatientSex": ["F", "M"][int(rng.integers(2))],
        }
        (root / f"results/ingest/{subject}/{kind}.json").write_text(json.dumps(sidecar))
    yy, xx = np.mgrid[:SIZE, :SIZE] - SIZE / 2
    radius = np.hypot(yy, xx)
    labels_yx = np.where((radius > 6) & (radius < 10), 2, np.where(radius <= 6, 1, 0))
    has_scar = rng.random() < 0.6
    scar_slices = set(rng.choice(N_SLICES, 3, replace=False)) if has_scar else set()
    labels_syx = np.repeat(labels_yx[None], N_SLICES, axis=0).astype(np.int16)
    for s in scar_slices:
        labels_syx[s][(labels_yx == 2) & (xx > 0) & (yy > 0)] = 5
    lge_syx = (
        0.2
        + 0.7 * (labels_syx == 5)
        + 0.3 * (labels_syx == 1)
        + rng.normal(0, 0.03, labels_syx.shape)
    ).astype(np.float32)
    lgelike_syx = np.clip(lge_syx + rng.normal(0, 0.08, lge_syx.shape), 0, 1).astype(np.float32)
    paired = root / f"results/preprocess/{subject}"
    paired.mkdir(parents=True, exist_ok=True)
    np.savez(
        paired / "paired.npz",
        cine_styx=rng.random((N_SLICES, 2, SIZE, SIZE)),
        lge_syx=lge_syx,
        labels_syx=labels_syx,
        slice_index=np.arange(N_SLICES),
        paired=np.ones(N_SLICES, bool),
    )
    rows = []
    if not with_model:
        return rows
    model = root / f"results/model/{subject}"
    model.mkdir(parents=True, exist_ok=True)
    probability_syx = np.clip((labels_syx == 5) * 0.8 + rng.normal(0, 0.1, lge_syx.shape), 0, 1)
    np.savez(
        model / "prediction.npz",
        lgelike_syx=lgelike_syx,
        enhancement_prob_syx=probability_syx.astype(np.float32),
    )
    slice_probability = [
        min(1.0, max(0.0, (0.75 if s in scar_slices else 0.25) + rng.normal(0, 0.15)))
        for s in range(N_SLICES)
    ]
    pd.DataFrame(
        {"subject": subject, "slice": range(N_SLICES), "probability": slice_probability}
    ).to_csv(model / "slice_probability.tsv", sep="\t", index=False)
    for source in ("lge", "lgelike", "probability", "truth"):
        for lesion_class in ("hyperintense", "intermediate", "total"):
            per_slice = np.array([1.2 if s in scar_slices else 0.0 for s in range(N_SLICES)])
            per_slice *= 0.5 if lesion_class == "intermediate" else 1.0
            if source != "truth":
                per_slice = np.clip(per_slice + rng.normal(0, 0.2, N_SLICES), 0, None)
            rows.append(
                (
                    subject,
                    source,
                    lesion_class,
                    "subject",
                    "all",
                    per_slice.sum(),
                    100 * per_slice.sum() / 80,
                )
            )
            rows += [
                (subject, source, lesion_class, "slice", str(s), v, 100 * v / 80)
                for s, v in enumerate(per_slice)
            ]
            rows += [
                (
                    subject,
                    source,
                    lesion_class,
                    "segment",
                    str(g),
                    per_slice.sum() / 16 * (g % 3),
                    100 * per_slice.sum() / 16 * (g % 3) / 80,
                )
                for g in range(1, 17)
            ]
    return rows


def simulate_results(root: Path, n_subjects: int = 16, seed: int = 0) -> pd.DataFrame:
    """All upstream outputs the report stage reads, for the demo sheet of `n_subjects`."""
    rng = np.random.default_rng(seed)
    sheet = demo_sheet(n_subjects)
    rows = []
    for subject, split in zip(sheet["subject"], sheet["split"], strict=True):
        rows += write_subject(
            root, subject, split, rng, with_model=split in ("internal_test", "external_test")
        )
        # Every stage's status record (cine2lge.exclusion): the subject was analysed.
        for stage in ("ingest", "preprocess", "segment", "model", "quantify"):
            record = {"subject": subject, "split": split, "stage": stage, "status": ANALYSED}
            write_status(root / "results" / stage / subject / "status.json", record)
    lesions = pd.DataFrame(
        rows,
        columns=["subject", "source", "class", "region", "region_id", "volume_ml", "percent_lv"],
    )
    lesions["mass_g"] = lesions["volume_ml"] * 1.05
    (root / "results/tables").mkdir(parents=True, exist_ok=True)
    lesions.to_csv(root / "results/tables/lesions.tsv", sep="\t", index=False)
    return sheet


@pytest.fixture
def simulated_results(tmp_path) -> Path:
    simulate_results(tmp_path)
    return tmp_path
