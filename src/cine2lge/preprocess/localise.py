"""Find the left ventricle (its centre on every slice and its long axis) without manual input.

Image-based (`localise_lv`): every slice is resampled to a working grid of `work_mm` pixels that is
aligned across the stack (same in-plane axes, centred on one line along the normal), then scored:

- blood pool ("bright, round"): the LV cavity is a bright disk enclosed by darker myocardium. A
  ring filter at several radii compares the disk mean with a thin annulus just outside it, split
  into 8 sectors; all but the brightest sector must be darker than the disk (the LV wall may
  border bright fat or the RV on one side). Bright bands (subcutaneous fat) and the crescent RV
  have several bright sectors and score low. Computed on the temporal mean image.
- motion ("moving", cine with T > 1): the temporal standard deviation, averaged over slices and
  smoothed to heart size, weights the score, so static bright structures (stomach, liver
  vessels) lose against the beating heart. Single-frame cine (MyoPS C0) has no motion term: the
  blood-pool score and the position prior alone decide.
- position prior: a broad Gaussian around the image centre (scans are planned on the heart).

Stack consistency: the LV is present on nearly every slice while distractors are strong on a
few, so the stack-level centre maximises the sum over slices of log(floor + score) rather than
the summed score. Each slice's centre is then its best score within `search_radius_mm` of that
point; slices with a weak response (apex, above the base) get no weight, and the LV axis is a
weighted line fit through the rest (the slice normal when fewer than 3 slices remain).

Label-based (`lv_axis_from_labels`): myocardium centroid per labelled slice, same line fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from cine2lge.exclusion import LocalisationFailed
from cine2lge.preprocess.crop import crop_row, crop_volume
from cine2lge.preprocess.volume import SlicePlane, SourceVolume


@dataclass
class LVAxis:
    """The LV long axis as a line in world mm, with the per-slice centres it was fitted to."""

    point_mm: np.ndarray
    direction: np.ndarray  # unit vector
    slice_centres_mm: list = field(default_factory=list)  # per source slice, None if not found
    method: str = "image"

    def centre_in(self, plane: SlicePlane) -> np.ndarray:
        """Where the axis crosses `plane` (the projection of point_mm if nearly parallel)."""
        normal = plane.normal
        along = float(self.direction @ normal)
        if abs(along) < 0.2:
            return plane.project(self.point_mm)
        step = (plane.origin_mm - self.point_mm) @ normal / along
        return self.point_mm + step * self.direction

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "point_mm": self.point_mm.tolist(),
            "direction": self.direction.tolist(),
            "slice_centres_mm": [
                None if c is None else np.asarray(c).tolist() for c in self.slice_centres_mm
            ],
        }


def fit_axis(centres_mm: list, weights: list[float], normal: np.ndarray, method: str) -> LVAxis:
    """Weighted line fit through per-slice centres; along the slice normal if < 3 centres."""
    found = [
        (np.asarray(c, float), w)
        for c, w in zip(centres_mm, weights, strict=True)
        if c is not None and w > 0
    ]
    if not found:
        raise LocalisationFailed(f"LV not found: no slice has an LV centre ({method})")
    points = np.stack([c for c, _ in found])
    w = np.array([w for _, w in found], float)
    mean = (w[:, None] * points).sum(0) / w.sum()
    direction = normal / np.linalg.norm(normal)
    if len(found) >= 3:
        centred = (points - mean) * np.sqrt(w)[:, None]
        direction = np.linalg.svd(centred, full_matrices=False)[2][0]
        # A short-axis stack is roughly perpendicular to the LV axis; a fit more than 45 degrees
        # off the normal means an outlier slice dominated, so fall back to the normal.
        if abs(direction @ normal) < np.cos(np.radians(45)):
            direction = normal / np.linalg.norm(normal)
    if direction @ normal < 0:
        direction = -direction
    return LVAxis(mean, direction, list(centres_mm), method)


def lv_axis_from_labels(labels: SourceVolume, myocardium_labels: list[int]) -> LVAxis:
    """LV axis through the myocardium centroid of each labelled slice (labels x, y, slice)."""
    labels_xys = labels.data_xyst[..., 0]
    centres, weights = [], []
    for k in range(labels.n_slices):
        xy = np.argwhere(np.isin(labels_xys[:, :, k], myocardium_labels))
        if len(xy) == 0:
            centres.append(None)
            weights.append(0.0)
            continue
        mean_xy = xy.mean(0)
        centres.append(labels.voxel_to_world([mean_xy[0], mean_xy[1], k]))
        weights.append(float(len(xy)))
    if not any(w > 0 for w in weights):
        raise LocalisationFailed(
            f"{labels.path}: no myocardium labels {myocardium_labels} in the label map"
        )
    return fit_axis(centres, weights, labels.plane(0).normal, "labels")


def _disk(radius_px: float) -> np.ndarray:
    n = int(np.ceil(radius_px))
    y, x = np.mgrid[-n : n + 1, -n : n + 1]
    return (x**2 + y**2 <= radius_px**2).astype(np.float32)


def _sector(inner_px: float, outer_px: float, sector: int, n_sectors: int) -> np.ndarray:
    n = int(np.ceil(outer_px))
    y, x = np.mgrid[-n : n + 1, -n : n + 1]
    r2 = x**2 + y**2
    angle = np.mod(np.arctan2(y, x), 2 * np.pi)
    width = 2 * np.pi / n_sectors
    inside = (angle >= sector * width) & (angle < (sector + 1) * width)
    return ((r2 > inner_px**2) & (r2 <= outer_px**2) & inside).astype(np.float32)


def _mean_filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return signal.fftconvolve(image, kernel / kernel.sum(), mode="same")


def blood_pool_score(
    image_yx: np.ndarray,
    pixel_mm: float,
    radii_mm=(10, 14, 18, 23, 28, 34),
    wall_mm: float = 5.0,
    gap_mm: float = 1.0,
    n_sectors: int = 8,
    open_sectors: int = 1,
) -> np.ndarray:
    """Ring-filter response of a bright disk enclosed by a dark wall, best over radii, >= 0.

    The disk mean minus the mean of the *brightest* of `n_sectors` annulus sectors: the LV cavity
    is dark-walled all around, whereas bright bands (fat) or a crescent RV open to bright tissue
    have at least one bright sector. Larger cavities are favoured (sqrt of the radius) over small
    round vessels (aorta) of similar contrast.
    """
    best = np.zeros_like(image_yx)
    for radius in radii_mm:
        disk = _mean_filter(image_yx, _disk(radius / pixel_mm))
        inner, outer = (radius + gap_mm) / pixel_mm, (radius + gap_mm + wall_mm) / pixel_mm
        sectors = np.sort(
            [_mean_filter(image_yx, _sector(inner, outer, s, n_sectors)) for s in range(n_sectors)],
            axis=0,
        )
        wall = sectors[-1 - open_sectors]
        best = np.maximum(best, (disk - wall) * np.sqrt(radius / 20.0))
    return best


@dataclass
class _WorkStack:
    frames_styx: np.ndarray  # working-grid images, intensities normalised to ~[0, 1]
    rows: list
    pixel_mm: float


def _work_stack(cine: SourceVolume, work_mm: float) -> _WorkStack:
    """Resample every slice to a `work_mm` grid covering the slice, aligned across slices."""
    middle = cine.plane(cine.n_slices // 2)
    extent_mm = float(np.max(np.asarray(cine.shape_xys[:2]) * cine.spacing_mm[:2]))
    grid = int(np.ceil(extent_mm / work_mm))
    centre_xy = (np.asarray(cine.shape_xys[:2]) - 1) / 2
    centre_mm = middle.to_world(centre_xy)
    rows = [
        crop_row(cine.plane(k), k, centre_mm, grid * work_mm, grid, axes=(middle.u, middle.v))
        for k in range(cine.n_slices)
    ]
    frames = crop_volume(cine, rows)
    low, high = np.percentile(frames, [1, 99])
    frames = np.clip((frames - low) / max(high - low, 1e-6), 0, 1.5)
    return _WorkStack(frames, rows, work_mm)


def localise_lv(
    cine: SourceVolume,
    work_mm: float = 2.0,
    search_radius_mm: float = 20.0,
    prior_sigma_fraction: float = 0.3,
    motion_sigma_mm: float = 15.0,
    consistency_floor: float = 0.05,
) -> LVAxis:
    """LV axis of a cine stack (x, y, slice, time) from the images alone."""
    stack = _work_stack(cine, work_mm)
    n_slices, n_frames, grid, _ = stack.frames_styx.shape
    y, x = np.mgrid[0:grid, 0:grid]
    centre = (grid - 1) / 2
    sigma = prior_sigma_fraction * grid
    prior = np.exp(-((x - centre) ** 2 + (y - centre) ** 2) / (2 * sigma**2))
    if n_frames > 1:
        # Where the stack moves: temporal SD averaged over slices and smoothed to heart size, so
        # small pulsating spots (vessels, flow artefacts) weigh less than the beating ventricles.
        motion = ndimage.gaussian_filter(
            stack.frames_styx.std(1).mean(0), motion_sigma_mm / work_mm
        )
        prior = prior * (0.1 + motion / max(float(motion.max()), 1e-9))
    scores = np.stack([blood_pool_score(f.mean(0), work_mm) for f in stack.frames_styx])
    scores = scores / max(float(scores.max()), 1e-9)
    scores = scores * prior
    # The LV is present on (nearly) every slice; distractors (stomach, liver vessels, fat) are
    # strong on a few. A sum of logs rewards consistency over the stack rather than peak height.
    total = np.log(consistency_floor + scores).sum(0)
    peak = np.array(np.unravel_index(np.argmax(total), total.shape), float)  # (y, x)
    radius_px = search_radius_mm / work_mm
    near = (y - peak[0]) ** 2 + (x - peak[1]) ** 2 <= radius_px**2
    best_overall = max(float(scores[:, near].max()), 1e-9)
    centres, weights = [], []
    for k in range(n_slices):
        local = np.where(near, scores[k], -np.inf)
        yk, xk = np.unravel_index(np.argmax(local), local.shape)
        strength = float(scores[k, yk, xk]) / best_overall
        row = stack.rows[k]
        centres.append(row.origin_mm + xk * row.spacing_mm * row.u + yk * row.spacing_mm * row.v)
        weights.append(strength if strength > 0.2 else 0.0)
    if not any(w > 0 for w in weights):
        weights = [1.0] * n_slices
    return fit_axis(centres, weights, cine.plane(0).normal, "image")
