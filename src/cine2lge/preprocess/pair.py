"""Pair cine slices with LGE slices by position, and register them in-plane (translation, MI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from cine2lge.preprocess.volume import SlicePlane


@dataclass
class SlicePair:
    """One cine slice and its LGE partner (lge_slice -1 when none within tolerance)."""

    cine_slice: int
    lge_slice: int
    distance_mm: float  # LV centre on the cine slice to the LGE plane, along the LGE normal
    status: str  # paired | unpaired_cine | unpaired_lge | no_lge


def pair_slices(
    cine_planes: list[SlicePlane],
    lge_planes: list[SlicePlane],
    cine_centres_mm: list[np.ndarray],
    tolerance_mm: float,
    max_angle_deg: float = 20.0,
) -> list[SlicePair]:
    """One-to-one pairs, closest first, of cine and LGE slices within `tolerance_mm`.

    The distance is measured at the LV centre of each cine slice (not the image corner), so a
    small tilt between the stacks does not shift pairs. Slices whose planes are more than
    `max_angle_deg` apart never pair. Every slice appears in the result: unpaired cine slices
    with lge_slice -1, unpaired LGE slices with cine_slice -1.
    """
    n_cine, n_lge = len(cine_planes), len(lge_planes)
    distance = np.full((n_cine, n_lge), np.inf)
    for k, (plane, centre) in enumerate(zip(cine_planes, cine_centres_mm, strict=True)):
        for m, lge_plane in enumerate(lge_planes):
            cos_angle = abs(float(plane.normal @ lge_plane.normal))
            if cos_angle >= np.cos(np.radians(max_angle_deg)):
                distance[k, m] = abs(lge_plane.signed_distance_mm(centre))
    pairs: dict[int, SlicePair] = {}
    used_lge: set[int] = set()
    for flat in np.argsort(distance, axis=None):
        k, m = np.unravel_index(flat, distance.shape)
        if distance[k, m] > tolerance_mm:
            break
        if k in pairs or m in used_lge:
            continue
        pairs[int(k)] = SlicePair(int(k), int(m), float(distance[k, m]), "paired")
        used_lge.add(int(m))
    result = []
    for k in range(n_cine):
        if k in pairs:
            result.append(pairs[k])
        else:
            nearest = float(distance[k].min()) if n_lge else float("nan")
            result.append(SlicePair(k, -1, nearest, "unpaired_cine"))
    for m in range(n_lge):
        if m not in used_lge:
            nearest = float(distance[:, m].min()) if n_cine else float("nan")
            result.append(SlicePair(-1, m, nearest, "unpaired_lge"))
    return result


@dataclass
class Registration:
    """In-plane translation that aligns the LGE crop with the cine crop (crop x, y axes, mm)."""

    shift_mm: np.ndarray
    metric: float  # Mattes MI after registration (more negative = better match)
    status: str  # ok | rejected (implausibly large) | failed | disabled
    metric_at_zero: float = float("nan")  # the same metric without any shift


def _image2d(array_yx: np.ndarray, spacing_mm: float) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_yx, dtype=np.float32))
    image.SetSpacing([spacing_mm, spacing_mm])
    return image


def register_translation(
    lge_yx: np.ndarray,
    cine_yx: np.ndarray,
    spacing_mm: float,
    mask_radius_mm: float,
    max_shift_mm: float,
) -> Registration:
    """Translation-only registration of a cine crop (moving) to an LGE crop (fixed).

    Mattes mutual information, since the contrasts differ (bright blood and grey myocardium in
    cine; nulled myocardium in LGE), evaluated in a disk of `mask_radius_mm` around the crop
    centre (the LV, so the heart drives the match rather than chest wall or liver).

    Returns the shift s such that the LGE anatomy seen at crop position p of the cine lies at
    p + s in the LGE: the LGE crop is re-centred by +s. Shifts above `max_shift_mm` are rejected
    (shift 0) since breath-hold mismatches are a few mm; larger ones mean a failed match.
    """
    fixed = _image2d(lge_yx, spacing_mm)
    moving = _image2d(cine_yx, spacing_mm)
    n = lge_yx.shape[0]
    y, x = np.mgrid[0:n, 0:n]
    centre = (n - 1) / 2
    mask_yx = ((x - centre) ** 2 + (y - centre) ** 2) * spacing_mm**2 <= mask_radius_mm**2
    mask = sitk.GetImageFromArray(mask_yx.astype(np.uint8))
    mask.CopyInformation(fixed)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=24)
    method.SetMetricFixedMask(mask)
    method.SetMetricSamplingStrategy(method.NONE)  # every masked pixel: small, deterministic
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=0.01, numberOfIterations=200, relaxationFactor=0.7
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1.0, 0.0])
    method.SetInitialTransform(sitk.TranslationTransform(2), inPlace=False)
    # One thread for the registration and its pyramid filters: ITK's multi-threaded sums change
    # the last bits of the shift from run to run; single-threaded, crops are byte-identical
    # across runs and chunk sizes (tests/test_pipeline_chunks.py). The 2D images are small.
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        at_zero = float(method.MetricEvaluate(fixed, moving))
        transform = method.Execute(fixed, moving)
    except RuntimeError as error:
        return Registration(np.zeros(2), float("nan"), f"failed: {str(error).splitlines()[-1]}")
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    # sitk maps fixed (LGE) points to moving (cine) points: cine(p + t) ~ LGE(p), so s = -t.
    shift = -np.asarray(transform.GetParameters(), dtype=float)
    metric = float(method.GetMetricValue())
    if np.linalg.norm(shift) > max_shift_mm:
        return Registration(np.zeros(2), metric, "rejected", at_zero)
    return Registration(shift, metric, "ok", at_zero)
