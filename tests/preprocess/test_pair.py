"""Slice pairing by position and translation registration with a known shift."""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.preprocess.pair import pair_slices, register_translation
from cine2lge.preprocess.volume import SlicePlane


def _stack(positions_mm, tilt_deg=0.0):
    angle = np.radians(tilt_deg)
    u = np.array([np.cos(angle), 0.0, np.sin(angle)])
    v = np.array([0.0, 1.0, 0.0])
    normal = np.cross(u, v)
    return [SlicePlane(p * normal, u, v, np.ones(2), 8.0) for p in positions_mm]


def test_pairs_closest_within_tolerance_and_reports_the_rest():
    cine = _stack([0, 8, 16, 24, 32])
    lge = _stack([1, 10, 17.5, 40])  # 40 is 8 mm from the last cine slice: too far
    centres = [p.origin_mm for p in cine]
    pairs = pair_slices(cine, lge, centres, tolerance_mm=5.0)
    table = {(p.cine_slice, p.lge_slice): (round(p.distance_mm, 3), p.status) for p in pairs}
    assert table[(0, 0)] == (1.0, "paired")
    assert table[(1, 1)] == (2.0, "paired")
    assert table[(2, 2)] == (1.5, "paired")
    assert table[(3, -1)] == (6.5, "unpaired_cine")
    assert table[(4, -1)] == (8.0, "unpaired_cine")
    assert table[(-1, 3)] == (8.0, "unpaired_lge")
    assert len(pairs) == 6


def test_each_lge_slice_pairs_once():
    cine = _stack([0, 2, 4])  # thin cine slices all near one LGE slice
    lge = _stack([2.5])
    pairs = pair_slices(cine, lge, [p.origin_mm for p in cine], tolerance_mm=5.0)
    assert [(p.cine_slice, p.lge_slice) for p in pairs if p.status == "paired"] == [(1, 0)]
    assert sum(p.status == "unpaired_cine" for p in pairs) == 2


def test_planes_at_an_angle_never_pair():
    cine = _stack([0, 8])
    lge = _stack([0, 8], tilt_deg=45)
    pairs = pair_slices(cine, lge, [p.origin_mm for p in cine], tolerance_mm=5.0)
    assert {p.status for p in pairs} == {"unpaired_cine", "unpaired_lge"}


def _ring(shift_mm=(0.0, 0.0), pixel_mm=2.0, n=64, blood=1.0, myo=0.2, background=0.4):
    y, x = np.mgrid[0:n, 0:n] * pixel_mm
    centre = (n - 1) / 2 * pixel_mm
    r = np.hypot(x - centre - shift_mm[0], y - centre - shift_mm[1])
    image = np.full((n, n), background, np.float32)
    image[r < 30] = myo
    image[r < 20] = blood
    image[np.hypot(x - centre - shift_mm[0] + 35, y - centre - shift_mm[1]) < 10] = blood
    return image


@pytest.mark.parametrize("shift", [(4.0, -3.0), (-6.0, 2.0), (0.0, 0.0)])
def test_registration_recovers_known_shift_across_contrasts(shift):
    cine = _ring()
    lge = _ring(shift, blood=0.5, myo=0.05, background=0.3)  # LGE-like contrast, moved heart
    result = register_translation(lge, cine, 2.0, mask_radius_mm=45.0, max_shift_mm=15.0)
    assert result.status == "ok"
    np.testing.assert_allclose(result.shift_mm, shift, atol=1.0)


def test_registration_rejects_implausible_shift():
    cine = _ring()
    lge = _ring((12.0, 0.0), blood=0.5, myo=0.05, background=0.3)
    result = register_translation(lge, cine, 2.0, mask_radius_mm=45.0, max_shift_mm=5.0)
    assert result.status == "rejected"
    np.testing.assert_array_equal(result.shift_mm, [0.0, 0.0])
