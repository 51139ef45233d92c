"""Contraction over the cycle: normal myocardium thickens 30-50 %, infarcted much less."""

from __future__ import annotations

import numpy as np
import pytest

from cine2lge.phantom.motion import contraction, end_systolic_phase, phase_fractions
from cine2lge.phantom.plan import plan_subject
from cine2lge.phantom.render import CONTRASTS, render_short_axis

from .conftest import N_SLICES, SEED


def test_contraction_curve_is_smooth_periodic_with_end_systole_at_a_third():
    curve = contraction(phase_fractions(250))
    assert curve[0] == pytest.approx(0.0, abs=1e-9) and curve.max() == pytest.approx(1.0, abs=1e-3)
    assert 0.3 < np.argmax(curve) / 250 < 0.4
    assert np.all((curve >= 0) & (curve <= 1))
    wrapped = np.diff(np.r_[curve, curve[0]])
    assert np.abs(wrapped).max() < 0.03  # no jump across the RR boundary
    assert end_systolic_phase(25) == 9


def _sector_thickness_mm(labels_yx, centre_ij, pixel_mm, angles_deg, half_deg):
    """Mean wall thickness of a sector from areas: blood and blood+wall -> equivalent radii."""
    rows, columns = np.indices(labels_yx.shape)
    theta = np.degrees(np.arctan2(rows - centre_ij[0], columns - centre_ij[1]))
    delta = (theta - angles_deg + 180) % 360 - 180
    sector = np.abs(delta) <= half_deg
    width = np.deg2rad(2 * half_deg)
    blood = (sector & (labels_yx == 1)).sum() * pixel_mm**2
    wall = (sector & np.isin(labels_yx, [2, 4, 5])).sum() * pixel_mm**2
    return np.sqrt(2 * (blood + wall) / width) - np.sqrt(2 * blood / width)


@pytest.mark.parametrize("subject", ["demo0001", "demo0008"])
def test_wall_thickening_normal_versus_infarct(subject):
    plan = plan_subject(subject, SEED, n_slices=N_SLICES)
    lesion = plan.lesion
    assert lesion.category == "infarct"
    _, labels = render_short_axis(plan, np.array([0.0, 1.0]), CONTRASTS["cine"], None)
    stack = plan.stack
    centre_s = 0.5 * sum(lesion.extent_s)
    k = int(np.argmin(np.abs(stack.slice_s - centre_s)))
    centre_ij = stack.pixel_of(k, stack.lv_centres_lps[k])
    level = ("basal", "mid", "apical")[int(lesion.level_index(stack.slice_s[k]))]
    scar_deg, _ = lesion.arcs_deg[level]
    normal, impaired = [], []
    for angle in np.arange(-180, 180, 20.0):
        impairment = lesion.impairment_field(
            np.array([angle - 20, angle, angle + 20]), np.full(3, stack.slice_s[k])
        )
        ed = _sector_thickness_mm(labels[k, 0], centre_ij, stack.pixel_mm, angle, 20)
        es = _sector_thickness_mm(labels[k, 1], centre_ij, stack.pixel_mm, angle, 20)
        if impairment.max() < 0.01:
            normal.append(es / ed - 1)
        elif abs((angle - scar_deg + 180) % 360 - 180) <= 10:
            impaired.append(es / ed - 1)
    assert len(normal) >= 5 and impaired
    assert 0.3 <= np.median(normal) <= 0.5, normal
    assert max(impaired) < 0.5 * np.median(normal), (impaired, normal)
    # The blood pool shrinks at end-systole.
    assert (labels[k, 1] == 1).sum() < 0.8 * (labels[k, 0] == 1).sum()


def test_every_slice_shows_the_lv_in_every_phase():
    """The base descends in systole; the basal slice must still cut the LV at end-systole."""
    from cine2lge.phantom.render import cine_states

    plan = plan_subject("demo0014", SEED)
    _, labels = render_short_axis(plan, cine_states(), CONTRASTS["cine"], None)
    blood = (labels == 1).sum(axis=(2, 3))
    myocardium = np.isin(labels, [2, 4, 5]).sum(axis=(2, 3))
    assert blood.min() > 0 and myocardium.min() > 0
    # The blood pool of each slice is largest at end-diastole, smallest near end-systole.
    assert np.all(np.argmax(blood, axis=1) <= 1)
    assert np.all(np.abs(np.argmin(blood, axis=1) - end_systolic_phase(25)) <= 2)
