"""Lesion classes by signal-intensity thresholds inside the myocardium.

Rules (config `quantify.hyperintense` / `quantify.intermediate`, one dict each):
- `{method: nsd, n_sd: N}`: signal > remote mean + N x remote SD (per slice when the remote
  reference is per slice);
- `{method: fwhm}`: signal > 50 % of the maximum signal in the enhanced region (full width at
  half maximum, Amado et al. 2004);
- `{method: percent_max, percent: P}`: signal > P % of that maximum.
The maximum is taken over the enhanced myocardium (components of at least the minimum lesion size
with signal > remote mean + `detect_n_sd` SD, which is also the lowest threshold they can give) of
each slice (`max_scope: slice`, the default: follows coil-sensitivity and inversion-time changes
between slices) or of the whole subject, after a 3x3 in-plane median filter, so one noisy pixel
cannot set it; with no enhanced pixel, max-based rules find no lesion (otherwise half the maximum
of normal myocardium would call half of it scar).
Classes: total = myocardium above the lower of the two thresholds; hyperintense (core) = above the
hyperintense threshold; intermediate (grey zone) = total minus hyperintense. Connected components
of `total` smaller than `min_component_px` (8-connected within a slice) are dropped as noise.
Signal outside the myocardium is never counted (blood pool, pericardial fat, RV wall).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .remote import RemoteReference

METHODS = ("nsd", "fwhm", "percent_max")
IN_PLANE_8 = np.array([np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3))], dtype=bool)


def enhanced_maximum(
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    remote: RemoteReference,
    detect_n_sd: float = 2.0,
    scope: str = "slice",
    min_component_px: int = 1,
) -> np.ndarray:
    """Maximum (3x3 median filtered) signal of the enhanced myocardium per slice (S,): the
    subject's maximum on every slice (scope "subject") or each slice's own (scope "slice");
    NaN where there is no enhanced component of at least `min_component_px` pixels."""
    n_slices = len(image_syx)
    threshold = remote.mean_s + detect_n_sd * remote.sd_s
    enhanced = myocardium_syx & (image_syx > threshold[:, None, None])
    enhanced = remove_small_components(enhanced, min_component_px)
    if not enhanced.any():
        return np.full(n_slices, np.nan)
    # Filter only the bounding box of the enhanced pixels: same result, a fraction of the work.
    box = ndimage.find_objects(enhanced.astype(np.int8))[0]
    box = (box[0],) + tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box[1:])
    smooth = ndimage.median_filter(image_syx[box], size=(1, 3, 3))
    values = np.where(enhanced[box], smooth, -np.inf).max(axis=(1, 2))
    per_slice = np.full(n_slices, -np.inf)
    per_slice[box[0]] = values
    per_slice[~np.isfinite(per_slice)] = np.nan
    if scope == "subject":
        return np.full(n_slices, np.nanmax(per_slice))
    if scope != "slice":
        raise ValueError(f"enhanced maximum: scope must be 'subject' or 'slice', not {scope!r}")
    return per_slice


def rule_thresholds(
    rule: dict, remote: RemoteReference, maximum: np.ndarray | float, floor_n_sd: float = 0.0
) -> np.ndarray:
    """Threshold per slice (S,) of one rule; +inf where a max-based rule finds no enhancement.
    `maximum`: the enhanced maximum per slice (S,) or one value for all slices. Max-based
    thresholds never go below remote mean + `floor_n_sd` SD (a weak maximum would otherwise put
    half its value inside normal myocardium)."""
    method = rule.get("method")
    if method == "nsd":
        return remote.mean_s + float(rule["n_sd"]) * remote.sd_s
    if method in ("fwhm", "percent_max"):
        percent = 50.0 if method == "fwhm" else float(rule["percent"])
        maximum = np.broadcast_to(np.asarray(maximum, dtype=float), remote.mean_s.shape)
        floor = remote.mean_s + floor_n_sd * remote.sd_s
        return np.where(np.isfinite(maximum), np.maximum(percent / 100.0 * maximum, floor), np.inf)
    raise ValueError(f"lesion rule {rule}: method must be one of {METHODS}")


def remove_small_components(mask_syx: np.ndarray, min_pixels: int) -> np.ndarray:
    """Drop 8-connected in-plane components smaller than `min_pixels` (all slices in one pass)."""
    if min_pixels <= 1 or not mask_syx.any():
        return mask_syx
    labelled, n = ndimage.label(mask_syx, structure=IN_PLANE_8)
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labelled]


def lesion_masks(
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    remote: RemoteReference,
    hyperintense: dict,
    intermediate: dict | None,
    *,
    min_component_px: int = 1,
    detect_n_sd: float = 2.0,
    max_scope: str = "slice",
) -> dict[str, np.ndarray]:
    """{"hyperintense", "intermediate", "total"} boolean masks (slice, y, x)."""
    needs_max = {hyperintense.get("method"), (intermediate or {}).get("method")} - {"nsd"}
    maximum = (
        enhanced_maximum(
            image_syx, myocardium_syx, remote, detect_n_sd, max_scope, min_component_px
        )
        if needs_max
        else np.nan
    )
    upper = rule_thresholds(hyperintense, remote, maximum, detect_n_sd)
    lower = (
        upper
        if intermediate is None
        else rule_thresholds(intermediate, remote, maximum, detect_n_sd)
    )
    lower = np.minimum(lower, upper)
    total = myocardium_syx & (image_syx > lower[:, None, None])
    total = remove_small_components(total, min_component_px)
    core = total & (image_syx > upper[:, None, None])
    return {"hyperintense": core, "intermediate": total & ~core, "total": total}


def probability_masks(
    probability_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    threshold: float,
    min_component_px: int = 1,
) -> dict[str, np.ndarray]:
    """Enhancement-probability map -> {"total"}: myocardium with probability >= threshold."""
    total = myocardium_syx & (probability_syx >= threshold)
    return {"total": remove_small_components(total, min_component_px)}


def truth_masks(labels_syx: np.ndarray, scheme: dict, myocardium_syx: np.ndarray):
    """Ground-truth lesion classes of a label scheme inside the myocardium; None if it has none."""
    if not ({"hyperintense", "intermediate"} & scheme.keys()):
        return None
    core = np.isin(labels_syx, scheme.get("hyperintense", [])) & myocardium_syx
    grey = np.isin(labels_syx, scheme.get("intermediate", [])) & myocardium_syx & ~core
    return {"hyperintense": core, "intermediate": grey, "total": core | grey}
