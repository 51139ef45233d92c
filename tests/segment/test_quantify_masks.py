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


def write_segmented_subject(folder, raw_syx, settings=None):
    """paired.npz (LGE), geometry.json and masks.npz as the segment stage writes them."""
    from cine2lge.segment.postprocess import PostprocessSettings, clean_stack
    from cine2lge.segment.predict import qc_arrays

    cleaned, qc = clean_stack(raw_syx, settings or PostprocessSettings())
    rng = np.random.default_rng(0)
    lge_syx = np.where(raw_syx == 2, 0.2, 0.6) + rng.normal(0, 0.02, raw_syx.shape)
    np.savez(folder / "paired.npz", lge_syx=lge_syx.astype(np.float32))
    slice_index = np.arange(len(raw_syx)) + 4
    np.savez(
        folder / "masks.npz",
        labels_syx=cleaned.astype(np.int16),
        slice_index=slice_index,
        **qc_arrays(qc),
    )
    (folder / "geometry.json").write_text(json.dumps(geometry(len(raw_syx))))
    return cleaned, qc


def quantify(folder, subject):
    return quantify_subject(
        subject,
        folder / "paired.npz",
        folder / "geometry.json",
        None,
        SCHEME,
        SETTINGS,
        folder / "lesions.tsv",
        folder / "bullseye.png",
        segmentation_path=folder / "masks.npz",
    )


def open_ring(k):
    classes = ring_classes(64, (32, 32), 9 - k, 15 - k)
    classes[16:49, 36:50] = 0  # lateral wall missing: stays open
    return classes


def test_open_rings_lose_the_slice_not_the_subject(tmp_path, caplog):
    rings = [ring_classes(64, (32, 32), 9 - k, 15 - k) for k in range(4)]
    raw_syx = np.stack([rings[0], open_ring(1), rings[2], rings[3]])
    cleaned, qc = write_segmented_subject(tmp_path, raw_syx)
    assert qc["status"].tolist() == ["ok", "open", "ok", "ok"]
    with caplog.at_level("WARNING"):
        table = quantify(tmp_path, "P4")
    slices = table[(table["region"] == "slice") & (table["class"] == "total")]
    assert sorted(slices["region_id"].astype(int)) == [0, 2, 3]  # slice 1 left out
    subject = table[(table["region"] == "subject") & (table["class"] == "total")].iloc[0]
    voxel_ml = 8.0 * 1.5 * 1.5 / 1000
    usable_px = sum((rings[s] == 2).sum() for s in (0, 2, 3))
    assert subject["myocardium_ml"] == pytest.approx(usable_px * voxel_ml)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # 3 of 4: coverage ok


def test_masks_qc_decides_which_slices_are_quantified(tmp_path):
    from cine2lge.quantify.myocardium import read_predicted_masks

    rings = np.stack([ring_classes(64, (32, 32), 9 - k, 15 - k) for k in range(3)])
    np.savez(
        tmp_path / "masks.npz",
        labels_syx=rings.astype(np.int16),
        usable_s=np.array([True, False, True]),
        status_s=np.array(["ok", "open", "ok"]),
        reason_s=np.array(["closed ring", "ring still open", "closed ring"]),
        coverage=np.array(2 / 3),
        flag=np.array("ok"),
    )
    predicted = read_predicted_masks("P5", tmp_path / "masks.npz")
    assert not predicted[1].any() and np.array_equal(predicted[[0, 2]], rings[[0, 2]])
    np.savez(tmp_path / "old.npz", labels_syx=rings.astype(np.int16))  # no QC arrays: as is
    assert np.array_equal(read_predicted_masks("P5", tmp_path / "old.npz"), rings)


def test_no_usable_slice_fails_naming_subject_slices_and_reasons(tmp_path):
    raw_syx = np.stack([open_ring(0), open_ring(1), np.zeros((64, 64), np.uint8)])
    write_segmented_subject(tmp_path, raw_syx)
    with pytest.raises(MyocardiumUnavailable) as error:
        quantify(tmp_path, "P6")
    message = str(error.value)
    assert message.startswith("subject P6: no usable slice in the predicted masks")
    assert "slice 0 (source 4): open (ring still open after closing" in message
    assert "slice 1 (source 5): open" in message
    assert "slice 2 (source 6): no_myocardium (no myocardium predicted)" in message
    assert "results/segment/P6/qc.tsv" in message
    assert not (tmp_path / "lesions.tsv").exists()


def test_low_coverage_is_quantified_with_a_warning(tmp_path, caplog):
    raw_syx = np.stack([ring_classes(64, (32, 32), 9, 15)] + [open_ring(k) for k in (1, 2, 3)])
    _, qc = write_segmented_subject(tmp_path, raw_syx)
    assert set(qc["flag"]) == {"low_coverage"} and qc.loc[0, "coverage"] == 0.25
    with caplog.at_level("WARNING"):
        table = quantify(tmp_path, "P7")
    assert set(table.loc[table["region"] == "slice", "region_id"].astype(int)) == {0}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith(
        "subject P7: predicted myocardium flagged low_coverage: quantified on 1 slice(s) [0],"
        " coverage 0.25 of the LV slices"
    )
