"""AHA 16-segment model on short-axis slices (Cerqueira et al., Circulation 2002).

Angles are measured around the LV centre of each slice in the image as displayed (row 0 at the
top): theta = atan2(-(y - cy), x - cx) in degrees, 0 = right, 90 = up. The septum is centred on the
bisector of the two RV insertion points, which are the ends of the arc where the RV label touches
the myocardium. Base and mid slices have six 60-degree segments with the septal centre on the
boundary between anteroseptal (2/8) and inferoseptal (3/9); apical slices have four 90-degree
segments with septal (14) centred on the septum. In the standard display (anterior up, septum on
the viewer's left) the numbering runs counterclockwise on screen: anterior, anteroseptal,
inferoseptal, inferior, inferolateral, anterolateral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SEGMENTS = np.arange(1, 17)
LEVEL_NAMES = ("base", "mid", "apex")
SEGMENT_NAMES = {
    1: "basal anterior",
    2: "basal anteroseptal",
    3: "basal inferoseptal",
    4: "basal inferior",
    5: "basal inferolateral",
    6: "basal anterolateral",
    7: "mid anterior",
    8: "mid anteroseptal",
    9: "mid inferoseptal",
    10: "mid inferior",
    11: "mid inferolateral",
    12: "mid anterolateral",
    13: "apical anterior",
    14: "apical septal",
    15: "apical inferior",
    16: "apical lateral",
}


@dataclass
class SegmentModel:
    """Per-pixel AHA segments and how they were placed (per slice arrays have length S)."""

    segments_syx: np.ndarray  # int8, 1..16 inside the myocardium, 0 elsewhere
    angle_syx: np.ndarray  # float32 theta in degrees [0, 360), NaN on empty slices
    radius_syx: np.ndarray  # float32 distance to the slice's LV centre in pixels
    septum_deg: np.ndarray  # septal centre per slice
    septum_source: list[str]  # "rv" | "rv-mean" | "fallback" per slice
    level_s: np.ndarray  # 0 base, 1 mid, 2 apex, -1 no myocardium
    direction: int  # +1 counterclockwise on screen, -1 clockwise


def centres_yx(myocardium_syx: np.ndarray) -> np.ndarray:
    """LV centre per slice (S, 2): centroid of the myocardium (NaN on empty slices)."""
    count = myocardium_syx.sum(axis=(1, 2)).astype(float)
    ys = np.arange(myocardium_syx.shape[1], dtype=float)
    xs = np.arange(myocardium_syx.shape[2], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (myocardium_syx.sum(axis=2) @ ys) / count
        cx = (myocardium_syx.sum(axis=1) @ xs) / count
    return np.stack([cy, cx], axis=1)


def polar_maps(shape_syx: tuple[int, int, int], centres: np.ndarray):
    """theta (S, Y, X) in degrees [0, 360) around each slice's centre (y up on screen) and the
    radius in pixels."""
    _, ny, nx = shape_syx
    dy = np.arange(ny, dtype=np.float32)[None, :, None] - centres[:, 0, None, None]
    dx = np.arange(nx, dtype=np.float32)[None, None, :] - centres[:, 1, None, None]
    angle = (np.degrees(np.arctan2(-dy, dx)) % 360.0).astype(np.float32)
    return angle, np.hypot(dy, dx).astype(np.float32)


def _circular_mean_deg(angles_deg: np.ndarray) -> float:
    radians = np.radians(angles_deg)
    return float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())) % 360.0)


def contact_arc_deg(contact_angles_deg: np.ndarray) -> tuple[float, float] | None:
    """(start, end) of the arc covered by contact angles, going counterclockwise: the complement
    of the largest gap between sorted angles. These ends are the two RV insertion points."""
    if len(contact_angles_deg) < 2:
        return None
    ordered = np.sort(np.asarray(contact_angles_deg) % 360.0)
    gaps = np.diff(np.append(ordered, ordered[0] + 360.0))
    largest = int(np.argmax(gaps))
    return float(ordered[(largest + 1) % len(ordered)]), float(ordered[largest])


def rv_septum_deg(
    myocardium_syx: np.ndarray, rv_syx: np.ndarray, angle_syx: np.ndarray, contact_px: int = 2
) -> np.ndarray:
    """Septal centre per slice from RV contact (NaN where the RV does not touch the myocardium).

    Contact = myocardium pixels within `contact_px` pixels of the RV label (RV blood pool labels
    are usually separated from the LV myocardium by a thin RV wall or a partial-volume rim).
    """
    structure = ndimage.generate_binary_structure(3, 1)
    structure[[0, 2]] = False  # grow within each slice only
    near_rv = ndimage.binary_dilation(rv_syx, structure, iterations=contact_px)
    contact = near_rv & myocardium_syx
    septum = np.full(len(myocardium_syx), np.nan)
    for index in np.flatnonzero(contact.any(axis=(1, 2))):
        arc = contact_arc_deg(angle_syx[index][contact[index]])
        if arc is not None:
            start, end = arc
            septum[index] = (start + ((end - start) % 360.0) / 2.0) % 360.0
    return septum


def slice_levels(myocardium_syx: np.ndarray, base_first: bool | None = None) -> np.ndarray:
    """Base (0) / mid (1) / apex (2) thirds of the slices with myocardium, -1 for the others.

    `base_first=None` decides the order from the anatomy: the area inside the epicardium is larger
    at the base than at the apex (compares the first and the last half of the slices).
    """
    filled = ndimage.binary_fill_holes(myocardium_syx, structure=np.ones((1, 3, 3), bool))
    area = filled.sum(axis=(1, 2)).astype(float)
    present = np.flatnonzero(area > 0)
    levels = np.full(len(myocardium_syx), -1, dtype=np.int8)
    n = len(present)
    if n == 0:
        return levels
    if base_first is None:
        half = n // 2
        base_first = n < 2 or area[present[:half]].mean() >= area[present[n - half :]].mean()
    rank = np.arange(n) if base_first else np.arange(n)[::-1]
    levels[present] = (3 * rank) // n
    return levels


def anterior_angle_deg(direction_ras: np.ndarray) -> float:
    """theta of the patient's anterior direction in a crop whose voxel axes (x, y, slice) have the
    RAS direction cosines given as the columns of `direction_ras` (3x3)."""
    direction_ras = np.asarray(direction_ras, dtype=float)
    anterior = np.array([0.0, 1.0, 0.0])
    along_x, along_y = anterior @ direction_ras[:, 0], anterior @ direction_ras[:, 1]
    return float(np.degrees(np.arctan2(-along_y, along_x)) % 360.0)


def numbering_direction(septum_deg: float, anterior_deg: float | None) -> int:
    """+1 (numbering counterclockwise on screen, the standard display) or -1 (mirrored image).

    The anterior wall (segment 1) lies 90 degrees from the septal centre on the side of the
    patient's anterior direction. The RV lies anterior and to the right of the LV, so that
    direction projects between the septum and the anterior wall (12-56 degrees from the septum on
    the 25 MyoPS subjects): only its side matters. +1 when the anterior direction is unknown.
    """
    if anterior_deg is None or not np.isfinite(septum_deg):
        return 1
    offset = (anterior_deg - septum_deg + 180.0) % 360.0 - 180.0
    return 1 if offset <= 0 else -1


def segment_ids(angle_syx: np.ndarray, septum_s: np.ndarray, level_s: np.ndarray, direction: int):
    """AHA segment (1..16) of every pixel from its angle, the septal centre and the slice level."""
    psi = (direction * (angle_syx - septum_s[:, None, None])) % 360.0
    six = ((np.floor(psi / 60.0).astype(int) % 6 + 2) % 6) + 1  # sector 0 starts at the septum
    four = 13 + (np.floor(((psi + 45.0) % 360.0) / 90.0).astype(int) % 4 + 1) % 4
    level = level_s[:, None, None]
    return np.where(level == 2, four, six + 6 * level).astype(np.int8)


def segment_model(
    myocardium_syx: np.ndarray,
    rv_syx: np.ndarray | None = None,
    *,
    fallback_septum_deg: float = 180.0,
    base_first: bool | None = None,
    direction: int | str = "auto",
    anterior_deg: float | None = None,
    contact_px: int = 2,
) -> SegmentModel:
    """AHA segments of a myocardium mask (slice, y, x).

    Septum: RV insertion points per slice; slices without RV contact use the circular mean of the
    others; without any RV contact, `fallback_septum_deg` (180 = viewer's left, standard display).
    Direction: +1/-1, or "auto" = from `anterior_deg` (see `anterior_angle_deg`), else +1.
    """
    myocardium_syx = np.asarray(myocardium_syx, dtype=bool)
    centres = centres_yx(myocardium_syx)
    angle_syx, radius_syx = polar_maps(myocardium_syx.shape, np.nan_to_num(centres))
    septum = np.full(len(myocardium_syx), np.nan)
    if rv_syx is not None and np.any(rv_syx):
        septum = rv_septum_deg(myocardium_syx, np.asarray(rv_syx, bool), angle_syx, contact_px)
    source = ["rv" if np.isfinite(value) else "" for value in septum]
    if np.isfinite(septum).any():
        mean = _circular_mean_deg(septum[np.isfinite(septum)])
        source = [s or "rv-mean" for s in source]
    else:
        mean = float(fallback_septum_deg)
        source = ["fallback"] * len(septum)
    septum = np.where(np.isfinite(septum), septum, mean)
    if direction == "auto":
        direction = numbering_direction(mean, anterior_deg)
    level_s = slice_levels(myocardium_syx, base_first)
    segments = segment_ids(angle_syx, septum, np.maximum(level_s, 0), int(direction))
    segments[~myocardium_syx | (level_s[:, None, None] < 0)] = 0
    angle_syx[~np.isfinite(centres[:, 0])] = np.nan
    return SegmentModel(segments, angle_syx, radius_syx, septum, source, level_s, int(direction))
