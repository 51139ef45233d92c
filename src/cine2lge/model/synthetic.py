"""A tiny synthetic paired dataset with a known cine -> LGE relationship (tests, smoke runs,
benchmarks). Not the demo cohort: no anatomy beyond a ring, no scanner physics.

Each slice: a myocardial ring around a blood pool; half of the slices have a lesion sector whose
cine intensity oscillates over the frames (the cue) and which is bright in the LGE (the answer).
Labels use the demo scheme: 1 blood pool, 2 myocardium, 5 hyperintense lesion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cine2lge.model.data import DATASET_FILES, MANIFEST


def synthetic_slices(n: int, frames: int = 8, size: int = 64, seed: int = 0) -> dict:
    """cine (n, T, H, W), lge (n, H, W) float32 in [0, 1]; labels (n, H, W) int16."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size].astype(np.float32)
    cine = np.empty((n, frames, size, size), np.float32)
    lge = np.empty((n, size, size), np.float32)
    labels = np.zeros((n, size, size), np.int16)
    for i in range(n):
        cy, cx = size / 2 + rng.uniform(-size / 10, size / 10, 2)
        inner, outer = size * rng.uniform(0.14, 0.2), size * rng.uniform(0.26, 0.32)
        radius = np.hypot(y - cy, x - cx)
        angle = np.arctan2(y - cy, x - cx)
        blood, ring = radius < inner, (radius >= inner) & (radius < outer)
        lesion = np.zeros_like(ring)
        if i % 2:
            centre, width = rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 1.4)
            lesion = ring & (np.abs(np.angle(np.exp(1j * (angle - centre)))) < width / 2)
        labels[i][blood], labels[i][ring], labels[i][lesion] = 1, 2, 5
        phase = 2 * np.pi * np.arange(frames) / frames
        for t in range(frames):
            frame = 0.8 * blood + 0.35 * ring + 0.3 * lesion * np.sin(phase[t])
            cine[i, t] = frame + rng.normal(0, 0.03, frame.shape)
        lge[i] = 0.15 * blood + 0.2 * ring + 0.65 * lesion + rng.normal(0, 0.02, ring.shape)
    return {"cine": np.clip(cine, 0, 1), "lge": np.clip(lge, 0, 1), "labels": labels}


def write_synthetic_split(
    folder: str | Path, n: int, frames: int = 8, size: int = 64, seed: int = 0, t2: bool = False
) -> Path:
    """Write a dataset split folder in the preprocess stage's format; with `t2`, also a
    T2-weighted image (oedema bright where the lesion is) as `t2_nyx.npy`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = synthetic_slices(n, frames, size, seed)
    for key, name in DATASET_FILES.items():
        np.save(folder / name, arrays[key])
    if t2:
        ring, lesion = np.isin(arrays["labels"], [2, 5]), arrays["labels"] == 5
        np.save(folder / "t2_nyx.npy", (0.3 * ring + 0.6 * lesion).astype(np.float32))
    pd.DataFrame(
        {
            "row": np.arange(n),
            "subject": [f"syn{i // 4:03d}" for i in range(n)],
            "slice": [i % 4 for i in range(n)],
            "has_labels": [True] * n,
        }
    ).to_csv(folder / MANIFEST, sep="\t", index=False)
    return folder
