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

Robustness options (issue #18; all off in the legacy rules):
- `fwhm_baseline: remote`: max-based thresholds are measured from the remote mean instead of
  zero, `remote + P % x (maximum - remote)`: the same as the classic rule when normal myocardium
  is nulled (remote ~ 0) and still meaningful when the image carries an offset (EMIDEC stores
  nulled myocardium near 2000 of 4095, so 50 % of the maximum lies below normal myocardium).
- `fwhm_min_n_sd`: max-based rules only in slices whose enhanced maximum exceeds remote mean +
  this many SD (unambiguous enhancement), and never below that level; elsewhere nothing is
  hyperintense and a weak lesion is intermediate (the classic floor at `detect_n_sd`, where the
  intermediate class starts, made a weak region all hyperintense).
- `seed_n_sd` / `min_seed_percent_lv`: a subject has lesions only if components (of at least the
  minimum size) above remote mean + `seed_n_sd` SD cover at least `min_seed_percent_lv` % of its
  myocardium; otherwise all classes are empty (noise and partial volume at 2 SD in a normal heart
  are not called scar).
- `fill_mvo`: microvascular obstruction, a dark core enclosed by enhancement, is infarct (as in
  clinical software): non-lesion myocardium enclosed by the lesion in-plane (a 4-connected
  component that touches the lesion, does not span the wall from cavity to epicardium, is not the
  slice's largest non-lesion component and holds at most half of the slice's myocardium) joins the
  hyperintense class.
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


BASELINES = ("zero", "remote")


def rule_thresholds(
    rule: dict,
    remote: RemoteReference,
    maximum: np.ndarray | float,
    floor_n_sd: float = 0.0,
    baseline: str = "zero",
) -> np.ndarray:
    """Threshold per slice (S,) of one rule; +inf where a max-based rule finds no enhancement.
    `maximum`: the enhanced maximum per slice (S,) or one value for all slices. Max-based
    thresholds are P % of the way from `baseline` (zero or the remote mean) to the maximum and
    never go below remote mean + `floor_n_sd` SD (a weak maximum would otherwise put half its
    value inside normal myocardium)."""
    method = rule.get("method")
    if method == "nsd":
        return remote.mean_s + float(rule["n_sd"]) * remote.sd_s
    if method in ("fwhm", "percent_max"):
        if baseline not in BASELINES:
            raise ValueError(f"fwhm_baseline must be one of {BASELINES}, not {baseline!r}")
        percent = 50.0 if method == "fwhm" else float(rule["percent"])
        maximum = np.broadcast_to(np.asarray(maximum, dtype=float), remote.mean_s.shape)
        base = remote.mean_s if baseline == "remote" else 0.0
        floor = remote.mean_s + floor_n_sd * remote.sd_s
        threshold = np.maximum(base + percent / 100.0 * (maximum - base), floor)
        return np.where(np.isfinite(maximum), threshold, np.inf)
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


def enclosed_cores(lesion_syx: np.ndarray, myocardium_syx: np.ndarray) -> np.ndarray:
    """Non-lesion myocardium enclosed by the lesion in-plane (microvascular obstruction): per
    slice, 4-connected components of myocardium minus lesion that touch the lesion, do not touch
    both the cavity and the outside of the myocardium (they do not span the wall), are not the
    slice's largest such component and hold at most half of the slice's myocardium."""
    cores = np.zeros_like(lesion_syx)
    around = np.ones((3, 3), dtype=bool)
    for s in np.flatnonzero(lesion_syx.any(axis=(1, 2))):
        myocardium = myocardium_syx[s]
        filled = ndimage.binary_fill_holes(myocardium)
        rest, n = ndimage.label(myocardium & ~lesion_syx[s])
        if n < 2:
            continue
        ids = np.arange(n + 1)

        def touches(region, rest=rest, ids=ids):
            near = ndimage.binary_dilation(region, around) & (rest > 0)
            return np.isin(ids, rest[near])

        sizes = np.bincount(rest.ravel(), minlength=n + 1)
        spans = touches(filled & ~myocardium) & touches(~filled)
        enclosed = touches(lesion_syx[s]) & ~spans & (sizes <= 0.5 * myocardium.sum())
        enclosed[0] = False
        enclosed[np.argmax(sizes[1:]) + 1] = False
        cores[s] = enclosed[rest]
    return cores


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
    fwhm_baseline: str = "zero",
    fwhm_min_n_sd: float | None = None,
    seed_n_sd: float | None = None,
    min_seed_percent_lv: float = 0.0,
    fill_mvo: bool = False,
) -> dict[str, np.ndarray]:
    """{"hyperintense", "intermediate", "total"} boolean masks (slice, y, x); the keyword
    options after `max_scope` are the robustness options of the module docstring."""
    empty = np.zeros_like(myocardium_syx)
    if seed_n_sd is not None:
        seeds = myocardium_syx & (
            image_syx > (remote.mean_s + seed_n_sd * remote.sd_s)[:, None, None]
        )
        seeds = remove_small_components(seeds, min_component_px)
        needed = max(min_seed_percent_lv / 100.0 * myocardium_syx.sum(), 1)
        if seeds.sum() < needed:
            return {"hyperintense": empty, "intermediate": empty.copy(), "total": empty.copy()}
    needs_max = {hyperintense.get("method"), (intermediate or {}).get("method")} - {"nsd"}
    maximum = (
        enhanced_maximum(
            image_syx, myocardium_syx, remote, detect_n_sd, max_scope, min_component_px
        )
        if needs_max
        else np.nan
    )
    if needs_max and fwhm_min_n_sd is not None:
        maximum = np.where(maximum > remote.mean_s + fwhm_min_n_sd * remote.sd_s, maximum, np.nan)
    # A max-based class never starts below unambiguous enhancement (the gate), so the grey zone
    # between detect_n_sd and the gate stays reachable.
    floor = max(detect_n_sd, fwhm_min_n_sd or 0.0)
    upper = rule_thresholds(hyperintense, remote, maximum, floor, fwhm_baseline)
    lower = (
        upper
        if intermediate is None
        else rule_thresholds(intermediate, remote, maximum, floor, fwhm_baseline)
    )
    lower = np.minimum(lower, upper)
    total = myocardium_syx & (image_syx > lower[:, None, None])
    total = remove_small_components(total, min_component_px)
    core = total & (image_syx > upper[:, None, None])
    if fill_mvo and total.any():
        mvo = enclosed_cores(total, myocardium_syx)
        core |= mvo
        total |= mvo
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
