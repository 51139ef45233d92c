"""Clean a predicted class map slice by slice so that the myocardium is one closed ring.

Per slice (y, x): keep the largest connected myocardium and RV component; the LV cavity is the
region the myocardium encloses (holes of the myocardium); small holes in the wall that are not
the cavity are filled; the blood pool is the cavity. A ring that does not enclose a cavity is
closed morphologically with disks up to `max_closing_px`; if it still is open, the slice is
flagged (QC status `open`) and, when `drop_open_slices`, its masks are emptied so that the AHA
segmentation and the quantification never run on a broken ring. A closed ring is `implausible`
when its myocardium has fewer than `min_myocardium_px` pixels or it encloses less than
`min_blood_pool_enclosed` of the predicted LV blood pool (largest component); such slices are
emptied when `drop_implausible_slices`. A bad slice loses the slice, not the subject.

QC statuses: ok | repaired (closed by morphology) | open | no_myocardium | implausible; `reason`
says why in words, `usable` whether the slice's masks are kept (reach quantification).

Coverage (per stack, `stack_coverage`): the LV slices are those from the first to the last slice
whose raw prediction has at least `min_myocardium_px` pixels of myocardium and blood pool
together (gaps included); `coverage` = usable slices / LV slices. `flag` = `low_coverage` when
coverage < `min_coverage` or fewer than `min_usable_slices` slices are usable, `no_usable_slice`
when none is, else `ok`: such a subject is quantified on part of its LV only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from cine2lge.segment.net import CLASSES

log = logging.getLogger("cine2lge.segment.postprocess")
BLOOD, MYO, RV = (CLASSES.index(n) for n in ("blood_pool", "myocardium", "right_ventricle"))
EIGHT = np.ones((3, 3), dtype=bool)  # foreground connectivity; the background is 4-connected
QC_COLUMNS = [
    "slice",
    "status",
    "ring_closed",
    "closing_px",
    "myocardium_px",
    "blood_pool_px",
    "right_ventricle_px",
    "removed_px",
    "reason",
    "usable",
    "coverage",
    "flag",
]


@dataclass(frozen=True)
class PostprocessSettings:
    """The config's `segment.postprocess` section (documented in config/config.yaml)."""

    max_closing_px: int = 2
    min_cavity_px: int = 4
    max_wall_hole_px: int = 6
    drop_open_slices: bool = True
    min_myocardium_px: int = 20
    min_blood_pool_enclosed: float = 0.5
    drop_implausible_slices: bool = True
    min_coverage: float = 0.5
    min_usable_slices: int = 2


