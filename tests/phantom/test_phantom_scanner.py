"""Scanner model: Rician noise statistics, bias field, storage round trip."""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.phantom.scanner import SITES, Storage, bias_field, rician, storage_for


def test_rician_noise_is_rayleigh_in_air_and_gaussian_on_bright_tissue():
    rng = np.random.default_rng(0)
    air = rician(np.zeros(200_000, np.float32), 10.0, rng)
    assert air.mean() == pytest.approx(10.0 * np.sqrt(np.pi / 2), rel=0.01)
    bright = rician(np.full(200_000, 500.0, np.float32), 10.0, rng)
    assert bright.mean() == pytest.approx(500.1, abs=0.2) and bright.std() == pytest.approx(
        10.0, rel=0.02
    )


def test_bias_field_is_one_at_the_heart_smooth_and_bounded():
    centre = np.array([10.0, 20.0, -5.0])
    coefficients = np.random.default_rng(1).normal(0, 0.4, 9)
    assert bias_field(centre, centre, coefficients) == pytest.approx(1.0)
    line = centre + np.linspace(-150, 150, 301)[:, None] * np.array([1.0, 0.0, 0.0])
    field = bias_field(line, centre, coefficients)
    assert np.all((field >= np.exp(-0.7) - 1e-6) & (field <= np.exp(0.7) + 1e-6))
    assert np.abs(np.diff(field)).max() < 0.02  # smooth over 1 mm steps


def test_storage_round_trip_and_site_c_rescale():
    rng = np.random.default_rng(2)
    storage = storage_for(SITES["siteC"], rng)
    assert storage.slope != 1.0 and storage.intercept < 0
    values = np.array([0.0, 12.5, 1500.0])
    assert np.allclose(storage.decode(storage.encode(values)), values, atol=storage.slope / 2)
    signed = storage_for(SITES["siteB"], rng)
    assert signed.pixel_representation == 1 and (signed.slope, signed.intercept) == (1.0, 0.0)
    assert Storage(np.uint16, 12, 1.0, 0.0).encode(np.array([5000.0, -3.0])).tolist() == [4095, 0]
