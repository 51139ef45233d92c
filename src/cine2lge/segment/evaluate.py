"""Dice and 95 % Hausdorff distance per class between predicted and reference class maps,
computed with MONAI's metrics (`monai.metrics.compute_dice`, the edge and surface-distance
functions under `monai.metrics.compute_hausdorff_distance`).

Both measures are taken over a subject's stack of crop slices: Dice pools the voxels of all
slices; HD95 pools the in-plane boundary distances of all slices (slices are thick and their crop
grids are not one 3D grid, so no through-plane distance is used) and, as MONAI's HD95, takes the
larger of the two directed 95th percentiles. On one slice HD95 is exactly
`compute_hausdorff_distance(..., percentile=95, spacing=spacing_mm)` (tested).

Empty masks, explicitly (MONAI alone would give Dice 1 or NaN, HD95 inf or NaN):
- class absent from both maps: Dice NaN, HD95 NaN (nothing to measure; left out of means);
- absent from one map only: Dice 0, HD95 NaN (the distance to nothing is undefined);
- present in both stacks but on a slice in one map only: that slice's boundary pixels count as
  full misses, at the diagonal of the field of view, in the pooled HD95.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_dice
from monai.metrics.utils import get_edge_surface_distance, get_mask_edges

from cine2lge.segment.net import CLASSES

FOREGROUND = CLASSES[1:]


def _dice_channels(predicted_c: np.ndarray, reference_c: np.ndarray) -> np.ndarray:
    """Dice per channel of boolean (channel, ...) masks: MONAI's, NaN where both are empty."""
    predicted_c, reference_c = np.asarray(predicted_c, bool), np.asarray(reference_c, bool)
    predicted = torch.as_tensor(predicted_c[None], dtype=torch.float64)
    reference = torch.as_tensor(reference_c[None], dtype=torch.float64)
    # ignore_empty=False: an empty reference gives 1 (empty prediction) or 0 (any prediction).
    values = compute_dice(predicted, reference, include_background=True, ignore_empty=False)
    values = values[0].numpy().astype(float)
    n = len(predicted_c)
    both_empty = ~(predicted_c.reshape(n, -1).any(1) | reference_c.reshape(n, -1).any(1))
    values[both_empty] = np.nan
    return values


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice of two boolean masks (any shape, all voxels pooled); NaN when both are empty, 0 when
    one is."""
    return float(_dice_channels(np.asarray(predicted)[None], np.asarray(reference)[None])[0])


def dice_per_class(predicted_nyx: np.ndarray, reference_nyx: np.ndarray) -> dict[str, float]:
    """{class name: Dice} of the foreground classes of two class maps (any shape)."""
    predicted_nyx, reference_nyx = np.asarray(predicted_nyx), np.asarray(reference_nyx)
    classes = np.arange(1, len(CLASSES)).reshape(-1, *[1] * predicted_nyx.ndim)
    values = _dice_channels(predicted_nyx[None] == classes, reference_nyx[None] == classes)
    return dict(zip(FOREGROUND, values.tolist(), strict=True))


def hd95(
    predicted_syx: np.ndarray,
    reference_syx: np.ndarray,
    spacing_mm: tuple[float, float] = (1.0, 1.0),
) -> float:
    """95 % Hausdorff distance (mm) of two boolean stacks (slice, y, x), in-plane per slice;
    NaN when either stack is empty."""
    predicted_syx = np.asarray(predicted_syx, bool).reshape(-1, *np.shape(predicted_syx)[-2:])
    reference_syx = np.asarray(reference_syx, bool).reshape(-1, *np.shape(reference_syx)[-2:])
    if not predicted_syx.any() or not reference_syx.any():
        return float("nan")
    spacing = tuple(float(s) for s in spacing_mm)
    far = float(np.hypot(*(np.array(predicted_syx.shape[1:]) * np.asarray(spacing))))
    forward, backward = [], []
    slices = zip(torch.from_numpy(predicted_syx), torch.from_numpy(reference_syx), strict=True)
    for p_yx, r_yx in slices:
        if p_yx.any() and r_yx.any():
            with warnings.catch_warnings():  # MONAI 1.6 passes its own deprecated argument
                warnings.filterwarnings("ignore", "(?s).*always_return_as_numpy", FutureWarning)
                _, (to_reference, to_predicted), _ = get_edge_surface_distance(
                    p_yx, r_yx, spacing=spacing, symmetric=True, warn_empty=False
                )
            forward.append(to_reference.numpy().astype(float))
            backward.append(to_predicted.numpy().astype(float))
        elif p_yx.any() or r_yx.any():
            # The class in one map only on this slice: its boundary has no partner in-plane, so
            # its distance is the farthest distance in the field of view (a full miss).
            edges_p, edges_r = get_mask_edges(p_yx, r_yx)
            forward.append(np.full(int(edges_p.sum()), far))
            backward.append(np.full(int(edges_r.sum()), far))
    return float(
        max(np.percentile(np.concatenate(forward), 95), np.percentile(np.concatenate(backward), 95))
    )


def evaluate_subject(
    subject: str,
    predicted_syx: np.ndarray,
    reference_syx: np.ndarray,
    spacing_mm: tuple[float, float],
) -> pd.DataFrame:
    """One row per foreground class: subject, class, dice, hd95_mm, slices, reference_px,
    predicted_px."""
    if predicted_syx.shape != reference_syx.shape:
        raise ValueError(
            f"subject {subject}: predicted classes {predicted_syx.shape} and"
            f" reference {reference_syx.shape} differ in shape"
        )
    rows = []
    for k, name in enumerate(CLASSES):
        if k == 0:
            continue
        p, r = predicted_syx == k, reference_syx == k
        rows.append(
            {
                "subject": subject,
                "class": name,
                "dice": dice(p, r),
                "hd95_mm": hd95(p, r, spacing_mm),
                "slices": len(reference_syx),
                "reference_px": int(r.sum()),
                "predicted_px": int(p.sum()),
            }
        )
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, SD and subject count of Dice and HD95 per class (and `by` columns)."""
    keys = [*(by or []), "class"]
    grouped = table.groupby(keys, sort=False)
    out = grouped.agg(
        subjects=("subject", "nunique"),
        dice_mean=("dice", "mean"),
        dice_sd=("dice", "std"),
        hd95_mm_mean=("hd95_mm", "mean"),
        hd95_mm_sd=("hd95_mm", "std"),
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


def evaluate_cohort(
    subjects: list[str],
    masks: list[str],
    paired: list[str],
    geometry: list[str],
    schemes: dict[str, dict],
    splits: dict[str, str],
    table_path: str | Path,
    summary_path: str | Path,
) -> pd.DataFrame:
    """Stage entry (rule segment_evaluate): predicted vs reference classes of held-out subjects.

    Writes the per-subject table (subject, split, class, dice, hd95_mm, ...) and the summary per
    split and class (mean, SD).
    """

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
    columns = [
        "subject",
        "split",
        "class",
        "dice",
        "hd95_mm",
        "slices",
        "reference_px",
        "predicted_px",
    ]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    with atomic_path(summary_path) as tmp:
        summarise(table, ["split"]).to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return table


def subject_folds(subjects: list[str], n_folds: int, seed: int = 0) -> list[list[str]]:
    """Subject-wise folds: a shuffled, round-robin split (sizes differ by at most one)."""
    if not 2 <= n_folds <= len(subjects):
        raise ValueError(f"cross-validation: {n_folds} folds for {len(subjects)} subjects")
    order = np.random.default_rng(seed).permutation(len(subjects))
    return [[subjects[i] for i in order[k::n_folds]] for k in range(n_folds)]


def cross_validate(
    data,
    n_folds: int,
    spec,
    settings,
    postprocess,
    spacing_mm: dict[str, float],
    work_dir: str | Path,
    device=None,
    seed: int = 0,
    init_weights: str | Path | None = None,
    folds: list[int] | None = None,
) -> pd.DataFrame:
    """Subject-wise k-fold cross-validation of the segmentation on labelled slices.

    `data`: train.LabelledSlices of all subjects; each fold trains a fresh network on the other
    folds' subjects and evaluates the held-out subjects, raw (argmax) and post-processed.
    `init_weights`: every fold fine-tunes from these weights (e.g. the shipped demo weights)
    instead of a random start. `folds`: run only these fold indices (quick exploration).
    Returns the per-subject table with columns fold and stage (raw | postprocessed).
    """
    import torch

    from cine2lge.segment.postprocess import clean_stack
    from cine2lge.segment.train import SegmentTrainer, predict_classes

    device = device or torch.device("cpu")
    subjects = list(dict.fromkeys(data.subjects))
    tables = []
    for k, held_out in enumerate(subject_folds(subjects, n_folds, seed)):
        if folds is not None and k not in folds:
            continue
        training = data.subset(set(subjects) - set(held_out))
        trainer = SegmentTrainer(
            spec,
            settings,
            training,
            None,
            Path(work_dir) / f"fold{k}",
            device,
            init_weights=init_weights,
        )
        trainer.run(progress=False)
        model = trainer.ema.module
        for subject in held_out:
            test = data.subset({subject})
            raw = predict_classes(model, test.images_nyx, device)
            cleaned, _ = clean_stack(raw, postprocess)
            spacing = (spacing_mm[subject], spacing_mm[subject])
            for stage, predicted in (("raw", raw), ("postprocessed", cleaned)):
                table = evaluate_subject(subject, predicted, test.classes_nyx, spacing)
                table.insert(1, "fold", k)
                table.insert(2, "stage", stage)
                tables.append(table)
    return pd.concat(tables, ignore_index=True)


def myops_preprocess_section(preprocess_section: dict, register: bool = False) -> dict:
    """The config's `preprocess` section for MyoPS: registration off unless `register`.

    MyoPS C0, DE and labels are distributed co-registered on one grid; registering DE to C0
    moves the labels off the cine by a median 1.8 mm (docs/preprocess.md), about one crop pixel
    of a myocardial wall only a few pixels thick.
    """
    section = json.loads(json.dumps(preprocess_section))  # deep copy
    section["registration"]["enabled"] = bool(register)
    return section


def load_myops(
    root: str | Path,
    preprocess_section: dict,
    scheme: dict,
    phase_fraction: float,
    cache_dir: str | Path,
    numbers: list[str] | None = None,
    register: bool = False,
):
    """(train.LabelledSlices, {subject: crop spacing mm}) of MyoPS 2020: each subject cropped
    by the preprocess library (cine = C0, LGE = DE, labels = gd on the DE grid), cached as npz
    named by a hash of the preprocess settings. `numbers`: only these case numbers (e.g.
    ["101"]), default all. `register`: register DE to C0 (off: they are co-registered)."""
    import hashlib

    from cine2lge.preprocess.subject import Settings, preprocess_subject
    from cine2lge.segment.train import LabelledSlices, labelled_rows

    root, cache_dir = Path(root), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    section = myops_preprocess_section(preprocess_section, register)
    settings = Settings.from_config(section)
    key = hashlib.sha256(json.dumps(section, sort_keys=True).encode()).hexdigest()[:10]
    parts, spacing = [], {}
    label_files = [
        p
        for p in sorted((root / "labels").glob("myops_training_*_gd.nii.gz"))
        if numbers is None or p.name.split("_")[2] in numbers
    ]
    if not label_files:
        raise FileNotFoundError(f"MyoPS folder {root}: no labels/myops_training_*_gd.nii.gz")
    for labels in label_files:
        subject = "myops" + labels.name.split("_")[2]
        cache = cache_dir / f"{subject}_{key}.npz"
        if not cache.is_file():
            cine = root / "images" / labels.name.replace("_gd", "_C0")
            lge = root / "images" / labels.name.replace("_gd", "_DE")
            result = preprocess_subject(subject, cine, settings, lge, labels, scheme["myocardium"])
            np.savez(
                cache,
                spacing_mm=result.geometry["spacing_mm"],
                **{k: result.arrays[k] for k in ("cine_styx", "labels_syx", "paired")},
            )
        with np.load(cache) as npz:
            arrays = dict(npz)
        images, classes, rows = labelled_rows(subject, arrays, scheme, phase_fraction)
        parts.append(LabelledSlices(images, classes, [subject] * len(rows), rows))
        spacing[subject] = float(arrays["spacing_mm"])
    return LabelledSlices.concatenate(parts), spacing