def largest_component(mask_yx: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (empty stays empty)."""
    labelled, n = ndimage.label(mask_yx, structure=EIGHT)
    if n <= 1:
        return mask_yx.astype(bool)
    sizes = np.bincount(labelled.ravel())[1:]
    return labelled == 1 + int(np.argmax(sizes))


def enclosed_cavity(ring_yx: np.ndarray) -> np.ndarray:
    """Pixels enclosed by a ring: holes not 4-connected to the image border.

    The ring is 8-connected, so the background must be 4-connected: a diagonal step in the wall
    does not leak.
    """
    return ndimage.binary_fill_holes(ring_yx) & ~ring_yx


def disk(radius_px: int) -> np.ndarray:
    y, x = np.ogrid[-radius_px : radius_px + 1, -radius_px : radius_px + 1]
    return x * x + y * y <= radius_px * radius_px


def close_ring(myo_yx: np.ndarray, settings: PostprocessSettings) -> tuple[np.ndarray, int]:
    """(myocardium, closing radius used): radius 0 when already closed, -1 when it stays open."""
    if enclosed_cavity(myo_yx).sum() >= settings.min_cavity_px:
        return myo_yx, 0
    for radius in range(1, settings.max_closing_px + 1):
        # Pad so that closing near the crop edge is not cut by the border.
        padded = np.pad(myo_yx, radius + 1)
        closed = ndimage.binary_closing(padded, structure=disk(radius))
        closed = closed[radius + 1 : -radius - 1, radius + 1 : -radius - 1] | myo_yx
        if enclosed_cavity(closed).sum() >= settings.min_cavity_px:
            return closed, radius
    return myo_yx, -1


def implausible_reason(
    classes_yx: np.ndarray, myo_yx: np.ndarray, settings: PostprocessSettings
) -> str:
    """Why a closed ring is not a plausible LV myocardium ("" when it is)."""
    n_myo = int(myo_yx.sum())
    if n_myo < settings.min_myocardium_px:
        return f"myocardium {n_myo} px < min_myocardium_px {settings.min_myocardium_px}"
    blood = largest_component(classes_yx == BLOOD)
    if blood.sum() >= settings.min_cavity_px:
        inside = float((blood & ndimage.binary_fill_holes(myo_yx)).sum() / blood.sum())
        if inside < settings.min_blood_pool_enclosed:
            return (
                f"ring encloses {100 * inside:.0f} % of the predicted blood pool"
                f" < min_blood_pool_enclosed {100 * settings.min_blood_pool_enclosed:g} %"
            )
    return ""


def clean_slice(classes_yx: np.ndarray, settings: PostprocessSettings) -> tuple[np.ndarray, dict]:
    """Post-processed class map (y, x) uint8 and its QC record (without `slice` and coverage)."""
    classes_yx = np.asarray(classes_yx)
    myo = largest_component(classes_yx == MYO)
    out = np.zeros(classes_yx.shape, dtype=np.uint8)
    record = {
        "status": "no_myocardium",
        "ring_closed": False,
        "closing_px": -1,
        "reason": "no myocardium predicted",
    }
    keep = False
    if myo.any():
        myo, radius = close_ring(myo, settings)
        cavity = enclosed_cavity(myo)
        if radius >= 0:
            # The cavity is the component with the most predicted blood pool (or the largest);
            # other holes are gaps inside the wall: myocardium when small.
            labelled, n = ndimage.label(cavity)
            blood_votes = ndimage.sum(classes_yx == BLOOD, labelled, index=range(1, n + 1))
            sizes = ndimage.sum(cavity, labelled, index=range(1, n + 1))
            main = 1 + int(np.lexsort((sizes, blood_votes))[-1])
            for k in range(1, n + 1):
                if k != main and sizes[k - 1] <= settings.max_wall_hole_px:
                    myo |= labelled == k
            blood = labelled == main
            record = {
                "status": "ok" if radius == 0 else "repaired",
                "ring_closed": True,
                "closing_px": radius,
                "reason": (
                    "closed ring"
                    if radius == 0
                    else f"gap closed with a disk of radius {radius} px"
                ),
            }
            implausible = implausible_reason(classes_yx, myo, settings)
            if implausible:
                record |= {"status": "implausible", "reason": implausible}
            keep = not implausible or not settings.drop_implausible_slices
        else:
            blood = largest_component((classes_yx == BLOOD) & ~myo)
            record = {
                "status": "open",
                "ring_closed": False,
                "closing_px": -1,
                "reason": (
                    "ring still open after closing with disks up to"
                    f" max_closing_px {settings.max_closing_px}"
                ),
            }
            keep = not settings.drop_open_slices
        if keep:
            out[blood] = BLOOD
            out[myo] = MYO
            rv = largest_component((classes_yx == RV) & ~myo & ~blood)
            out[rv] = RV
    record |= {
        "myocardium_px": int((out == MYO).sum()),
        "blood_pool_px": int((out == BLOOD).sum()),
        "right_ventricle_px": int((out == RV).sum()),
        "removed_px": int(((classes_yx > 0) & (out == 0)).sum()),
        "usable": bool((out == MYO).any()),
    }
    return out, record


def stack_coverage(
    classes_syx: np.ndarray, usable_s: np.ndarray, settings: PostprocessSettings
) -> tuple[float, str, int]:
    """(coverage, flag, LV slices) of a stack: see the module docstring."""
    classes_syx = np.asarray(classes_syx)
    usable_s = np.asarray(usable_s, dtype=bool)
    lv_px = ((classes_syx == MYO) | (classes_syx == BLOOD)).sum(axis=(1, 2))
    lv = np.flatnonzero((lv_px >= settings.min_myocardium_px) | usable_s)
    n_lv = int(lv[-1] - lv[0] + 1) if len(lv) else 0
    n_usable = int(usable_s.sum())
    coverage = n_usable / n_lv if n_lv else 0.0
    if n_usable == 0:
        flag = "no_usable_slice"
    elif coverage < settings.min_coverage or n_usable < settings.min_usable_slices:
        flag = "low_coverage"
    else:
        flag = "ok"
    return coverage, flag, n_lv


def clean_stack(
    classes_syx: np.ndarray, settings: PostprocessSettings
) -> tuple[np.ndarray, pd.DataFrame]:
    """Post-process every slice of (slice, y, x); QC table with one row per slice.

    `coverage` and `flag` are the stack's (the same on every row).
    """
    cleaned = np.zeros(np.shape(classes_syx), dtype=np.uint8)
    records = []
    for s, classes_yx in enumerate(classes_syx):
        cleaned[s], record = clean_slice(classes_yx, settings)
        records.append({"slice": s, **record})
    qc = pd.DataFrame(records, columns=QC_COLUMNS)
    qc["usable"] = qc["usable"].astype(bool)
    coverage, flag, _ = stack_coverage(classes_syx, qc["usable"].to_numpy(), settings)
    qc["coverage"] = round(coverage, 4)
    qc["flag"] = flag
    return cleaned, qc


def collect_qc(qc_paths: list[str], table_path: str) -> pd.DataFrame:
    """Cohort QC table: the per-subject qc.tsv files; warns about flagged subjects."""
    from cine2lge.io import atomic_path

    tables = [pd.read_csv(path, sep="\t") for path in qc_paths]
    table = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(
            columns=["subject", "slice", "source_slice", "frame", *QC_COLUMNS[1:], "quantified"]
        )
    )
    if {"flag", "quantified", "subject"} <= set(table.columns):
        used = table[table["quantified"].astype(bool)]
        flagged = used[used["flag"].notna() & (used["flag"] != "ok")]
        flagged = flagged.groupby("subject", sort=False)
        for subject, rows in flagged:
            log.warning(
                "subject %s: %s (coverage %.2f of the LV slices, %d usable)",
                subject,
                rows["flag"].iloc[0],
                rows["coverage"].iloc[0],
                int(rows["usable"].astype(bool).sum()),
            )
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table
