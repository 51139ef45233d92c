"""Myocardium (and other label-scheme classes) as boolean masks.

Sources, in the order the stage tries them: a label map with a label scheme (config
`label_schemes`), Sunnybrook-style contour files (`i-contours`/`o-contours`: one "x y" point per
line in pixel coordinates), or the automatic segmentation (cine2lge.segment, masks.npz).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from skimage.draw import polygon

from cine2lge.exclusion import ExpectedDataProblem

log = logging.getLogger("cine2lge.quantify")
LESION_CLASSES = ("hyperintense", "intermediate")


class MyocardiumUnavailable(ExpectedDataProblem, LookupError):
    """No myocardium mask can be made for a subject; the message names the subject and why.

    An expected data problem: the subject is excluded (cine2lge.exclusion), the cohort goes on.
    """


def class_mask(labels: np.ndarray, scheme: dict, name: str) -> np.ndarray:
    """Boolean mask of class `name` of a label scheme (any axis order; empty if not in scheme)."""
    return np.isin(labels, scheme.get(name, []))


def label_masks(labels: np.ndarray, scheme: dict) -> dict[str, np.ndarray]:
    """Every class of the scheme as a mask; lesion classes are kept inside the myocardium."""
    masks = {name: class_mask(labels, scheme, name) for name in scheme}
    for name in LESION_CLASSES:
        if name in masks:
            masks[name] &= masks["myocardium"]
    return masks


def read_contour(path: str | Path) -> np.ndarray:
    """Points (n, 2) as (x, y) pixel coordinates from a Sunnybrook contour text file."""
    path = Path(path)
    try:
        points_xy = np.loadtxt(path, dtype=float, ndmin=2)
    except ValueError as error:
        raise ValueError(f"contour file {path}: not 'x y' numbers per line ({error})") from None
    if points_xy.shape[1] != 2 or len(points_xy) < 3:
        raise ValueError(
            f"contour file {path}: expected at least 3 lines of 'x y', got shape {points_xy.shape}"
        )
    return points_xy


def polygon_mask(points_xy: np.ndarray, shape_yx: tuple[int, int]) -> np.ndarray:
    """Filled polygon (x, y) points -> boolean (y, x) mask; x is the column, y the row."""
    rows, cols = polygon(points_xy[:, 1], points_xy[:, 0], shape=shape_yx)
    mask = np.zeros(shape_yx, dtype=bool)
    mask[rows, cols] = True
    return mask


def myocardium_from_contours(
    inner_xy: np.ndarray, outer_xy: np.ndarray, shape_yx: tuple[int, int]
) -> np.ndarray:
    """Myocardium between the epicardial (outer) and endocardial (inner) contour, (y, x)."""
    return polygon_mask(outer_xy, shape_yx) & ~polygon_mask(inner_xy, shape_yx)


_CONTOUR_NAME = re.compile(r"IM-\d+-(\d+)-([io])contour-manual\.txt$")


def contour_files(folder: str | Path) -> dict[int, dict[str, Path]]:
    """Sunnybrook contour folder -> {image number: {"i": path, "o": path}}.

    The image number (without leading zeros) is the DICOM InstanceNumber of the contoured image.
    """
    folder = Path(folder)
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.glob("[io]-contours/*contour-manual.txt")):
        match = _CONTOUR_NAME.search(path.name)
        if match:
            found.setdefault(int(match[1]), {})[match[2]] = path
    if not found:
        raise ValueError(f"contour folder {folder}: no i-/o-contours/IM-*-NNNN-*contour-manual.txt")
    return found


def myocardium_from_contour_folder(
    folder: str | Path, shape_yx: tuple[int, int]
) -> dict[int, np.ndarray]:
    """Myocardium (y, x) per image number, for the images that have both contours."""
    return {
        number: myocardium_from_contours(
            read_contour(paths["i"]), read_contour(paths["o"]), shape_yx
        )
        for number, paths in contour_files(folder).items()
        if {"i", "o"} <= paths.keys()
    }


# Classes of the segmentation stage's masks (cine2lge.segment.net.PREDICTED_SCHEME; repeated here
# so that quantification does not import the network code).
PREDICTED_SCHEME = {"blood_pool": [1], "myocardium": [2], "right_ventricle": [3]}


def read_predicted_masks(subject: str, path: str | Path) -> np.ndarray:
    """Class map (slice, y, x) of masks.npz for quantification: usable slices only.

    Slices whose QC (`usable_s`, segment stage) says unusable (open ring, implausible
    myocardium, none predicted) are emptied, so a bad slice loses the slice, not the subject.
    No usable slice: MyocardiumUnavailable naming the slices and why. A QC `flag` other than ok
    (too few usable slices for the LV) is logged as a warning. Files without the QC arrays
    (older masks.npz) are used as they are.
    """
    with np.load(path) as masks:
        predicted_syx = masks["labels_syx"].copy()
        qc = {
            k: masks[k]
            for k in ("usable_s", "status_s", "reason_s", "coverage", "flag")
            if k in masks
        }
        slice_index = masks["slice_index"] if "slice_index" in masks else None
    if "usable_s" not in qc:
        return predicted_syx
    usable_s = qc["usable_s"].astype(bool)
    predicted_syx[~usable_s] = 0
    if slice_index is None:
        slice_index = np.arange(len(usable_s))
    if not usable_s.any():
        statuses = qc.get("status_s", np.full(len(usable_s), "?"))
        reasons = qc.get("reason_s", np.full(len(usable_s), "?"))
        listed = "; ".join(
            f"slice {s} (source {slice_index[s]}): {statuses[s]} ({reasons[s]})"
            for s in range(len(usable_s))
        )
        raise MyocardiumUnavailable(
            f"subject {subject}: no usable slice in the predicted masks ({path}):"
            f" {listed or 'no slices'}; see results/segment/{subject}/qc.tsv, or give labels in"
            " the sheet's 'myo' column"
        )
    flag = str(qc.get("flag", "ok"))
    if flag != "ok":
        log.warning(
            "subject %s: predicted myocardium flagged %s: quantified on %d slice(s) %s,"
            " coverage %.2f of the LV slices; results cover part of the LV only",
            subject,
            flag,
            int(usable_s.sum()),
            np.flatnonzero(usable_s).tolist(),
            float(qc.get("coverage", np.nan)),
        )
    return predicted_syx


def predicted_myocardium(subject: str, predicted_syx: np.ndarray | None) -> np.ndarray:
    """Myocardium of the automatic segmentation (masks.npz `labels_syx`, cine2lge.segment)."""
    if predicted_syx is None:
        raise MyocardiumUnavailable(
            f"subject {subject}: no myocardium labels in the preprocessed data (sheet column"
            " 'myo' is empty) and no predicted masks (config segment.quantify_unlabelled is"
            " false); give labels or contours in the sheet's 'myo' column"
        )
    myocardium_syx = class_mask(predicted_syx, PREDICTED_SCHEME, "myocardium")
    if not myocardium_syx.any():
        raise MyocardiumUnavailable(
            f"subject {subject}: the predicted masks have no closed myocardial ring on any slice"
            f" (see results/segment/{subject}/qc.tsv); give labels in the sheet's 'myo' column"
        )
    return myocardium_syx


def subject_myocardium(
    subject: str,
    labels_syx: np.ndarray | None,
    scheme: dict,
    predicted_syx: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """Myocardium mask (slice, y, x) and its source ("labels" or "predicted").

    Contour folders reach this stage as label maps (ingest rasterises them on the LGE grid with
    `myocardium_from_contour_folder`), so they are recorded as "labels" too. Without labels the
    segmentation stage's class map `predicted_syx` (PREDICTED_SCHEME) is used.
    """
    if labels_syx is not None:
        myocardium_syx = class_mask(labels_syx, scheme, "myocardium")
        if not myocardium_syx.any():
            raise MyocardiumUnavailable(
                f"subject {subject}: label map has no myocardium labels {scheme['myocardium']}"
            )
        return myocardium_syx, "labels"
    return predicted_myocardium(subject, predicted_syx), "predicted"
