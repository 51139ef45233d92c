from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance

from cine2lge.segment.evaluate import (
    cross_validate,
    dice,
    dice_per_class,
    evaluate_subject,
    hd95,
    myops_preprocess_section,
    subject_folds,
    summarise,
)

from . import legacy_metrics
from .rings import ring_classes


def disc(size, radius, centre=None):
    y, x = np.mgrid[:size, :size]
    c = size / 2 if centre is None else centre
    return np.hypot(y - c, x - c) < radius


def test_dice_known_values():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :4] = True  # 40 px
    b[:, 2:8] = True  # 60 px, overlap 20
    assert dice(a, b) == pytest.approx(2 * 20 / 100)
    assert np.isnan(dice(np.zeros(3, bool), np.zeros(3, bool)))
    assert dice(a, np.zeros_like(a)) == 0.0


def test_dice_per_class_of_a_ring():
    truth = ring_classes(32, (16, 16), 5, 8)
    assert dice_per_class(truth, truth) == {
        "blood_pool": 1.0,
        "myocardium": 1.0,
        "right_ventricle": 1.0,
    }


def test_hd95_of_concentric_discs_is_the_radius_difference_in_mm():
    a, b = disc(64, 10), disc(64, 14)
    assert hd95(a[None], b[None], (1.0, 1.0)) == pytest.approx(4.0, abs=0.6)
    assert hd95(a[None], b[None], (2.0, 2.0)) == pytest.approx(8.0, abs=1.2)


def test_hd95_equals_monai_on_one_slice():
    a, b = disc(64, 10), disc(64, 12, centre=35)
    expected = compute_hausdorff_distance(
        torch.from_numpy(a[None, None]).float(),
        torch.from_numpy(b[None, None]).float(),
        percentile=95,
        spacing=1.5,
    ).item()
    assert hd95(a[None], b[None], (1.5, 1.5)) == pytest.approx(expected, rel=1e-6)
    assert hd95(a[None], b[None], (1.5, 0.8)) == pytest.approx(
        compute_hausdorff_distance(
            torch.from_numpy(a[None, None]),
            torch.from_numpy(b[None, None]),
            percentile=95,
            spacing=[1.5, 0.8],
        ).item(),
        rel=1e-6,
    )


def test_evaluate_subject_rows_and_summary():
    truth = np.stack([ring_classes(32, (16, 16), 5, 8), ring_classes(32, (16, 16), 4, 7)])
    shifted = np.roll(truth, 2, axis=2)
    table = evaluate_subject("S1", shifted, truth, (2.0, 2.0))
    assert table["class"].tolist() == ["blood_pool", "myocardium", "right_ventricle"]
    assert table.loc[table["class"] == "blood_pool", "hd95_mm"].item() == pytest.approx(4.0)
    assert (table["dice"] < 1).all() and (table["dice"] > 0.3).all()
    summary = summarise(table)
    assert summary["subjects"].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="subject S1: predicted classes"):
        evaluate_subject("S1", shifted[:1], truth, (2.0, 2.0))


def test_evaluate_cohort_uses_labelled_paired_rows_and_geometry_spacing(tmp_path):
    import json

    import pandas as pd

    from cine2lge.segment.evaluate import evaluate_cohort

    truth = np.stack([ring_classes(32, (16, 16), 5, 8)] * 3)
    labels = truth.astype(np.int16)
    labels[labels == 2] = 4  # demo "intermediate" lesion label counts as myocardium
    labels[2] = 0  # an unlabelled row is not evaluated
    np.savez(tmp_path / "paired.npz", labels_syx=labels, paired=np.array([True, True, True]))
    predicted = truth.copy()
    predicted[1] = 0  # a missed slice
    np.savez(tmp_path / "masks.npz", labels_syx=predicted.astype(np.int16))
    (tmp_path / "geometry.json").write_text(json.dumps({"spacing_mm": 2.0}))
    scheme = {"blood_pool": [1], "myocardium": [2, 4, 5], "right_ventricle": [3]}
    evaluate_cohort(
        ["S1"],
        [tmp_path / "masks.npz"],
        [tmp_path / "paired.npz"],
        [tmp_path / "geometry.json"],
        {"S1": scheme},
        {"S1": "internal_test"},
        tmp_path / "eval.tsv",
        tmp_path / "summary.tsv",
    )
    table = pd.read_csv(tmp_path / "eval.tsv", sep="\t").set_index("class")
    assert table.loc["myocardium", "dice"] == pytest.approx(2 / 3, abs=1e-3)  # 1 of 2 slices
    assert table.loc["myocardium", "slices"] == 2
    far = np.hypot(64, 64)  # the missed slice counts as a miss across the 64 mm field of view
    assert table.loc["myocardium", "hd95_mm"] == pytest.approx(far, rel=0.01)
    summary = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert summary["split"].unique().tolist() == ["internal_test"]


