"""Stacks at any resolution onto a learned network's crop grid and back (quantify.regrid)."""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.quantify.regrid import CropGrid, to_crop_grid, to_native


def _disk_stack(shape=(3, 150, 120), centre=(70.0, 55.0), radii_px=(12, 20)):
    yy, xx = np.indices(shape[1:])
    radius = np.hypot(yy - centre[0], xx - centre[1])
    ring = (radius >= radii_px[0]) & (radius < radii_px[1])
    return np.repeat(ring[None], shape[0], 0)


def test_grid_is_read_from_the_weights_input_record():
    grid = CropGrid.from_inputs(
        {"preprocess.fov_mm": 128, "preprocess.grid_size": 64,
         "preprocess.intensity_percentiles": [1, 99]}, 64
    )  # fmt: skip
    assert grid == CropGrid(64, 2.0, (1.0, 99.0))
    assert CropGrid.from_inputs({}, 32) == CropGrid(32, 2.0, (1.0, 99.0))
    assert grid.holds((64, 64), (2.0, 2.0)) and not grid.holds((64, 64), (1.4, 1.4))
    assert not grid.holds((128, 128), (2.0, 2.0))


def test_crops_are_centred_on_the_myocardium_and_keep_its_area_in_mm2():
    ring = _disk_stack()
    spacing = (0.8, 0.8)
    image = np.where(ring, 400.0, 100.0) + 3.0 * np.arange(ring.shape[2])  # scanner units
    placed = to_crop_grid(image, ring, spacing, CropGrid(64, 2.0))
    assert placed.image_syx.shape == placed.myocardium_syx.shape == (3, 64, 64)
    assert placed.image_syx.min() >= 0.0 and placed.image_syx.max() <= 1.0  # percentile-scaled
    native_mm2 = ring[0].sum() * 0.8 * 0.8
    crop_mm2 = placed.myocardium_syx[0].sum() * 2.0 * 2.0
    assert crop_mm2 == pytest.approx(native_mm2, rel=0.1)
    centre = np.argwhere(placed.myocardium_syx[0]).mean(0)
    np.testing.assert_allclose(centre, [31.5, 31.5], atol=1.0)


def test_values_mapped_back_land_on_the_native_pixels():
    ring = _disk_stack()
    placed = to_crop_grid(ring.astype(np.float32), ring, (0.8, 0.8), CropGrid(64, 2.0))
    back = to_native(placed.myocardium_syx.astype(np.float32), placed) > 0.5
    dice = 2 * (back & ring).sum() / (back.sum() + ring.sum())
    assert dice > 0.9
    far = np.zeros_like(ring)
    far[:, 0:5, 0:5] = True  # beyond the 128 mm crop around the ring: nothing comes back
    assert not (back & far).any()


def test_slices_without_myocardium_use_the_mean_centre_and_no_myocardium_is_an_error():
    ring = _disk_stack()
    ring[1] = False
    placed = to_crop_grid(ring.astype(np.float32), ring, (1.0, 1.0), CropGrid(32, 2.0))
    np.testing.assert_allclose(placed.centre_syx[1], placed.centre_syx[0])
    with pytest.raises(ValueError, match="no myocardium"):
        to_crop_grid(ring.astype(np.float32), np.zeros_like(ring), (1.0, 1.0), CropGrid())
