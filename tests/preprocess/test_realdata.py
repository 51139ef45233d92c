"""Localisation on every real subject in ../shared/data: LV centre within 10 mm of the expert
myocardium centre (MyoPS labels, Sunnybrook contours, CineMyoPS labels).
Figures: docs/preprocess.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.preprocess.localise import localise_lv

from . import realdata

MYOPS = [f"{n}" for n in range(101, 126)]
SUNNYBROOK = ["SCD0000101", "SCD0000201", "SCD0000301"]
TOLERANCE_MM = 10.0

pytestmark = pytest.mark.realdata


def _check(cine, centres):
    axis = localise_lv(cine)
    distance, per_slice = realdata.in_plane_distance_mm(axis, cine, centres)
    assert distance < TOLERANCE_MM, f"LV centre {distance:.1f} mm from the expert centre"
    return distance, per_slice


@pytest.mark.parametrize("number", MYOPS)
def test_myops_single_frame(shared_data, number):
    cine, centres = realdata.myops(shared_data, number)
    assert cine.n_frames == 1  # the single-frame fallback is what is tested here
    _check(cine, centres)


@pytest.mark.parametrize("patient", SUNNYBROOK)
def test_sunnybrook_cine(shared_data, patient):
    cine, centres = realdata.sunnybrook(shared_data, patient)
    assert cine.n_frames == 20
    _check(cine, centres)


def test_cinemyops(shared_data):
    cine, centres = realdata.cinemyops(shared_data)
    assert cine.data_xyst.shape == (103, 98, 10, 17)
    _check(cine, centres)


def test_myops_crop_keeps_the_myocardium(shared_data):
    """Full subject on MyoPS 101 (cine T=1, LGE, labels): the whole myocardium lies inside the
    128 mm crop and the labels come back onto the LGE grid through geometry."""
    from cine2lge.preprocess.crop import crop_to_source
    from cine2lge.preprocess.subject import Settings, preprocess_subject
    from cine2lge.preprocess.volume import SourceVolume

    root = shared_data / "myops2020"
    settings = Settings(128.0, 64, 1, (1.0, 99.0), 5.0, False, True, 40.0, 15.0)
    result = preprocess_subject(
        "myops101",
        root / "images/myops_training_101_C0.nii.gz",
        settings,
        root / "images/myops_training_101_DE.nii.gz",
        root / "labels/myops_training_101_gd.nii.gz",
        realdata.MYOPS_MYOCARDIUM,
    )
    assert result.arrays["cine_styx"].shape == (5, 1, 64, 64)
    assert result.arrays["paired"].all()  # same grid: every slice pairs at distance 0
    np.testing.assert_allclose(result.pairs["distance_mm"], 0.0, atol=0.01)
    # Same grid, same scan: the registration may correct little.
    assert np.abs(result.pairs[["shift_x_mm", "shift_y_mm"]].to_numpy()).max() < 6.0
    source = SourceVolume.load(root / "labels/myops_training_101_gd.nii.gz", np.int16)
    myocardium = np.isin(source.data_xyst[..., 0], realdata.MYOPS_MYOCARDIUM)
    cropped = np.isin(result.arrays["labels_syx"], realdata.MYOPS_MYOCARDIUM)
    # Pixel area ratio (2 mm vs 0.73 mm) — all of the myocardium is inside the crop.
    area_ratio = cropped.sum() * 4.0 / (myocardium.sum() * float(np.prod(source.spacing_mm[:2])))
    assert 0.9 < area_ratio < 1.1
    back = crop_to_source(result.arrays["labels_syx"], result.geometry, which="lge")
    back_myo = np.isin(back, realdata.MYOPS_MYOCARDIUM)
    dice = 2 * (back_myo & myocardium).sum() / (back_myo.sum() + myocardium.sum())
    assert dice > 0.8  # 2 mm crop pixels vs 0.73 mm source: boundary voxels differ