def test_myops_preprocessing_turns_registration_off_without_touching_the_config():
    config = {"fov_mm": 128, "registration": {"enabled": True, "max_shift_mm": 15}}
    section = myops_preprocess_section(config)
    assert section["registration"] == {"enabled": False, "max_shift_mm": 15}
    assert config["registration"]["enabled"] is True
    assert myops_preprocess_section(config, register=True)["registration"]["enabled"] is True


def test_cross_validate_runs_only_the_chosen_folds_on_held_out_subjects(tmp_path):
    from cine2lge.segment.net import SegmentSpec
    from cine2lge.segment.postprocess import PostprocessSettings
    from cine2lge.segment.train import LabelledSlices, SegmentTrainSettings

    from .rings import ring_set

    images, classes = ring_set(12, 32, 0)
    subjects = [f"S{i % 4}" for i in range(12)]
    data = LabelledSlices(images, classes, subjects, list(range(12)))
    spec = SegmentSpec(
        channels=(4, 8), strides=(2,), num_res_units=0, dropout=0.0, image_size=(32, 32)
    )
    settings = SegmentTrainSettings(
        steps=2, batch_size=4, log_every=1, val_every=2, checkpoint_every=2, augment=None
    )
    table = cross_validate(
        data,
        2,
        spec,
        settings,
        PostprocessSettings(),
        dict.fromkeys(subjects, 2.0),
        tmp_path,
        folds=[1],
    )
    held_out = subject_folds(list(dict.fromkeys(subjects)), 2)[1]
    assert set(table["fold"]) == {1}
    assert sorted(table["subject"].unique()) == sorted(held_out)
    assert set(table["stage"]) == {"raw", "postprocessed"}


def _random_stacks(seed: int):
    """Pairs of boolean (slice, y, x) stacks: blobs, shifts, masks touching the border, slices
    with the class in one map only, and empty stacks."""
    rng = np.random.default_rng(seed)
    n, size = rng.integers(1, 5), int(rng.integers(12, 40))
    reference = np.stack(
        [disc(size, rng.uniform(2, size / 2), rng.uniform(0, size)) for _ in range(n)]
    )
    predicted = np.roll(reference, tuple(rng.integers(-3, 4, 2)), axis=(1, 2))
    predicted ^= rng.random(predicted.shape) < 0.05
    if n > 1 and seed % 3 == 0:
        predicted[0] = False  # the class on a slice in the reference only
    if n > 1 and seed % 4 == 0:
        reference[-1] = False  # ... and in the prediction only
    if seed % 7 == 0:
        predicted[:] = False
    if seed % 11 == 0:
        reference[:] = False
    return predicted, reference


@pytest.mark.parametrize("seed", range(24))
def test_monai_metrics_reproduce_the_hand_written_ones(seed):
    predicted, reference = _random_stacks(seed)
    spacing = (1.0, 1.0) if seed % 2 else (1.25, 0.7)
    for p, r in ((predicted, reference), (reference, predicted)):
        np.testing.assert_allclose(dice(p, r), legacy_metrics.dice(p, r), rtol=1e-6)
        np.testing.assert_allclose(
            hd95(p, r, spacing), legacy_metrics.hd95(p, r, spacing), rtol=1e-6
        )
    classes_p = predicted.astype(int) + 2 * np.roll(predicted, 5, axis=2)
    classes_r = reference.astype(int) + 2 * np.roll(reference, 5, axis=2)
    expected = {
        name: legacy_metrics.dice(classes_p == k, classes_r == k)
        for k, name in enumerate(["background", "blood_pool", "myocardium", "right_ventricle"])
        if k
    }
    np.testing.assert_allclose(
        list(dice_per_class(classes_p, classes_r).values()), list(expected.values()), rtol=1e-9
    )


def test_empty_masks_are_explicit():
    empty, blob = np.zeros((2, 16, 16), bool), disc(16, 4)[None].repeat(2, 0)
    # Absent from both: nothing to measure (NaN, left out of means), not MONAI's Dice 1.
    assert np.isnan(dice(empty, empty)) and np.isnan(hd95(empty, empty))
    # Absent from one: Dice 0; the distance to nothing is undefined (NaN), not MONAI's inf.
    assert dice(empty, blob) == 0.0 and dice(blob, empty) == 0.0
    assert np.isnan(hd95(empty, blob)) and np.isnan(hd95(blob, empty))
    # Present in both stacks, on a slice in one map only: a full miss at the FOV diagonal.
    one_slice = blob.copy()
    one_slice[1] = False
    assert hd95(one_slice, blob, (1.0, 2.0)) == pytest.approx(np.hypot(16, 32))
    assert dice_per_class(np.zeros((3, 3), int), np.zeros((3, 3), int)) == pytest.approx(
        {"blood_pool": np.nan, "myocardium": np.nan, "right_ventricle": np.nan}, nan_ok=True
    )
