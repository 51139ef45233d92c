"""Percentile normalisation and cyclic resampling in time."""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.preprocess.normalise import percentile_normalise, resample_frames


def test_percentiles_map_to_unit_range_and_clip():
    values = np.arange(101, dtype=np.float32)  # percentile p == value p
    normalised, (low, high) = percentile_normalise(values, (10, 90))
    assert (low, high) == (10.0, 90.0)
    assert normalised[10] == 0.0 and normalised[90] == 1.0 and normalised[50] == 0.5
    assert normalised[0] == 0.0 and normalised[100] == 1.0  # clipped


def test_percentiles_respect_mask():
    values = np.array([0.0, 0.0, 10.0, 20.0], np.float32)
    mask = np.array([False, False, True, True])
    normalised, (low, high) = percentile_normalise(values, (0, 100), mask)
    assert (low, high) == (10.0, 20.0)
    np.testing.assert_array_equal(normalised, [0, 0, 0, 1])


def test_constant_image_becomes_zero():
    normalised, _ = percentile_normalise(np.full(5, 7.0), (1, 99))
    assert np.all(normalised == 0)


def test_cyclic_upsampling_wraps_last_to_first():
    frames = np.array([0.0, 10.0, 20.0, 30.0], np.float32).reshape(1, 4, 1, 1)
    out = resample_frames(frames, 8)[0, :, 0, 0]
    # Frame 7 lies halfway between the last phase (30) and the first (0) of the next cycle.
    np.testing.assert_allclose(out, [0, 5, 10, 15, 20, 25, 30, 15])


def test_downsampling_takes_phases_at_even_times():
    frames = np.arange(20, dtype=np.float32).reshape(1, 20, 1, 1)
    np.testing.assert_allclose(resample_frames(frames, 8)[0, :, 0, 0], np.arange(8) * 2.5)


@pytest.mark.parametrize(("source", "target"), [(1, 8), (25, 1), (1, 1)])
def test_single_phase_in_or_out(source, target):
    frames = np.arange(source, dtype=np.float32).reshape(1, source, 1, 1) + 3
    out = resample_frames(frames, target)
    assert out.shape == (1, target, 1, 1)
    assert np.all(out == 3)  # the first phase (end diastole) is kept/repeated
