"""The hand-written Dice and HD95 that cine2lge used before MONAI's metrics (issue #16), kept
verbatim as the reference the MONAI-based functions must reproduce (tests/segment/test_evaluate.py).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice of two boolean masks; NaN when both are empty."""
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    total = predicted.sum() + reference.sum()
    if total == 0:
        return float("nan")
    return float(2.0 * np.logical_and(predicted, reference).sum() / total)


def _boundary(mask_yx: np.ndarray) -> np.ndarray:
    return mask_yx & ~ndimage.binary_erosion(mask_yx, border_value=0)


def _directed_distances(a_yx: np.ndarray, b_yx: np.ndarray, spacing_mm) -> np.ndarray:
    """Distances (mm) from each boundary pixel of a to the nearest boundary pixel of b."""
    to_b = ndimage.distance_transform_edt(~_boundary(b_yx), sampling=spacing_mm)
    return to_b[_boundary(a_yx)]


def hd95(
    predicted_syx: np.ndarray,
    reference_syx: np.ndarray,
    spacing_mm: tuple[float, float] = (1.0, 1.0),
) -> float:
    """95 % Hausdorff distance (mm) of two boolean stacks (slice, y, x), in-plane per slice."""
    predicted_syx = np.asarray(predicted_syx, bool).reshape(-1, *np.shape(predicted_syx)[-2:])
    reference_syx = np.asarray(reference_syx, bool).reshape(-1, *np.shape(reference_syx)[-2:])
    if not predicted_syx.any() or not reference_syx.any():
        return float("nan")
    forward, backward = [], []
    for p_yx, r_yx in zip(predicted_syx, reference_syx, strict=True):
        if p_yx.any() and r_yx.any():
            forward.append(_directed_distances(p_yx, r_yx, spacing_mm))
            backward.append(_directed_distances(r_yx, p_yx, spacing_mm))
        elif p_yx.any() or r_yx.any():
            missing = p_yx if p_yx.any() else r_yx
            far = float(np.hypot(*(np.array(p_yx.shape) * np.asarray(spacing_mm))))
            (forward if p_yx.any() else backward).append(np.full(_boundary(missing).sum(), far))
    if not forward or not backward:
        return float("nan")
    return float(
        max(np.percentile(np.concatenate(forward), 95), np.percentile(np.concatenate(backward), 95))
    )
