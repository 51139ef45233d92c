"""Remote (reference) myocardium from the AHA segments, per slice or per subject.

Estimators (automatic), among the AHA segments of a slice (scope "slice") or of the whole subject
(scope "subject") that hold at least `min_pixels` myocardial pixels:
- "darkest": the segment with the lowest mean signal (normal nulled myocardium is the darkest
  tissue of an inversion-recovery LGE image, so an enhanced segment cannot have the lowest mean).
  The minimum of several segment means is biased low: on EMIDEC its mean is about 0.5 SD below
  the expert's normal myocardium and its SD 0.8x, so "remote + 2 SD" is really about 1.1 SD.
- "pooled": all segments whose mean is at most `pool_n_sd` SD (of the darkest segment) above the
  darkest segment's mean, pooled: the non-enhanced segments, not the single darkest one (bias
  about -0.2 SD, SD 0.9x on EMIDEC; an enhanced segment is brighter than that and stays out).
Slices without an eligible segment use the subject-level estimate. A config override (`segments`)
fixes the remote segments instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RemoteReference:
    """Remote mean and SD per slice (S,) and the segments they came from."""

    mean_s: np.ndarray
    sd_s: np.ndarray
    segment_s: np.ndarray  # darkest (pooled: anchor) segment per slice; 0 for the override
    mask_syx: np.ndarray  # the pixels used


def _segment_stats(values: np.ndarray, keys: np.ndarray, n_keys: int):
    count = np.bincount(keys, minlength=n_keys).astype(float)
    total = np.bincount(keys, weights=values, minlength=n_keys)
    square = np.bincount(keys, weights=values * values, minlength=n_keys)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        sd = np.sqrt(
            np.maximum(square / count - mean * mean, 0.0) * count / np.maximum(count - 1, 1)
        )
    return count, mean, sd


ESTIMATORS = ("darkest", "pooled")


def _pooled(values, group, segment, count, mean, sd, n_groups, min_pixels, pool_n_sd):
    """Pool, per group (slice or subject), the eligible segments whose mean is within
    `pool_n_sd` darkest-segment SDs of the darkest mean. Arrays are (n_groups, 17)."""
    eligible = count >= min_pixels
    rows = np.arange(n_groups)
    best = np.argmin(np.where(eligible, mean, np.inf), axis=1)
    limit = mean[rows, best] + pool_n_sd * np.nan_to_num(sd[rows, best])
    chosen_gs = eligible & (mean <= limit[:, None])
    pick = chosen_gs[group, segment]
    _, p_mean, p_sd = _segment_stats(values[pick], group[pick], n_groups)
    return p_mean, p_sd, best, eligible.any(axis=1), chosen_gs


def remote_reference(
    image_syx: np.ndarray,
    segments_syx: np.ndarray,
    *,
    scope: str = "slice",
    min_pixels: int = 20,
    segments: list[int] | None = None,
    estimator: str = "darkest",
    pool_n_sd: float = 1.0,
) -> RemoteReference:
    """Remote statistics of `image_syx` over the myocardium labelled in `segments_syx` (1..16)."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"remote myocardium: estimator must be one of {ESTIMATORS}, not {estimator!r}"
        )
    n_slices = len(image_syx)
    inside = segments_syx > 0
    values = image_syx[inside].astype(float)
    slice_index = np.nonzero(inside)[0]
    segment = segments_syx[inside].astype(int)
    if not len(values):
        raise ValueError("remote myocardium: the myocardium mask is empty")
    if segments:
        chosen = np.isin(segments_syx, segments) & inside
        if not chosen.any():
            raise ValueError(f"remote myocardium: override segments {segments} hold no myocardium")
        pooled = image_syx[chosen].astype(float)
        return RemoteReference(
            np.full(n_slices, pooled.mean()),
            np.full(n_slices, pooled.std(ddof=1)),
            np.zeros(n_slices, dtype=int),
            chosen,
        )
    if estimator == "pooled":
        return _pooled_reference(
            image_syx, segments_syx, values, slice_index, segment, scope, min_pixels, pool_n_sd
        )
    count, mean, sd = _segment_stats(values, segment, 17)
    eligible = count >= min(min_pixels, count.max())
    subject_segment = int(np.argmin(np.where(eligible, mean, np.inf)))
    mean_s = np.full(n_slices, mean[subject_segment])
    sd_s = np.full(n_slices, sd[subject_segment])
    segment_s = np.full(n_slices, subject_segment)
    chosen = (segments_syx == subject_segment) & inside
    if scope == "slice":
        key = slice_index * 17 + segment
        count, mean, sd = (
            a.reshape(n_slices, 17) for a in _segment_stats(values, key, 17 * n_slices)
        )
        eligible = count >= min_pixels
        best = np.argmin(np.where(eligible, mean, np.inf), axis=1)
        has = eligible.any(axis=1)
        rows = np.arange(n_slices)
        mean_s = np.where(has, mean[rows, best], mean_s)
        sd_s = np.where(has, sd[rows, best], sd_s)
        segment_s = np.where(has, best, segment_s)
        chosen = inside & (segments_syx == segment_s[:, None, None])
    elif scope != "subject":
        raise ValueError(f"remote myocardium: scope must be 'slice' or 'subject', not {scope!r}")
    return RemoteReference(mean_s, sd_s, segment_s, chosen)


def _pooled_reference(image_syx, segments_syx, values, slice_index, segment, scope, min_pix, k):
    """Estimator "pooled" (see the module docstring)."""
    n_slices = len(image_syx)
    count, mean, sd = (a.reshape(1, 17) for a in _segment_stats(values, segment, 17))
    group = np.zeros(len(values), dtype=int)
    s_mean, s_sd, s_best, _, s_chosen = _pooled(
        values, group, segment, count, mean, sd, 1, min(min_pix, count.max()), k
    )
    mean_s = np.full(n_slices, s_mean[0])
    sd_s = np.full(n_slices, s_sd[0])
    segment_s = np.full(n_slices, s_best[0])
    chosen_s17 = np.repeat(s_chosen, n_slices, axis=0)
    if scope == "slice":
        key = slice_index * 17 + segment
        count, mean, sd = (
            a.reshape(n_slices, 17) for a in _segment_stats(values, key, 17 * n_slices)
        )
        p_mean, p_sd, best, has, chosen = _pooled(
            values, slice_index, segment, count, mean, sd, n_slices, min_pix, k
        )
        has &= np.isfinite(p_sd)
        mean_s = np.where(has, p_mean, mean_s)
        sd_s = np.where(has, p_sd, sd_s)
        segment_s = np.where(has, best, segment_s)
        chosen_s17 = np.where(has[:, None], chosen, chosen_s17)
    elif scope != "subject":
        raise ValueError(f"remote myocardium: scope must be 'slice' or 'subject', not {scope!r}")
    inside = segments_syx > 0
    slices = np.arange(n_slices)[:, None, None]
    mask = inside & chosen_s17[slices, segments_syx.astype(int)]
    return RemoteReference(mean_s, sd_s, segment_s, mask)
