"""Infarcts and wall-motion abnormalities of the phantom, placed by coronary territory.

Angles are in degrees in the short-axis image frame: direction cos(a) * x + sin(a) * y with x
along the image rows (to the right) and y down the columns, as displayed (radiological view:
septum and right ventricle on the image left, anterior wall at the top). With the anterior RV
insertion at `anterior_deg`, the AHA basal/mid segments are 60 degree sectors going
counter-clockwise on the display (decreasing angle) from the anterior insertion:
2 anteroseptal, 3 inferoseptal, 4 inferior, 5 inferolateral, 6 anterolateral, 1 anterior
(mid: +6); apical segments are 90 degree sectors centred on the septum (`septum_deg`, the mid
point of the insertions): 14 septal, 15 inferior, 16 lateral, 13 anterior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEVELS = ("basal", "mid", "apical")
TERRITORY_SEGMENTS = {
    "LAD": (1, 2, 7, 8, 13, 14),
    "RCA": (3, 4, 9, 10, 15),
    "LCx": (5, 6, 11, 12, 16),
}
TERRITORY_WEIGHTS = {"LAD": 0.45, "RCA": 0.35, "LCx": 0.20}
# Levels where each territory's infarcts may be placed.
TERRITORY_LEVELS = {
    "LAD": ("basal", "mid", "apical"),
    "RCA": ("basal", "mid", "apical"),
    "LCx": ("basal", "mid", "apical"),
}
# Subject categories: no abnormality, hypokinesis without scar, infarct (scar + hypokinesis).
CATEGORY_PROBABILITIES = {"normal": 0.30, "hypokinesis": 0.15, "infarct": 0.55}
GREY_ZONE_DEG = 8.0  # angular width of the border zone beyond the core


def angle_difference_deg(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """a - b wrapped to [-180, 180)."""
    return (np.asarray(a) - b + 180.0) % 360.0 - 180.0


def aha_segment(angle_deg: np.ndarray, level: str, anterior_deg: float, septum_deg: float):
    """AHA segment number (1-16) of each angle on a slice of the given level."""
    angle_deg = np.asarray(angle_deg, dtype=float)
    if level == "apical":
        sector = np.floor(((septum_deg + 45.0 - angle_deg) % 360.0) / 90.0).astype(int)
        return np.array([14, 15, 16, 13])[sector]
    sector = np.floor(((anterior_deg - angle_deg) % 360.0) / 60.0).astype(int)
    segments = np.array([2, 3, 4, 5, 6, 1])[sector]
    return segments + (6 if level == "mid" else 0)


def territory_arc(territory: str, level: str, anterior_deg: float, septum_deg: float):
    """(centre, half width) in degrees of a territory's segments on one level."""
    if level == "apical":
        return {
            "LAD": (septum_deg + 45.0, 90.0),
            "RCA": (septum_deg - 90.0, 45.0),
            "LCx": (septum_deg - 180.0, 45.0),
        }[territory]
    return {
        "LAD": (anterior_deg, 60.0),
        "RCA": (anterior_deg - 120.0, 60.0),
        "LCx": (anterior_deg - 240.0, 60.0),
    }[territory]


def bump(x: np.ndarray, half: float | np.ndarray, taper: float | np.ndarray) -> np.ndarray:
    """1 for |x| <= half - taper, cos^2 fall-off to 0 at |x| = half, 0 beyond."""
    excess = (np.abs(x) - (half - taper)) / np.maximum(taper, 1e-6)
    return np.where(excess <= 0.0, 1.0, np.cos(0.5 * np.pi * np.clip(excess, 0.0, 1.0)) ** 2)


