"""Render a planned subject: short-axis stacks (cine, LGE, optional T2), the 4-chamber cine and
the localiser.

Intensities here are noise-free relative signals; `acquire` adds the scanner (bias, Rician
noise, gain). Arrays: `*_spyx` is (slice, phase, y=row, x=column).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cine2lge.phantom.anatomy import (
    CINE_CONTRAST,
    HYPERINTENSE,
    INTERMEDIATE,
    LGE_CONTRAST,
    MYOCARDIUM,
    T2_CONTRAST,
    composite,
    render_heart,
    render_torso,
    torso_layers,
)
from cine2lge.phantom.motion import LGE_TRIGGER_FRACTION, contraction, phase_fractions
from cine2lge.phantom.plan import N_PHASES, SubjectPlan
from cine2lge.phantom.scanner import bias_field, rician


@dataclass
class Plane:
    """A single image plane (for series outside the short-axis stack)."""

    position_lps: np.ndarray
    row_cosine: np.ndarray
    column_cosine: np.ndarray
    rows: int
    columns: int
    pixel_mm: float

    def pixel_points(self) -> np.ndarray:
        i = np.arange(self.rows, dtype=float)[:, None, None] * self.pixel_mm
        j = np.arange(self.columns, dtype=float)[None, :, None] * self.pixel_mm
        return self.position_lps + j * self.row_cosine + i * self.column_cosine

    @property
    def orientation(self) -> np.ndarray:
        return np.concatenate([self.row_cosine, self.column_cosine])


def centred_plane(centre_lps, row, column, rows, columns, pixel_mm) -> Plane:
    row, column = np.asarray(row, float), np.asarray(column, float)
    position = (
        np.asarray(centre_lps, float)
        - 0.5 * (columns - 1) * pixel_mm * row
        - 0.5 * (rows - 1) * pixel_mm * column
    )
    return Plane(position, row, column, rows, columns, pixel_mm)


def stack_torso(plan: SubjectPlan) -> list:
    """Torso layers of every short-axis slice (shared by cine and LGE: same positions)."""
    stack = plan.stack
    return [
        torso_layers(stack.pixel_points(k), plan.anatomy, stack.pixel_mm)
        for k in range(len(stack.slice_s))
    ]


def render_short_axis(
    plan: SubjectPlan,
    states: np.ndarray,
    contrast_base: dict,
    shift_lps: np.ndarray | None,
    torso: list | None = None,
    all_labels: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free intensity and labels (slice, state, row, column) of the short-axis stack.

    The heart is only evaluated in a box around the LV axis; `torso` from stack_torso.
    With `all_labels=False` only the first state's labels are kept (saves memory).
    """
    stack, anatomy = plan.stack, plan.anatomy
    contrast = anatomy.contrast(contrast_base)
    states = np.atleast_1d(np.asarray(states, dtype=float))
    n_slices, n_states = len(stack.slice_s), len(states)
    intensity = np.empty((n_slices, n_states, stack.rows, stack.columns), dtype=np.float32)
    n_label_states = n_states if all_labels else 1
    labels = np.zeros((n_slices, n_label_states, stack.rows, stack.columns), dtype=np.int16)
    shift = np.zeros(3) if shift_lps is None else np.asarray(shift_lps, float)
    torso = stack_torso(plan) if torso is None else torso
    for k in range(n_slices):
        background = composite(torso[k], contrast)
        intensity[k] = background
        ci, cj = stack.pixel_of(k, stack.lv_centres_lps[k] + shift)
        half_box = int(np.ceil(anatomy.max_radius_mm(stack.slice_s[k]) / stack.pixel_mm)) + 2
        i0, i1 = max(0, int(ci) - half_box), min(stack.rows, int(ci) + half_box + 1)
        j0, j1 = max(0, int(cj) - half_box), min(stack.columns, int(cj) + half_box + 1)
        box_points = stack.pixel_points(k, i0, i1, j0, j1).reshape(-1, 3)
        box_image, box_labels = _render_heart_near_axis(
            plan,
            anatomy.to_heart(box_points, shift),
            states,
            contrast,
            background[i0:i1, j0:j1].reshape(-1),
            stack.pixel_mm,
            anatomy.max_radius_mm(stack.slice_s[k]),
        )
        intensity[k, :, i0:i1, j0:j1] = box_image.reshape(n_states, i1 - i0, j1 - j0)
        box_labels = box_labels.reshape(n_states, i1 - i0, j1 - j0)
        labels[k, :, i0:i1, j0:j1] = box_labels[:n_label_states]
    return intensity, labels


def _render_heart_near_axis(plan, heart_xyz, states, contrast, background, pixel_mm, radius_mm):
    """render_heart on the points within `radius_mm` of the long axis and between the atria and
    just past the apex; elsewhere the background (labels 0)."""
    anatomy = plan.anatomy
    near = (np.hypot(heart_xyz[:, 0], heart_xyz[:, 1]) < radius_mm) & (
        (heart_xyz[:, 2] > -70.0) & (heart_xyz[:, 2] < anatomy.length_mm + 10.0)
    )
    image = np.repeat(background[None].astype(np.float32), len(states), axis=0)
    labels = np.zeros(image.shape, dtype=np.int16)
    if near.any():
        image[:, near], labels[:, near] = render_heart(
            heart_xyz[near], states, anatomy, plan.lesion, contrast, background[near], pixel_mm
        )
    return image, labels


