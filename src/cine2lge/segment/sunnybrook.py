"""Sunnybrook Cardiac Data (../shared/data/sunnybrook) as an external test of the segmenter.

Three GE heart-failure patients (SC-HF-I-1/-2/-4): the full short-axis cine DICOM series
(`dicom/SCD0000N01/NNNN.dcm`, 20 phases per slice, file number = InstanceNumber) and manual
contours (`contours/SC-HF-I-N/{i,o}-contours/IM-0001-NNNN-{i,o}contour-manual.txt`, one "x y"
point per line in pixel coordinates of image NNNN: x is the column, y the row). Inner contours
exist at end-diastole (ED) and end-systole, outer contours at ED only, so the reference is the ED
frame of the slices with both contours: 1 = LV blood pool (inside the inner contour),
2 = myocardium (inside the outer, outside the inner contour). There are no RV contours.

The cine is converted by the project's own DICOM ingest (`dicom.ingest.convert_study`: slices
sorted along the normal, phases by trigger time, RAS affine), the label map is written on the
same grid, and both are cropped by `realdata.crop_labelled_cine` exactly as the pipeline crops a
subject. `frames`: "ed" writes the ED frame stack (x, y, slice) only; "cycle" writes the whole
cycle (x, y, slice, time) rotated so that ED is the first phase, which is what an unlabelled
subject gives the automatic LV localiser in the pipeline (it uses the motion over the cycle).
Either way frame 0 of the crop is the ED frame the contours were drawn on.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("cine2lge.segment.sunnybrook")

SUNNYBROOK_SCHEME = {"blood_pool": [1], "myocardium": [2]}
BLOOD_POOL, MYOCARDIUM = 1, 2
FRAMES = ("ed", "cycle")
_CONTOUR = re.compile(r"IM-\d+-(\d+)-([io])contour-manual\.txt$")


def read_contour(path: str | Path) -> np.ndarray:
    """Points (n, 2) as (x = column, y = row) pixel coordinates of one contour file."""
    points = np.loadtxt(path, dtype=float, ndmin=2)
    if points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"contour {path}: expected at least 3 'x y' lines, got {points.shape}")
    return points


def rasterise(contour_xy: np.ndarray, shape_yx: tuple[int, int]) -> np.ndarray:
    """Boolean mask (y, x) of the pixels whose centres lie inside a closed polygon (x, y)."""
    from skimage.draw import polygon

    contour_xy = np.asarray(contour_xy, dtype=float)
    mask = np.zeros(shape_yx, dtype=bool)
    rows, cols = polygon(contour_xy[:, 1], contour_xy[:, 0], shape=shape_yx)
    mask[rows, cols] = True
    return mask


def contour_labels(
    inner_xy: np.ndarray, outer_xy: np.ndarray, shape_yx: tuple[int, int]
) -> np.ndarray:
    """Label map (y, x) int16: 1 inside the inner contour, 2 between the inner and outer one."""
    inner = rasterise(inner_xy, shape_yx)
    outer = rasterise(outer_xy, shape_yx)
    labels = np.zeros(shape_yx, dtype=np.int16)
    labels[outer & ~inner] = MYOCARDIUM
    labels[inner] = BLOOD_POOL
    return labels


def contour_files(folder: str | Path) -> dict[int, dict[str, Path]]:
    """{image number: {"i": inner file, "o": outer file}} of one patient's contour folder."""
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob("*-contours/*contour-manual.txt")):
        match = _CONTOUR.search(path.name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = path
    return found


def patients(root: str | Path) -> list[tuple[str, str]]:
    """(DICOM folder name, contour folder name) of every patient in link.csv, in file order."""
    with open(Path(root) / "link.csv", newline="") as handle:
        return [(row["patient_id"], row["original_id"]) for row in csv.DictReader(handle)]


@dataclass
class Patient:
    """One patient's NIfTI files on the cine grid and where its contours are."""

    subject: str
    cine: Path
    labels: Path
    ed_phase: int  # 0-based phase (trigger-time order) of the contoured ED frames
    labelled_slices: list[int]  # slice indices (ingest order) with both ED contours
    n_slices: int
    spacing_mm: tuple[float, float, float]


def build_patient(
    root: str | Path,
    patient_id: str,
    original_id: str,
    out_dir: str | Path,
    ingest_section: dict | None = None,
    frames: str = "ed",
) -> Patient:
    """Write one patient's cine (`frames`: "ed" or "cycle") and ED label map as NIfTI files."""
    import nibabel as nib

    from cine2lge.dicom.ingest import convert_study

    if frames not in FRAMES:
        raise ValueError(f"frames must be one of {FRAMES}, not {frames!r}")
    root, out_dir = Path(root), Path(out_dir)
    subject = f"sunnybrook{original_id.rsplit('-', 1)[-1]}"
    volume, _, _ = convert_study(root / "dicom" / patient_id, subject, "cine", ingest_section)
    n_phases, n_slices, rows, cols = volume.data_tsyx.shape
    if len(volume.frames) != n_phases * n_slices:
        raise ValueError(f"{patient_id}: slice gaps in the cine, not supported here")
    where = {
        int(frame.path.stem): divmod(k, n_phases) for k, frame in enumerate(volume.frames)
    }  # image number -> (slice, phase)
    contours = contour_files(root / "contours" / original_id)
    both = {n: c for n, c in contours.items() if {"i", "o"} <= c.keys()}
    if not both:
        raise ValueError(f"{original_id}: no image with both an inner and an outer contour")
    missing = sorted(set(both) - set(where))
    if missing:
        raise ValueError(f"{original_id}: contoured images {missing} not in the cine {patient_id}")
    phases = Counter(where[n][1] for n in both)
    ed_phase = phases.most_common(1)[0][0]
    if len(phases) > 1:
        log.warning("%s: ED contours on phases %s; using %d", subject, dict(phases), ed_phase)
    labels_syx = np.zeros((n_slices, rows, cols), dtype=np.int16)
    labelled = []
    for number, files in sorted(both.items()):
        slice_k, phase = where[number]
        if phase != ed_phase:
            continue
        if slice_k in labelled:
            raise ValueError(f"{original_id}: two ED contour sets on slice {slice_k}")
        labels_syx[slice_k] = contour_labels(
            read_contour(files["i"]), read_contour(files["o"]), (rows, cols)
        )
        labelled.append(slice_k)
    if frames == "ed":
        cine = volume.data_tsyx[ed_phase].T  # (x, y, slice)
    else:
        cine = np.roll(volume.data_tsyx, -ed_phase, axis=0).T  # (x, y, slice, time), ED first
    out_dir.mkdir(parents=True, exist_ok=True)
    cine_path = out_dir / f"{subject}_{frames}_cine.nii.gz"
    labels_path = out_dir / f"{subject}_labels.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(cine, np.float32), volume.affine), cine_path)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(labels_syx.T), volume.affine), labels_path)
    spacing = tuple(float(s) for s in np.linalg.norm(volume.affine[:3, :3], axis=0))
    return Patient(subject, cine_path, labels_path, ed_phase, sorted(labelled), n_slices, spacing)


def load_sunnybrook(
    root: str | Path,
    preprocess_section: dict,
    cache_dir: str | Path,
    localise: str = "labels",
    frames: str = "ed",
    ingest_section: dict | None = None,
) -> dict[str, dict]:
    """{subject: crops} of every patient: `crop_labelled_cine`'s arrays (cine_styx, labels_syx,
    spacing_mm, lv_method) plus `patient` (the Patient record). Frame 0 of cine_styx is ED."""
    from cine2lge.segment.realdata import crop_labelled_cine

    cache_dir = Path(cache_dir)
    out = {}
    for patient_id, original_id in patients(root):
        patient = build_patient(
            root, patient_id, original_id, cache_dir / "nifti", ingest_section, frames
        )
        arrays = crop_labelled_cine(
            f"{patient.subject}_{frames}",
            patient.cine,
            patient.labels,
            SUNNYBROOK_SCHEME,
            preprocess_section,
            cache_dir / "crops",
            localise,
        )
        out[patient.subject] = arrays | {"patient": patient}
    return out


def lv_offset_mm(classes_syx: np.ndarray, spacing_mm: float) -> float:
    """Mean in-plane distance (mm) from the crop centre to the centroid of the expert LV
    (blood pool and myocardium) over the slices that have it: how far off the crop is centred."""
    grid = np.array(classes_syx.shape[1:], float)
    distances = []
    for classes_yx in classes_syx:
        lv = np.argwhere(classes_yx > 0)
        if len(lv):
            distances.append(np.linalg.norm(lv.mean(0) - (grid - 1) / 2) * spacing_mm)
    return float(np.mean(distances)) if distances else float("nan")


def evaluate_crops(
    model, crops: dict[str, dict], settings, device=None, batch_size: int = 64, flip_tta=False
):
    """Rows (subject, stage raw | postprocessed) of myocardium Dice and HD95, blood-pool Dice,
    closed rings and usable slices among the expert slices, and the LV offset of the crop.

    The network sees frame 0 (ED) of every slice of the crop and the stack is post-processed as a
    whole, as in the pipeline; the measures use the slices with expert contours only. The data
    have no RV contours, so a predicted RV is not counted as an error (it is just not LV).
    flip_tta as the pipeline's segment.predict.flip_tta.
    """
    import pandas as pd
    import torch

    from cine2lge.segment.evaluate import dice, hd95, reference_rows
    from cine2lge.segment.postprocess import MYO, clean_stack, enclosed_cavity, largest_component
    from cine2lge.segment.train import predict_classes

    device = device or torch.device("cpu")
    table = []
    for subject, arrays in crops.items():
        images = arrays["cine_styx"][:, 0][:, None].astype(np.float32)  # ED frame of each slice
        raw = predict_classes(model, images, device, batch_size, flip_tta)
        cleaned, qc = clean_stack(raw, settings)
        rows, reference = reference_rows(arrays, SUNNYBROOK_SCHEME)
        spacing = float(arrays["spacing_mm"])
        raw_closed = [
            enclosed_cavity(largest_component(raw[k] == MYO)).sum() >= settings.min_cavity_px
            for k in rows
        ]
        stages = {
            "raw": (raw[rows], int(np.sum(raw_closed)), len(rows)),
            "postprocessed": (
                cleaned[rows],
                int(qc["ring_closed"].to_numpy()[rows].sum()),
                int(qc["usable"].to_numpy()[rows].sum()),
            ),
        }
        for stage, (predicted, closed, usable) in stages.items():
            table.append(
                {
                    "subject": subject,
                    "stage": stage,
                    "slices": len(rows),
                    "myocardium_dice": dice(predicted == MYO, reference == MYO),
                    "myocardium_hd95_mm": hd95(
                        predicted == MYO, reference == MYO, (spacing, spacing)
                    ),
                    "blood_pool_dice": dice(predicted == BLOOD_POOL, reference == BLOOD_POOL),
                    "closed_rings": closed,
                    "usable_slices": usable,
                    "lv_offset_mm": lv_offset_mm(reference, spacing),
                    "lv_method": str(arrays["lv_method"]),
                    "flag": qc["flag"].iloc[0],
                }
            )
    return pd.DataFrame(table)
