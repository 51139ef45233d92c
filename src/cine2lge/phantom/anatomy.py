"""Anatomy of the phantom: a torso and a beating heart, evaluated at any world (LPS) points.

The heart lives in its own frame: origin at the LV base centre (end-diastole), x to the lateral
wall (image right in short axis), y to the inferior wall (image down), z along the long axis from
base to apex. In that frame the LV is a pair of truncated half-ellipsoids (endocardium and
epicardium) with an elliptic cross-section, the RV a crescent attached to the LV epicardium
between two insertion angles. Everything is vectorised: one call renders all phases of a slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cine2lge.phantom.lesions import Lesion, angle_difference_deg
from cine2lge.phantom.motion import wall_radii

# Relative signal of each tissue: bSSFP cine (bright blood and fat) and inversion-recovery LGE
# at the myocardial null (dark normal myocardium, bright blood, brightest scar).
CINE_CONTRAST = {
    "air": 0.0,
    "lung": 0.06,
    "fat": 0.85,
    "muscle": 0.28,
    "soft": 0.38,
    "liver": 0.42,
    "spine": 0.25,
    "blood": 1.0,
    "myocardium": 0.3,
    "papillary": 0.32,
    "core": 0.3,
    "grey": 0.3,
}
LGE_CONTRAST = {
    "air": 0.0,
    "lung": 0.03,
    "fat": 0.55,
    "muscle": 0.12,
    "soft": 0.2,
    "liver": 0.25,
    "spine": 0.18,
    "blood": 0.62,
    "myocardium": 0.04,
    "papillary": 0.06,
    "core": 1.0,
    "grey": 0.35,  # between FWHM (50 % of core) and remote + 2 SD, so core and grey zone separate
}
# Dark-blood T2-STIR (demo.t2): blood and fat nulled, short-T2 liver dark; oedema (drawn on the
# core and border-zone masks, see render.t2_short_axis) about twice as bright as remote myocardium.
T2_CONTRAST = {
    "air": 0.0,
    "lung": 0.04,
    "fat": 0.06,
    "muscle": 0.2,
    "soft": 0.32,
    "liver": 0.16,
    "spine": 0.22,
    "blood": 0.04,
    "myocardium": 0.3,
    "papillary": 0.28,
    "core": 0.66,
    "grey": 0.6,
}

# Demo label scheme (config label_schemes.demo).
BACKGROUND, BLOOD_POOL, MYOCARDIUM, RIGHT_VENTRICLE, INTERMEDIATE, HYPERINTENSE = range(6)


@dataclass
class Ellipsoid:
    centre_lps: np.ndarray
    semi_axes_mm: np.ndarray

    def signed_distance(self, points_lps: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm, negative inside) from the level-set gradient."""
        k2 = np.zeros(points_lps.shape[:-1], dtype=np.float32)
        gradient2 = np.zeros_like(k2)
        for axis in range(3):
            scaled = (points_lps[..., axis] - np.float32(self.centre_lps[axis])) / np.float32(
                self.semi_axes_mm[axis]
            )
            k2 += scaled * scaled
            gradient2 += (scaled / np.float32(self.semi_axes_mm[axis])) ** 2
        k = np.sqrt(k2) + np.float32(1e-6)
        return (k - 1.0) * k / np.maximum(np.sqrt(gradient2), np.float32(1e-6))


