"""Lesion burden per subject, slice and AHA segment as a tidy table.

volume_ml = voxel count x voxel volume (in-plane spacing x slice spacing, gaps included as in
Simpson's rule); mass_g = volume_ml x myocardial density (1.05 g/mL); percent_lv = lesion mass as %
of the whole LV myocardial mass (so segments and slices add up to the subject row); percent_region
= % of the region's own myocardium. transmurality (segments only) = mean over the segment's radial
chords (slice x angular bin of `chord_deg`) of the fraction of the wall thickness that is lesion
(pixels weighted by 1 / radius, so that a chord's pixel sum measures thickness, not area); Kim et
al. (NEJM 2000) grade segments by this extent (0, 1-25, 26-50, 51-75, >75 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MYOCARDIAL_DENSITY_G_PER_ML = 1.05
COLUMNS = [
    "class",
    "region",
    "region_id",
    "volume_ml",
    "mass_g",
    "percent_lv",
    "percent_region",
    "myocardium_ml",
    "transmurality",
]


def voxel_volume_ml(spacing_mm: tuple[float, float, float]) -> float:
    """Volume of one (slice, y, x) voxel in mL from its spacing in mm."""
    return float(np.prod(spacing_mm)) / 1000.0


def chord_transmurality(
    lesion_syx: np.ndarray,
    segments_syx: np.ndarray,
    angle_syx: np.ndarray,
    radius_syx: np.ndarray,
    chord_deg: float,
) -> np.ndarray:
    """Mean chord transmurality (fraction 0..1) per AHA segment, index 0..16 (0 unused, NaN)."""
    inside = segments_syx > 0
    weight = 1.0 / np.maximum(radius_syx[inside], 0.5)
    n_bins = int(np.ceil(360.0 / chord_deg))
    slice_index = np.nonzero(inside)[0]
    segment = segments_syx[inside].astype(np.int64)
    angle_bin = np.minimum((angle_syx[inside] // chord_deg).astype(np.int64), n_bins - 1)
    chord = (slice_index * 17 + segment) * n_bins + angle_bin
    chords, chord_id = np.unique(chord, return_inverse=True)
    myocardium = np.bincount(chord_id, weights=weight)
    lesion = np.bincount(chord_id, weights=weight * lesion_syx[inside])
    chord_segment = (chords // n_bins) % 17
    fraction_sum = np.bincount(chord_segment, weights=lesion / myocardium, minlength=17)
    chord_count = np.bincount(chord_segment, minlength=17)
    with np.errstate(invalid="ignore", divide="ignore"):
        return fraction_sum / chord_count


def burden_table(
    masks: dict[str, np.ndarray],
    myocardium_syx: np.ndarray,
    segments_syx: np.ndarray,
    angle_syx: np.ndarray,
    radius_syx: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    density_g_per_ml: float = MYOCARDIAL_DENSITY_G_PER_ML,
    chord_deg: float = 5.0,
) -> pd.DataFrame:
    """Rows for every class in `masks` x (subject, each slice with myocardium, segments 1..16)."""
    voxel_ml = voxel_volume_ml(spacing_mm)
    myo_slice = myocardium_syx.sum(axis=(1, 2)) * voxel_ml
    myo_segment = np.bincount(segments_syx.ravel(), minlength=17)[1:] * voxel_ml
    myo_total = myocardium_syx.sum() * voxel_ml
    slices = np.flatnonzero(myo_slice > 0)
    region = ["subject"] + ["slice"] * len(slices) + ["segment"] * 16
    region_id = ["all"] + [str(s) for s in slices] + [str(s) for s in range(1, 17)]
    myo_region = np.concatenate([[myo_total], myo_slice[slices], myo_segment])
    tables = []
    for name, mask in masks.items():
        mask = mask & myocardium_syx
        lesion_slice = mask.sum(axis=(1, 2)) * voxel_ml
        lesion_segment = np.bincount(segments_syx[mask], minlength=17)[1:] * voxel_ml
        volume = np.concatenate([[mask.sum() * voxel_ml], lesion_slice[slices], lesion_segment])
        transmurality = np.full(len(volume), np.nan)
        transmurality[-16:] = chord_transmurality(
            mask, segments_syx, angle_syx, radius_syx, chord_deg
        )[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            tables.append(
                pd.DataFrame(
                    {
                        "class": name,
                        "region": region,
                        "region_id": region_id,
                        "volume_ml": volume,
                        "mass_g": volume * density_g_per_ml,
                        "percent_lv": 100.0 * volume / myo_total,
                        "percent_region": 100.0 * volume / myo_region,
                        "myocardium_ml": myo_region,
                        "transmurality": transmurality,
                    }
                )
            )
    return pd.concat(tables, ignore_index=True)[COLUMNS]
