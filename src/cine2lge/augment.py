"""Training augmentation shared by the diffusion model and the segmentation UNet (MONAI).

One random geometric transform for all keys (image and targets move together; labels and masks
are resampled with nearest neighbour), then intensity changes on the *input image only*: sites
differ in contrast, gain and SNR (the demo's external site has the noisiest cine), and the model
should not learn those from the targets. Intensity transforms with zero probability or range are
left out, so configs without them give exactly the geometric-only pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.data import get_track_meta, set_track_meta
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandRotate90d,
    RandScaleIntensityd,
)


def augmentation(
    keys: Sequence[str],
    modes: Sequence[str],
    image_key: str,
    *,
    flip_prob: float,
    rotate90_prob: float,
    affine_prob: float,
    rotate_deg: float,
    scale: float,
    translate_px: float,
    noise_prob: float = 0.0,
    noise_std: float = 0.0,
    gamma_prob: float = 0.0,
    gamma: Sequence[float] = (1.0, 1.0),
    intensity_scale: float = 0.0,
) -> Compose:
    """Geometric transform of `keys` (interpolation `modes`, one per key), then gamma, gain
    (probability 0.5) and Gaussian noise (SD drawn from [0, noise_std]) on `image_key`."""
    keys = list(keys)
    if len(modes) != len(keys):
        raise ValueError(f"augmentation: {len(keys)} keys but {len(modes)} interpolation modes")
    transforms = [
        RandFlipd(keys, prob=flip_prob, spatial_axis=0),
        RandFlipd(keys, prob=flip_prob, spatial_axis=1),
        RandRotate90d(keys, prob=rotate90_prob, max_k=3),
        RandAffined(
            keys,
            prob=affine_prob,
            rotate_range=np.deg2rad(rotate_deg),
            scale_range=(scale, scale),
            translate_range=(translate_px, translate_px),
            mode=tuple(modes),
            padding_mode="zeros",
        ),
    ]
    if gamma_prob > 0:
        transforms.append(RandAdjustContrastd(image_key, prob=gamma_prob, gamma=tuple(gamma)))
    if intensity_scale > 0:
        transforms.append(RandScaleIntensityd(image_key, factors=intensity_scale, prob=0.5))
    if noise_prob > 0 and noise_std > 0:
        transforms.append(RandGaussianNoised(image_key, prob=noise_prob, std=noise_std))
    return Compose(transforms)


def augment_batch(transform: Compose, batch: dict[str, np.ndarray], seed: int) -> None:
    """Apply `transform` in place to every sample of `batch` (arrays of equal length, each
    sample channel-first), the random state set from `seed`: the same seed, the same batch."""
    transform.set_random_state(seed=seed % 2**32)
    tracking = get_track_meta()
    set_track_meta(False)  # plain tensors: 3x faster, and no metadata is needed here
    try:
        for i in range(len(next(iter(batch.values())))):
            out = transform({key: array[i] for key, array in batch.items()})
            for key, array in batch.items():
                array[i] = np.asarray(out[key])
    finally:
        set_track_meta(tracking)
