"""Remote (reference) myocardium: the darkest AHA segment, per slice or per subject.

Rule (automatic): among the AHA segments of a slice (scope "slice") or of the whole subject
(scope "subject") that hold at least `min_pixels` myocardial pixels, the one with the lowest mean
signal is remote: normal nulled myocardium is the darkest tissue in an inversion-recovery LGE
image, and an enhanced segment cannot have the lowest mean. Slices without an eligible segment
use the subject-level choice. A config override (`segments`) fixes the remote segments instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RemoteReference:
    """Remote mean and SD per slice (S,) and the segments they came from."""

    mean_s: np.ndarray
    sd_s: np.ndarray
    segment_s: np.ndarray  # remote segment per slice (0 where the override pooled several)
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


def remote_reference(
    image_syx: np.ndarray,
    segments_syx: np.ndarray,
    *,
    scope: str = "slice",
    min_pixels: int = 20,
    segments: list[int] | None = None,
) -> RemoteReference:
    """Remote statistics of `image_syx` over the myocardium labelled in `segments_syx` (1..16)."""
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
