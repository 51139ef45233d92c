"""Intensity normalisation and temporal resampling of cropped arrays."""

from __future__ import annotations

import numpy as np


def percentile_normalise(
    array: np.ndarray, percentiles: tuple[float, float], mask: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[float, float]]:
    """Map the low/high percentiles of `array` (over `mask`, default all) to 0/1 and clip.

    Values below the low percentile become 0 and above the high percentile 1 (clipping keeps
    rare bright voxels, e.g. fat or flow artefacts, from compressing the myocardium's range).
    Returns the normalised float32 array and the (low, high) intensities used.
    """
    values = np.asarray(array, dtype=np.float32)
    sample = values if mask is None else values[np.broadcast_to(mask, values.shape)]
    if sample.size == 0:
        raise ValueError("percentile_normalise: no voxels to compute percentiles from")
    low, high = (float(p) for p in np.percentile(sample, percentiles))
    if high <= low:  # constant image: map it to 0 rather than dividing by zero
        return np.zeros_like(values), (low, high)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32), (low, high)


def resample_frames(frames_t: np.ndarray, n_frames: int) -> np.ndarray:
    """Resample a cardiac cycle along axis 1 of (slice, time, ...) to `n_frames`, cyclically.

    Output frame j sits at source time j * T_src / n_frames (frame 0 = first phase, usually end
    diastole), linearly interpolated with wrap-around from the last frame to the first, since
    the cycle is periodic. T_src = 1 repeats the single phase; n_frames = 1 keeps the first phase.
    """
    frames_t = np.asarray(frames_t, dtype=np.float32)
    n_source = frames_t.shape[1]
    if n_frames < 1:
        raise ValueError(f"resample_frames: n_frames must be >= 1, got {n_frames}")
    if n_source == 1:
        return np.repeat(frames_t, n_frames, axis=1)
    times = np.arange(n_frames) * n_source / n_frames
    before = np.floor(times).astype(int)
    weight = (times - before).reshape(1, -1, *([1] * (frames_t.ndim - 2)))
    after = (before + 1) % n_source  # the cycle wraps: after the last phase comes the first
    return ((1 - weight) * frames_t[:, before] + weight * frames_t[:, after]).astype(np.float32)