@dataclass
class Anatomy:
    """One subject's anatomy and motion parameters (all lengths in mm, angles in degrees)."""

    origin_lps: np.ndarray  # LV base centre at end-diastole
    axes_lps: np.ndarray  # columns: heart x (lateral), y (inferior), z (base -> apex)
    length_mm: float  # base to epicardial apex
    endo_radius_mm: float  # end-diastolic endocardial radius at the base
    wall_mm: float  # end-diastolic wall thickness at the base
    ellipticity: float  # ratio of the long to the short cross-section axis
    ellipse_angle_deg: float
    rv_centre_deg: float
    rv_half_span_deg: float  # insertion points at rv_centre +- rv_half_span
    rv_depth_mm: float
    rv_wall_mm: float
    rv_length_s: float  # the RV cavity ends at this long-axis fraction
    epi_fat_mm: float
    papillary_deg: tuple[float, float]
    papillary_radius_mm: float
    thickening: float  # fractional wall thickening of normal myocardium at end-systole
    epi_shrink: float
    long_shortening_mm: float
    rv_contraction: float
    body: Ellipsoid  # axial cross-section (z semi-axis huge)
    subcutaneous_fat_mm: float
    chest_muscle_mm: float
    lungs: tuple[Ellipsoid, Ellipsoid]
    liver: Ellipsoid
    aorta: Ellipsoid
    spine: Ellipsoid
    atria: tuple[Ellipsoid, Ellipsoid]  # in heart coordinates
    contrast_jitter: dict

    @property
    def anterior_insertion_deg(self) -> float:
        return self.rv_centre_deg + self.rv_half_span_deg

    @property
    def inferior_insertion_deg(self) -> float:
        return self.rv_centre_deg - self.rv_half_span_deg

    def max_radius_mm(self, s: float = 0.0) -> float:
        """Bound on the heart's in-plane extent around the LV axis at long-axis position >= s
        minus a margin for systolic descent and plane tilt (for render boxes)."""
        s = max(float(s) - 0.2, 0.0)
        epi = (self.endo_radius_mm + self.wall_mm) * np.sqrt(self.ellipticity) * np.sqrt(1 - s**2)
        rv = self.rv_depth_mm * np.sqrt(max(1.0 - s / self.rv_length_s, 0.0))
        return float(epi + rv + self.rv_wall_mm + self.epi_fat_mm + 8.0)

    def to_heart(self, points_lps: np.ndarray, shift_lps: np.ndarray | None = None) -> np.ndarray:
        """World points (..., 3) -> heart coordinates (..., 3); `shift_lps` moves the heart."""
        origin = self.origin_lps if shift_lps is None else self.origin_lps + shift_lps
        return (points_lps - origin) @ self.axes_lps

    def contrast(self, base: dict) -> dict:
        return {
            tissue: value * self.contrast_jitter.get(tissue, 1.0) for tissue, value in base.items()
        }


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    return vector / np.linalg.norm(vector)


def heart_axes(rng: np.random.Generator) -> np.ndarray:
    """Heart frame in LPS: the long axis points to the left, anterior and inferior."""
    long_axis = _unit(np.array([0.6, -0.5, -0.6]) + rng.normal(0.0, 0.06, 3))
    lateral = np.array([1.0, 0.0, 0.0])
    lateral = _unit(lateral - (lateral @ long_axis) * long_axis)
    inferior = np.cross(long_axis, lateral)
    if inferior[1] < 0:  # image down should point posterior (anterior wall at the top)
        inferior = -inferior
    return np.stack([lateral, inferior, long_axis], axis=1)


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    axes = heart_axes(rng)
    origin = np.array([20.0, 10.0, 0.0]) + rng.normal(0.0, 6.0, 3)
    body_centre = np.array([0.0, 30.0, 0.0]) + rng.normal(0.0, 5.0, 3)
    body_axes = np.array([rng.uniform(150, 185), rng.uniform(105, 125), 1e5])
    wall = rng.uniform(7.0, 11.0)
    jitter = {t: float(rng.uniform(0.9, 1.1)) for t in CINE_CONTRAST if t != "air"}
    return Anatomy(
        origin_lps=origin,
        axes_lps=axes,
        length_mm=float(rng.uniform(85.0, 100.0)),
        endo_radius_mm=float(rng.uniform(18.0, 28.0)),
        wall_mm=float(wall),
        ellipticity=float(rng.uniform(1.0, 1.2)),
        ellipse_angle_deg=float(rng.uniform(0, 180)),
        rv_centre_deg=float(195.0 + rng.normal(0.0, 5.0)),
        rv_half_span_deg=float(rng.uniform(52.0, 64.0)),
        rv_depth_mm=float(rng.uniform(20.0, 32.0)),
        rv_wall_mm=float(rng.uniform(2.5, 4.0)),
        rv_length_s=float(rng.uniform(0.72, 0.85)),
        epi_fat_mm=float(rng.uniform(1.0, 3.5)),
        papillary_deg=(float(-40.0 + rng.normal(0, 8)), float(105.0 + rng.normal(0, 8))),
        papillary_radius_mm=float(rng.uniform(2.5, 4.0)),
        thickening=float(rng.uniform(0.36, 0.44)),
        epi_shrink=float(rng.uniform(0.07, 0.11)),
        long_shortening_mm=float(rng.uniform(6.0, 10.0)),
        rv_contraction=float(rng.uniform(0.2, 0.35)),
        body=Ellipsoid(body_centre, body_axes),
        subcutaneous_fat_mm=float(rng.uniform(6.0, 20.0)),
        chest_muscle_mm=float(rng.uniform(8.0, 14.0)),
        lungs=(
            Ellipsoid(body_centre + [95.0, 0.0, 30.0], np.array([62.0, 80.0, 140.0])),
            Ellipsoid(body_centre + [-85.0, 0.0, 30.0], np.array([65.0, 82.0, 140.0])),
        ),
        liver=Ellipsoid(body_centre + [-55.0, -20.0, -115.0], np.array([115.0, 90.0, 75.0])),
        aorta=Ellipsoid(body_centre + [25.0, 45.0, 0.0], np.array([12.0, 12.0, 1e5])),
        spine=Ellipsoid(body_centre + [0.0, 75.0, 0.0], np.array([20.0, 18.0, 1e5])),
        atria=(
            Ellipsoid(np.array([5.0, 15.0, -30.0]), np.array([24.0, 20.0, 24.0])),
            Ellipsoid(np.array([-48.0, 0.0, -24.0]), np.array([22.0, 22.0, 26.0])),
        ),
        contrast_jitter=jitter,
    )