@dataclass
class Lesion:
    """A subject's wall-motion abnormality and (for infarcts) scar, in heart coordinates.

    `s` is the normalised long-axis position (0 base, 1 apex); `level_bounds_s` split it into
    basal/mid/apical; `arcs_deg[level]` is the core's (centre, half width); `slice_step_s` the
    slice spacing in s, which sets how sharply the scar ends between slices.
    """

    category: str = "normal"
    territory: str | None = None
    transmurality: float = 0.0
    grey_zone_fraction: float = 0.0  # border-zone depth beyond the core, fraction of wall
    impairment: float = 0.0
    extent_s: tuple[float, float] = (0.0, 0.0)
    slice_step_s: float = 0.1
    level_bounds_s: tuple[float, float] = (0.33, 0.66)
    arcs_deg: dict = field(default_factory=dict)
    irregularity: tuple[float, float, float] = (0.0, 1.0, 0.0)  # amplitude, frequency, phase

    @property
    def has_scar(self) -> bool:
        return self.category == "infarct"

    def level_index(self, s: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.level_bounds_s), s)

    def _arc_fields(self, theta_deg, s, widen_deg):
        level = self.level_index(s)
        centre = np.zeros_like(theta_deg)
        half = np.zeros_like(theta_deg)
        for index, name in enumerate(LEVELS):
            c, h = self.arcs_deg.get(name, (0.0, 0.0))
            centre = np.where(level == index, c, centre)
            half = np.where(level == index, h, half)
        delta = angle_difference_deg(theta_deg, centre)
        return bump(delta, half + widen_deg, 0.2 * half + widen_deg) * (half > 0)

    def _extent_field(self, s, widen_steps):
        first, last = self.extent_s
        step = self.slice_step_s
        half = 0.5 * (last - first) + (0.6 + widen_steps) * step
        return bump(s - 0.5 * (first + last), half, (0.4 + widen_steps) * step)

    def depths(self, theta_deg: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Core and border-zone depth as fractions of the wall, measured from the endocardium."""
        if not self.has_scar:
            zero = np.zeros(np.broadcast(theta_deg, s).shape)
            return zero, zero
        amplitude, frequency, phase = self.irregularity
        wobble = 1.0 + amplitude * np.sin(np.deg2rad(theta_deg) * frequency + phase)
        core = self.transmurality * self._arc_fields(theta_deg, s, 0.0)
        core = core * self._extent_field(s, 0.0) * wobble
        border = min(1.0, self.transmurality + self.grey_zone_fraction) * self._arc_fields(
            theta_deg, s, GREY_ZONE_DEG
        )
        border = border * self._extent_field(s, 0.15) * wobble
        return np.clip(core, 0.0, 1.0), np.clip(np.maximum(border, core), 0.0, 1.0)

    def impairment_field(self, theta_deg: np.ndarray, s: np.ndarray) -> np.ndarray:
        """0 = normal thickening, 1 = akinetic; smooth, a little wider than the scar."""
        if self.category == "normal":
            return np.zeros(np.broadcast(theta_deg, s).shape)
        arcs = self._arc_fields(theta_deg, s, GREY_ZONE_DEG + 10.0)
        return self.impairment * arcs * self._extent_field(s, 0.4)


def sample_lesion(
    rng: np.random.Generator,
    slice_s: np.ndarray,
    anterior_deg: float,
    septum_deg: float,
) -> Lesion:
    """Draw a subject's category, territory, extent over contiguous slices and transmurality.

    `slice_s` are the long-axis positions of the short-axis slices, base first.
    """
    n_slices = len(slice_s)
    step = float(np.mean(np.diff(slice_s)))
    # Levels by thirds of the stack, boundaries half-way between slices.
    n_basal = int(round(n_slices / 3))
    n_apical = int(round(n_slices / 3))
    bounds = (
        0.5 * (slice_s[n_basal - 1] + slice_s[n_basal]),
        0.5 * (slice_s[n_slices - n_apical - 1] + slice_s[n_slices - n_apical]),
    )
    slice_levels = [LEVELS[i] for i in np.searchsorted(bounds, slice_s)]
    categories = list(CATEGORY_PROBABILITIES)
    category = str(rng.choice(categories, p=list(CATEGORY_PROBABILITIES.values())))
    territories = list(TERRITORY_WEIGHTS)
    territory = str(rng.choice(territories, p=list(TERRITORY_WEIGHTS.values())))
    allowed = [k for k, level in enumerate(slice_levels) if level in TERRITORY_LEVELS[territory]]
    length = int(min(rng.integers(3, 8), len(allowed)))
    start = int(rng.integers(0, len(allowed) - length + 1))
    chosen = allowed[start : start + length]
    # The core arc is a fraction of the territory arc, placed so that core + grey zone stay
    # inside the territory's segments on every level.
    width_fraction = rng.uniform(0.7, 1.0)
    offset_fraction = rng.uniform(-1.0, 1.0)
    arcs = {}
    for level in LEVELS:
        centre, half = territory_arc(territory, level, anterior_deg, septum_deg)
        room = half - GREY_ZONE_DEG - 3.0
        core_half = width_fraction * room
        arcs[level] = (centre + offset_fraction * (room - core_half), core_half)
    if category == "normal":
        return Lesion(level_bounds_s=bounds, slice_step_s=step)
    transmurality = float(0.25 + 0.75 * rng.beta(2.0, 1.2)) if category == "infarct" else 0.0
    impairment = (
        0.55 + 0.45 * transmurality if category == "infarct" else float(rng.uniform(0.45, 0.7))
    )
    return Lesion(
        category=category,
        territory=territory,
        transmurality=transmurality,
        grey_zone_fraction=float(rng.uniform(0.2, 0.4)),
        impairment=float(impairment),
        extent_s=(float(slice_s[chosen[0]]), float(slice_s[chosen[-1]])),
        slice_step_s=step,
        level_bounds_s=bounds,
        arcs_deg=arcs,
        irregularity=(
            float(rng.uniform(0.05, 0.2)),
            float(rng.integers(2, 5)),
            float(rng.uniform(0, 2 * np.pi)),
        ),
    )
