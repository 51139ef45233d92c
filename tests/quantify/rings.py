"""Generated short-axis rings with lesions of known size and place (test helpers)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SHAPE = (6, 96, 96)
CENTRE_YX = (48.0, 48.0)
INNER_PX, OUTER_PX = 15.0, 25.0
SPACING_MM = (8.0, 1.5, 1.5)


def polar(shape=SHAPE, centre_yx=CENTRE_YX):
    """Radius (px) and screen angle theta (deg, 0 = right, 90 = up) of every (y, x) pixel."""
    y, x = np.mgrid[: shape[1], : shape[2]].astype(float)
    dy, dx = y - centre_yx[0], x - centre_yx[1]
    return np.hypot(dy, dx), np.degrees(np.arctan2(-dy, dx)) % 360.0


def ring(shape=SHAPE):
    """Myocardium (S, Y, X) on every slice, blood pool, and an RV on the viewer's left."""
    radius, _ = polar(shape)
    myocardium_yx = (radius >= INNER_PX) & (radius < OUTER_PX)
    y, x = np.mgrid[: shape[1], : shape[2]].astype(float)
    rv_yx = (np.hypot(y - CENTRE_YX[0], x - (CENTRE_YX[1] - 30.0)) < 14.0) & (radius > OUTER_PX)
    stack = lambda m: np.repeat(m[None], shape[0], axis=0)  # noqa: E731
    return stack(myocardium_yx), stack(radius < INNER_PX), stack(rv_yx)


def sector(theta_from, theta_to, shape=SHAPE, r_from=INNER_PX, r_to=OUTER_PX):
    """Ring sector (Y, X) between two screen angles (counterclockwise) and radii."""
    radius, theta = polar(shape)
    inside_angle = (theta - theta_from) % 360.0 < (theta_to - theta_from) % 360.0
    return inside_angle & (radius >= r_from) & (radius < r_to)


def lge_image(myocardium_syx, core_syx, grey_syx, seed=0):
    """Remote ~ uniform 90..110 (SD 5.77: 2 SD = 111.5 stays above all normal pixels), grey zone
    120 (between 2 and 5 SD, below half the maximum), core 250, blood pool 60."""
    rng = np.random.default_rng(seed)
    image = np.full(myocardium_syx.shape, 60.0, dtype=np.float32)
    image[myocardium_syx] = rng.uniform(90.0, 110.0, myocardium_syx.sum())
    image[grey_syx] = 120.0
    image[core_syx] = 250.0
    return image


def rician_lge(myocardium_syx, blood_syx, signals, sigma=10.0, blur_px=0.8, seed=0):
    """Realistic magnitude LGE: noise-free tissue signals (remote 40, blood pool 250, and each
    (mask, signal) of `signals` on top), blurred in-plane by a Gaussian of `blur_px` (partial
    volume at every border, as the scanner's point-spread function does), then Rician noise of
    `sigma` (magnitude of a complex signal with Gaussian noise on both channels)."""
    rng = np.random.default_rng(seed)
    truth = np.full(myocardium_syx.shape, 5.0)
    truth[blood_syx] = 250.0
    truth[myocardium_syx] = 40.0
    for mask, signal in signals:
        truth[mask] = signal
    truth = ndimage.gaussian_filter(truth, (0, blur_px, blur_px))
    real = truth + rng.normal(0.0, sigma, truth.shape)
    imaginary = rng.normal(0.0, sigma, truth.shape)
    return np.hypot(real, imaginary).astype(np.float32)