def _inside(signed_distance_mm: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Partial-volume fraction of a pixel centred at a signed distance from a boundary."""
    return np.clip(np.float32(0.5) - signed_distance_mm / np.float32(pixel_mm), 0.0, 1.0)


def _paint(image: np.ndarray, value, fraction: np.ndarray) -> np.ndarray:
    return image + fraction * (value - image)


def torso_layers(points_lps: np.ndarray, anatomy: Anatomy, pixel_mm: float) -> list:
    """Static surroundings as (tissue, partial-volume fraction) layers, painted in order.

    Contrast-independent, so cine and LGE at the same positions share one evaluation.
    """
    points_lps = points_lps.astype(np.float32)
    body = anatomy.body.signed_distance(points_lps)
    inner = body + anatomy.subcutaneous_fat_mm + anatomy.chest_muscle_mm
    inside_chest = _inside(inner + 3.0, pixel_mm)  # organs stay inside the chest wall
    layers = [
        ("fat", _inside(body, pixel_mm)),
        ("muscle", _inside(body + anatomy.subcutaneous_fat_mm, pixel_mm)),
        ("soft", _inside(inner, pixel_mm)),
    ]
    for lung in anatomy.lungs:
        layers.append(("lung", _inside(lung.signed_distance(points_lps), pixel_mm) * inside_chest))
    layers.append(
        ("liver", _inside(anatomy.liver.signed_distance(points_lps), pixel_mm) * inside_chest)
    )
    layers.append(("blood", _inside(anatomy.aorta.signed_distance(points_lps), pixel_mm)))
    layers.append(("spine", _inside(anatomy.spine.signed_distance(points_lps), pixel_mm)))
    return layers


def composite(layers: list, contrast: dict) -> np.ndarray:
    """Paint (tissue, fraction) layers over air."""
    image = np.zeros(layers[0][1].shape, dtype=np.float32)
    for tissue, fraction in layers:
        image = _paint(image, np.float32(contrast[tissue]), fraction)
    return image


def render_torso(points_lps: np.ndarray, anatomy: Anatomy, contrast: dict, pixel_mm: float):
    """Static surroundings (body wall, lungs, liver, aorta, spine) at world points (..., 3)."""
    return composite(torso_layers(points_lps, anatomy, pixel_mm), contrast)


def render_heart(
    heart_xyz: np.ndarray,
    contraction_states: np.ndarray,
    anatomy: Anatomy,
    lesion: Lesion,
    contrast: dict,
    background: np.ndarray,
    pixel_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity and demo labels of the heart at heart-frame points for each contraction state.

    `heart_xyz` (N, 3), `contraction_states` (P,), `background` (N,) from render_torso.
    Returns intensity (P, N) float32 and labels (P, N) int16.
    """
    heart_xyz = heart_xyz.astype(np.float32)
    qx, qy, qz = heart_xyz[:, 0], heart_xyz[:, 1], heart_xyz[:, 2]
    c = np.asarray(contraction_states, dtype=np.float32)[:, None]
    radius = np.hypot(qx, qy)
    theta = np.degrees(np.arctan2(qy, qx))
    # Base descends towards the fixed apex in systole: a fixed plane sees a different level.
    descent = anatomy.long_shortening_mm * c
    s = (qz - descent) / (anatomy.length_mm - descent)
    in_lv = (s >= 0.0) & (s <= 1.0)
    phi = np.deg2rad(theta - anatomy.ellipse_angle_deg)
    shape = 1.0 / np.sqrt(
        np.cos(phi) ** 2 / anatomy.ellipticity + np.sin(phi) ** 2 * anatomy.ellipticity
    )
    endo_apex_s = 1.0 - 0.6 * anatomy.wall_mm / anatomy.length_mm
    taper_epi = np.sqrt(np.clip(1.0 - s**2, 0.0, 1.0))
    taper_endo = np.sqrt(np.clip(1.0 - (s / endo_apex_s) ** 2, 0.0, 1.0))
    endo_ed = anatomy.endo_radius_mm * shape * taper_endo * in_lv
    epi_ed = (anatomy.endo_radius_mm + anatomy.wall_mm) * shape * taper_epi * in_lv
    core_depth, border_depth = lesion.depths(theta, s)
    # Chronic transmural scar thins the wall.
    epi_ed = endo_ed + (epi_ed - endo_ed) * (1.0 - 0.25 * core_depth)
    impairment = lesion.impairment_field(theta, s)
    endo, epi = wall_radii(endo_ed, epi_ed, c, anatomy.thickening, anatomy.epi_shrink, impairment)

    rv_delta = np.abs(angle_difference_deg(theta, anatomy.rv_centre_deg))
    rv_angular = np.cos(0.5 * np.pi * np.clip(rv_delta / anatomy.rv_half_span_deg, 0.0, 1.0))
    rv_angular = np.clip(rv_angular, 0.0, 1.0) ** 0.6
    rv_long = np.sqrt(np.clip(1.0 - s / anatomy.rv_length_s, 0.0, 1.0)) * (s >= 0.0)
    rv_depth = anatomy.rv_depth_mm * rv_angular * rv_long * (1.0 - anatomy.rv_contraction * c)
    has_rv = rv_depth > 0.5
    rv_outer = epi + rv_depth
    rv_wall_outer = rv_outer + anatomy.rv_wall_mm * has_rv
    fat_thickness = anatomy.epi_fat_mm * (0.4 + 0.6 * np.cos(np.deg2rad(theta - 200.0)) ** 2)
    fat_outer = np.where(has_rv, rv_wall_outer, epi) + fat_thickness

    image = np.broadcast_to(background, (c.shape[0], background.shape[0])).astype(np.float32)
    for atrium in anatomy.atria:
        image = _paint(
            image, contrast["blood"], _inside(atrium.signed_distance(heart_xyz), pixel_mm)
        )
    image = _paint(image, contrast["fat"], _inside(radius - fat_outer, pixel_mm) * (epi > 0))
    image = _paint(image, contrast["muscle"], _inside(radius - rv_wall_outer, pixel_mm) * has_rv)
    image = _paint(image, contrast["blood"], _inside(radius - rv_outer, pixel_mm) * has_rv)
    wall_depth = radius - endo  # mm from the endocardium
    thickness = epi - endo
    core = _inside(wall_depth - core_depth * thickness, pixel_mm) * (core_depth > 0)
    border = np.maximum(
        _inside(wall_depth - border_depth * thickness, pixel_mm) * (border_depth > 0), core
    )
    myocardium = (
        contrast["myocardium"] * (1.0 - border)
        + contrast["grey"] * (border - core)
        + contrast["core"] * core
    )
    image = _paint(image, myocardium, _inside(radius - epi, pixel_mm))
    image = _paint(image, contrast["blood"], _inside(radius - endo, pixel_mm))
    for angle in anatomy.papillary_deg:
        centre = 0.72 * endo
        distance = np.hypot(
            qx - centre * np.cos(np.deg2rad(angle)), qy - centre * np.sin(np.deg2rad(angle))
        )
        present = (endo > 4.0 * anatomy.papillary_radius_mm) & (s > 0.15) & (s < 0.8)
        fraction = _inside(distance - anatomy.papillary_radius_mm, pixel_mm) * present
        image = _paint(image, contrast["papillary"], fraction)

    labels = np.zeros(image.shape, dtype=np.int16)
    labels[has_rv & (radius < rv_outer)] = RIGHT_VENTRICLE
    in_wall = radius < epi
    labels[in_wall] = MYOCARDIUM
    labels[in_wall & (border_depth > 0) & (wall_depth < border_depth * thickness)] = INTERMEDIATE
    labels[in_wall & (core_depth > 0) & (wall_depth < core_depth * thickness)] = HYPERINTENSE
    labels[radius < endo] = BLOOD_POOL
    return image.astype(np.float32), labels
