"""Dice and 95 % Hausdorff distance per class between predicted and reference class maps.

Both measures are taken over a subject's stack of crop slices: Dice pools the voxels of all
slices; HD95 pools the in-plane boundary distances of all slices (slices are thick and their crop
grids are not one 3D grid, so no through-plane distance is used). HD95 follows MONAI's
definition: the larger of the two directed 95th percentiles. A class absent from both maps has
Dice and HD95 NaN; absent from one map only, Dice 0 and HD95 NaN (undefined distance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from cine2lge.segment.net import CLASSES

FOREGROUND = CLASSES[1:]


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice of two boolean masks; NaN when both are empty."""
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    total = predicted.sum() + reference.sum()
    if total == 0:
        return float("nan")
    return float(2.0 * np.logical_and(predicted, reference).sum() / total)


def dice_per_class(predicted_nyx: np.ndarray, reference_nyx: np.ndarray) -> dict[str, float]:
    """{class name: Dice} of the foreground classes of two class maps (any shape)."""
    return {name: dice(predicted_nyx == k, reference_nyx == k)
            for k, name in enumerate(CLASSES) if k > 0}


def _boundary(mask_yx: np.ndarray) -> np.ndarray:
    return mask_yx & ~ndimage.binary_erosion(mask_yx, border_value=0)


def _directed_distances(a_yx: np.ndarray, b_yx: np.ndarray, spacing_mm) -> np.ndarray:
    """Distances (mm) from each boundary pixel of a to the nearest boundary pixel of b."""
    to_b = ndimage.distance_transform_edt(~_boundary(b_yx), sampling=spacing_mm)
    return to_b[_boundary(a_yx)]


def hd95(predicted_syx: np.ndarray, reference_syx: np.ndarray,
         spacing_mm: tuple[float, float] = (1.0, 1.0)) -> float:
    """95 % Hausdorff distance (mm) of two boolean stacks (slice, y, x), in-plane per slice."""
    predicted_syx = np.asarray(predicted_syx, bool).reshape(-1, *np.shape(predicted_syx)[-2:])
    reference_syx = np.asarray(reference_syx, bool).reshape(-1, *np.shape(reference_syx)[-2:])
    if not predicted_syx.any() or not reference_syx.any():
        return float("nan")
    forward, backward = [], []
    for p_yx, r_yx in zip(predicted_syx, reference_syx, strict=True):
        if p_yx.any() and r_yx.any():
            forward.append(_directed_distances(p_yx, r_yx, spacing_mm))
            backward.append(_directed_distances(r_yx, p_yx, spacing_mm))
        elif p_yx.any() or r_yx.any():
            # A slice with the class in one map only: its boundary has no partner in-plane, so
            # its distance is the farthest distance in the field of view (a full miss).
            missing = p_yx if p_yx.any() else r_yx
            far = float(np.hypot(*(np.array(p_yx.shape) * np.asarray(spacing_mm))))
            (forward if p_yx.any() else backward).append(np.full(_boundary(missing).sum(), far))
    if not forward or not backward:
        return float("nan")
    return float(max(np.percentile(np.concatenate(forward), 95),
                     np.percentile(np.concatenate(backward), 95)))


def evaluate_subject(subject: str, predicted_syx: np.ndarray, reference_syx: np.ndarray,
                     spacing_mm: tuple[float, float]) -> pd.DataFrame:
    """One row per foreground class: subject, class, dice, hd95_mm, slices, reference_px,
    predicted_px."""
    if predicted_syx.shape != reference_syx.shape:
        raise ValueError(f"subject {subject}: predicted classes {predicted_syx.shape} and"
                         f" reference {reference_syx.shape} differ in shape")
    rows = []
    for k, name in enumerate(CLASSES):
        if k == 0:
            continue
        p, r = predicted_syx == k, reference_syx == k
        rows.append({"subject": subject, "class": name, "dice": dice(p, r),
                     "hd95_mm": hd95(p, r, spacing_mm), "slices": len(reference_syx),
                     "reference_px": int(r.sum()), "predicted_px": int(p.sum())})
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, SD and subject count of Dice and HD95 per class (and `by` columns)."""
    keys = [*(by or []), "class"]
    grouped = table.groupby(keys, sort=False)
    out = grouped.agg(
        subjects=("subject", "nunique"), dice_mean=("dice", "mean"), dice_sd=("dice", "std"),
        hd95_mm_mean=("hd95_mm", "mean"), hd95_mm_sd=("hd95_mm", "std"),
    ).reset_index()
    return out


def reference_rows(arrays: dict, scheme: dict) -> tuple[np.ndarray, np.ndarray]:
    """(crop rows, reference classes (n, y, x)) of the labelled slices of a paired.npz: rows
    with labelled myocardium (and a paired LGE slice where the subject has an LGE)."""
    from cine2lge.segment.net import classes_from_labels

    classes_syx = classes_from_labels(arrays["labels_syx"], scheme)
    usable = (classes_syx == CLASSES.index("myocardium")).any(axis=(1, 2))
    if "paired" in arrays:
        usable &= np.asarray(arrays["paired"], dtype=bool)
    rows = np.flatnonzero(usable)
    return rows, classes_syx[rows]


def evaluate_cohort(subjects: list[str], masks: list[str], paired: list[str],
                    geometry: list[str], schemes: dict[str, dict], splits: dict[str, str],
                    table_path: str | Path, summary_path: str | Path) -> pd.DataFrame:
    """Stage entry (rule segment_evaluate): predicted vs reference classes of held-out subjects.

    Writes the per-subject table (subject, split, class, dice, hd95_mm, ...) and the summary per
    split and class (mean, SD).
    """
    import json

    from cine2lge.io import atomic_path

    tables = []
    for subject, masks_path, paired_path, geometry_path in zip(
        subjects, masks, paired, geometry, strict=True
    ):
        with np.load(paired_path) as npz:
            arrays = {k: npz[k] for k in ("labels_syx", "paired") if k in npz}
        if "labels_syx" not in arrays:
            raise ValueError(f"subject {subject}: {paired_path} has no labels_syx to evaluate")
        rows, reference = reference_rows(arrays, schemes[subject])
        with np.load(masks_path) as npz:
            predicted = npz["labels_syx"][rows]
        spacing = float(json.loads(Path(geometry_path).read_text())["spacing_mm"])
        table = evaluate_subject(subject, predicted, reference, (spacing, spacing))
        table.insert(1, "split", splits[subject])
        tables.append(table)
    columns = ["subject", "split", "class", "dice", "hd95_mm", "slices", "reference_px",
               "predicted_px"]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    with atomic_path(summary_path) as tmp:
        summarise(table, ["split"]).to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table
