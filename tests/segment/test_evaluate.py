from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance

from cine2lge.segment.evaluate import dice, dice_per_class, evaluate_subject, hd95, summarise

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
    assert dice_per_class(truth, truth) == {"blood_pool": 1.0, "myocardium": 1.0,
                                            "right_ventricle": 1.0}


def test_hd95_of_concentric_discs_is_the_radius_difference_in_mm():
    a, b = disc(64, 10), disc(64, 14)
    assert hd95(a[None], b[None], (1.0, 1.0)) == pytest.approx(4.0, abs=0.6)
    assert hd95(a[None], b[None], (2.0, 2.0)) == pytest.approx(8.0, abs=1.2)


def test_hd95_equals_monai_on_one_slice():
    a, b = disc(64, 10), disc(64, 12, centre=35)
    expected = compute_hausdorff_distance(
        torch.from_numpy(a[None, None]).float(), torch.from_numpy(b[None, None]).float(),
        percentile=95, spacing=1.5,
    ).item()
    assert hd95(a[None], b[None], (1.5, 1.5)) == pytest.approx(expected, rel=0.05)


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
