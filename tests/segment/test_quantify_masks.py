"""Quantification of a subject without labels on the segmentation stage's masks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cine2lge.quantify.myocardium import MyocardiumUnavailable, subject_myocardium
from cine2lge.quantify.subject import quantify_subject

from .rings import ring_classes

SCHEME = {
    "blood_pool": [1],
    "myocardium": [2, 4, 5],
    "right_ventricle": [3],
    "intermediate": [4],
    "hyperintense": [5],
}
SETTINGS = {
    "hyperintense": {"method": "nsd", "n_sd": 5},
    "intermediate": {"method": "nsd", "n_sd": 2},
    "min_component_mm2": 10.0,
    "remote": {"scope": "slice", "min_pixels": 20, "segments": []},
    "aha": {"base_first": "auto", "direction": "auto", "fallback_septum_deg": 180.0},
}


def geometry(n_slices):
    direction = np.stack([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]], 1).tolist()
    rows = [
        {
            "spacing_mm": [1.5, 1.5, 6.0],
            "direction": direction,
            "centre_mm": [0.0, 0.0, 8.0 * k],
            "origin_mm": [0.0, 0.0, 8.0 * k],
        }
        for k in range(n_slices)
    ]
    return {"grid_size": 64, "lge": {"rows": rows}}


def test_predicted_masks_replace_missing_labels(tmp_path):
    classes_syx = np.stack([ring_classes(64, (32, 32), 9 - k, 15 - k) for k in range(4)])
    rng = np.random.default_rng(0)
    lge_syx = np.where(classes_syx == 2, 0.2, 0.6) + rng.normal(0, 0.02, classes_syx.shape)
    lge_syx[:, 18:24, 28:36] = 0.95  # bright anterior wall: a lesion
    np.savez(tmp_path / "paired.npz", lge_syx=lge_syx.astype(np.float32))
    np.savez(tmp_path / "masks.npz", labels_syx=classes_syx.astype(np.int16))
    (tmp_path / "geometry.json").write_text(json.dumps(geometry(4)))
    quantify_subject(
        "P1",
        tmp_path / "paired.npz",
        tmp_path / "geometry.json",
        None,
        SCHEME,
        SETTINGS,
        tmp_path / "lesions.tsv",
        tmp_path / "bullseye.png",
        segmentation_path=tmp_path / "masks.npz",
    )
    table = pd.read_csv(tmp_path / "lesions.tsv", sep="\t")
    assert set(table["myocardium_source"]) == {"predicted"}
    assert set(table["source"]) == {"lge"}  # predicted masks are never "truth"
    subject = table[(table["region"] == "subject") & (table["class"] == "total")].iloc[0]
    voxel_ml = 8.0 * 1.5 * 1.5 / 1000
    assert subject["myocardium_ml"] == pytest.approx((classes_syx == 2).sum() * voxel_ml)
    assert subject["volume_ml"] > 0


def test_subject_myocardium_sources_and_errors():
    classes = ring_classes(32, (16, 16), 5, 8)[None]
    labels = classes.astype(np.int16)
    mask, source = subject_myocardium("S1", labels, SCHEME, predicted_syx=np.zeros_like(labels))
    assert source == "labels" and mask.sum() == (classes == 2).sum()  # labels win
    mask, source = subject_myocardium("S1", None, SCHEME, predicted_syx=labels)
    assert source == "predicted" and mask.sum() == (classes == 2).sum()
    with pytest.raises(MyocardiumUnavailable, match="subject S2: the predicted masks have no"):
        subject_myocardium("S2", None, SCHEME, predicted_syx=np.zeros_like(labels))
    with pytest.raises(MyocardiumUnavailable, match="subject S3: no myocardium labels"):
        subject_myocardium("S3", None, SCHEME)
