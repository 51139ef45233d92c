"""Clean a predicted class map slice by slice so that the myocardium is one closed ring.

Per slice (y, x): keep the largest connected myocardium and RV component; the LV cavity is the
region the myocardium encloses (holes of the myocardium); small holes in the wall that are not
the cavity are filled; the blood pool is the cavity. A ring that does not enclose a cavity is
closed morphologically with disks up to `max_closing_px`; if it still is open, the slice is
flagged (QC status `open`) and, when `drop_open_slices`, its masks are emptied so that the AHA
segmentation and the quantification never run on a broken ring.

QC statuses: ok | repaired (closed by morphology) | open | no_myocardium.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from cine2lge.segment.net import CLASSES

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
]


@dataclass(frozen=True)
class PostprocessSettings:
    """The config's `segment.postprocess` section (documented in config/config.yaml)."""

    max_closing_px: int = 2
    min_cavity_px: int = 4
    max_wall_hole_px: int = 6
    drop_open_slices: bool = True


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


def clean_slice(classes_yx: np.ndarray, settings: PostprocessSettings) -> tuple[np.ndarray, dict]:
    """Post-processed class map (y, x) uint8 and its QC record (without `slice`)."""
    classes_yx = np.asarray(classes_yx)
    myo = largest_component(classes_yx == MYO)
    out = np.zeros(classes_yx.shape, dtype=np.uint8)
    record = {"status": "no_myocardium", "ring_closed": False, "closing_px": -1}
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
            }
        else:
            blood = largest_component((classes_yx == BLOOD) & ~myo)
            record = {"status": "open", "ring_closed": False, "closing_px": -1}
        if record["ring_closed"] or not settings.drop_open_slices:
            out[blood] = BLOOD
            out[myo] = MYO
            rv = largest_component((classes_yx == RV) & ~myo & ~blood)
            out[rv] = RV
    record |= {
        "myocardium_px": int((out == MYO).sum()),
        "blood_pool_px": int((out == BLOOD).sum()),
        "right_ventricle_px": int((out == RV).sum()),
        "removed_px": int(((classes_yx > 0) & (out == 0)).sum()),
    }
    return out, record


def clean_stack(
    classes_syx: np.ndarray, settings: PostprocessSettings
) -> tuple[np.ndarray, pd.DataFrame]:
    """Post-process every slice of (slice, y, x); QC table with one row per slice."""
    cleaned = np.zeros(np.shape(classes_syx), dtype=np.uint8)
    records = []
    for s, classes_yx in enumerate(classes_syx):
        cleaned[s], record = clean_slice(classes_yx, settings)
        records.append({"slice": s, **record})
    return cleaned, pd.DataFrame(records, columns=QC_COLUMNS)


def collect_qc(qc_paths: list[str], table_path: str) -> pd.DataFrame:
    """Cohort QC table: the per-subject qc.tsv files, quantified frame first per slice."""
    from cine2lge.io import atomic_path

    tables = [pd.read_csv(path, sep="\t") for path in qc_paths]
    table = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(
            columns=["subject", "slice", "source_slice", "frame", *QC_COLUMNS[1:], "quantified"]
        )
    )
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table