def render_plane(
    plan: SubjectPlan, plane: Plane, states: np.ndarray, contrast_base: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free intensity and labels (state, row, column) of any plane (whole image)."""
    anatomy = plan.anatomy
    contrast = anatomy.contrast(contrast_base)
    states = np.atleast_1d(np.asarray(states, dtype=float))
    points = plane.pixel_points()
    torso = render_torso(points, anatomy, contrast, plane.pixel_mm).reshape(-1)
    atria_radius_mm = max(
        np.hypot(*atrium.centre_lps[:2]) + atrium.semi_axes_mm.max() for atrium in anatomy.atria
    )
    image, labels = _render_heart_near_axis(
        plan,
        anatomy.to_heart(points.reshape(-1, 3)),
        states,
        contrast,
        torso,
        plane.pixel_mm,
        max(anatomy.max_radius_mm(0.0), atria_radius_mm + 2.0),
    )
    shape = (len(states), plane.rows, plane.columns)
    return image.reshape(shape), labels.reshape(shape)


def acquire(
    plan: SubjectPlan,
    signal: np.ndarray,
    points_lps: np.ndarray,
    snr: float,
    reference: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Scanner output in stored-value units: coil bias x gain x site scale, Rician noise.

    `signal` (..., rows, columns) noise-free; `points_lps` (rows, columns, 3) or broadcastable
    (..., rows, columns, 3); noise sigma = `reference` signal / `snr`; noise drawn from `rng`
    (default the plan's noise stream).
    """
    scale = plan.gain * plan.site.intensity_scale
    bias = bias_field(points_lps, plan.anatomy.origin_lps, plan.bias_coefficients)
    sigma = reference / snr * scale
    rng = plan.streams.noise if rng is None else rng
    return rician(signal * bias * np.float32(scale), sigma, rng)


# Oedema reaches beyond the infarct (the area at risk): this many pixels in-plane, within the wall.
OEDEMA_GROWTH_PX = 2


def t2_short_axis(plan: SubjectPlan, torso: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free dark-blood T2-STIR (slice, row, column) of the short-axis stack and its oedema
    mask. The heart sits where it is in the LGE (same breath-hold shift and cardiac phase), so the
    oedema covers the LGE's truth lesion (core and border zone: every demo infarct is treated as
    recent), grown by OEDEMA_GROWTH_PX pixels into the surrounding myocardium."""
    signal, labels = render_short_axis(
        plan, lge_state(), CONTRASTS["t2"], plan.lge_shift_lps, torso
    )
    signal, labels = signal[:, 0], labels[:, 0]
    lesion = np.isin(labels, (INTERMEDIATE, HYPERINTENSE))
    in_plane = ndimage.generate_binary_structure(2, 1)[None]  # no growth across slices
    grown = ndimage.binary_dilation(lesion, in_plane, iterations=OEDEMA_GROWTH_PX)
    grown &= labels == MYOCARDIUM
    contrast = plan.anatomy.contrast(T2_CONTRAST)
    signal[grown] *= np.float32(contrast["grey"] / contrast["myocardium"])
    return signal, lesion | grown


def cine_states() -> np.ndarray:
    return contraction(phase_fractions(N_PHASES))


def lge_state() -> np.ndarray:
    return contraction(np.array([LGE_TRIGGER_FRACTION]))


def fourch_plane(plan: SubjectPlan) -> Plane:
    """Long-axis plane through the LV axis and the RV: apex at the top, RV on the image left."""
    anatomy = plan.anatomy
    angle = np.deg2rad(anatomy.rv_centre_deg)
    towards_rv = anatomy.axes_lps @ np.array([np.cos(angle), np.sin(angle), 0.0])
    long_axis = anatomy.axes_lps[:, 2]
    centre = anatomy.origin_lps + 0.3 * anatomy.length_mm * long_axis
    site = plan.site
    return centred_plane(
        centre, -towards_rv, -long_axis, site.rows, site.columns, site.pixel_spacing_mm
    )


def localiser_planes(plan: SubjectPlan) -> list[Plane]:
    """Axial, coronal and sagittal planes through the heart (LPS cosines)."""
    centre = plan.anatomy.origin_lps + 0.4 * plan.anatomy.length_mm * plan.anatomy.axes_lps[:, 2]
    cosines = [
        ((1, 0, 0), (0, 1, 0)),
        ((1, 0, 0), (0, 0, -1)),
        ((0, 1, 0), (0, 0, -1)),
    ]
    return [centred_plane(centre, row, column, 256, 256, 1.6) for row, column in cosines]


CONTRASTS = {"cine": CINE_CONTRAST, "lge": LGE_CONTRAST, "t2": T2_CONTRAST}
