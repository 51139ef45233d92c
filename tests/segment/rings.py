"""Synthetic short-axis slices with known classes: bright LV blood pool, dark myocardial ring,
grey RV crescent on the left (the image's septal side)."""

from __future__ import annotations

import numpy as np


def ring_classes(
    size: int, centre_yx, inner_px: float, outer_px: float, rv: bool = True
) -> np.ndarray:
    """Class map (y, x) uint8: 1 blood pool (r < inner), 2 myocardium, 3 RV, 0 background."""
    y, x = np.mgrid[:size, :size]
    radius = np.hypot(y - centre_yx[0], x - centre_yx[1])
    classes = np.zeros((size, size), dtype=np.uint8)
    classes[radius < inner_px] = 1
    classes[(radius >= inner_px) & (radius < outer_px)] = 2
    if rv:
        rv_radius = np.hypot(y - centre_yx[0], x - (centre_yx[1] - outer_px))
        classes[(rv_radius < outer_px * 1.1) & (radius >= outer_px + 1) & (x < centre_yx[1])] = 3
    return classes


INTENSITY = np.array([0.15, 0.9, 0.3, 0.7], dtype=np.float32)  # per class


def ring_image(classes_yx: np.ndarray, rng: np.random.Generator, noise: float = 0.05):
    image = INTENSITY[classes_yx] + rng.normal(0, noise, classes_yx.shape)
    return np.clip(image, 0, 1).astype(np.float32)


def ring_set(n: int, size: int = 32, seed: int = 0):
    """(images (n, 1, y, x), classes (n, y, x)) with random centre, radii and RV."""
    rng = np.random.default_rng(seed)
    images, classes = [], []
    for _ in range(n):
        inner = rng.uniform(size * 0.1, size * 0.18)
        outer = inner + rng.uniform(2.5, 4.0)
        centre = size / 2 + rng.uniform(-2, 2, size=2)
        c = ring_classes(size, centre, inner, outer)
        images.append(ring_image(c, rng)[None])
        classes.append(c)
    return np.stack(images), np.stack(classes)
