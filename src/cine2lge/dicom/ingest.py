"""Stage entry points: one source (DICOM study folder or NIfTI) -> NIfTI + sidecar + QC part.

`ingest_series` handles the cine, the LGE and the optional T2-weighted stack (role "cine" |
"lge" | "t2"; the T2 converts like the LGE: one frame per slice position), `ingest_labels` copies
a label map after checking it lies on the LGE grid, `ingest_qc` merges the QC parts of a subject.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from cine2lge.dicom import IngestError
from cine2lge.dicom.classify import choose_cine, choose_lge, choose_t2, stray_slices
from cine2lge.dicom.convert import Volume, stack_volume
from cine2lge.dicom.deid import (
    assert_no_phi,
    dumps,
    installation_secret,
    phi_strings,
    sidecar,
)
from cine2lge.dicom.discover import discover_study, study_files
from cine2lge.dicom.niftiwrite import save_nifti_fast
from cine2lge.dicom.qc import merge_parts, write_json
from cine2lge.io import atomic_path

log = logging.getLogger(__name__)
ROLES = ("cine", "lge", "t2")


def is_nifti(path: str | Path) -> bool:
    return str(path).endswith((".nii", ".nii.gz"))


def _split_uids(uids: str | list | None) -> list[str]:
    if not uids:
        return []
    if isinstance(uids, str):
        return [u.strip() for u in uids.replace(",", ";").split(";") if u.strip()]
    return list(uids)


_LAST_STUDY: dict = {}


def phase_checks(trigger_times_ms: list[float], cardiac_number_of_images) -> list[str]:
    """Phases missing from every slice at once leave no per-slice trace: look for a gap in the
    trigger times and compare with CardiacNumberOfImages (a hint only: vendors differ)."""
    notes = []
    try:
        expected = int(cardiac_number_of_images)
    except (TypeError, ValueError):
        expected = None
    if expected and expected != len(trigger_times_ms):
        notes.append(f"{len(trigger_times_ms)} phases found, CardiacNumberOfImages says {expected}")
    if len(trigger_times_ms) >= 3:
        steps = np.diff(trigger_times_ms)
        largest = int(np.argmax(steps))
        if steps[largest] > 1.5 * np.median(steps):
            notes.append(
                f"trigger time gap of {steps[largest]:.1f} ms after phase {largest + 1} (median"
                f" step {np.median(steps):.1f} ms): phases missing in every slice?"
            )
    return notes


def _cached_study(source, subject: str, progress: bool):
    """discover_study, reusing the last result when the cine and the LGE of one folder are
    converted in one process and no file changed in between (names, sizes, mtimes)."""
    folder = Path(source)
    files = study_files(folder) if folder.is_dir() else []
    signature = hash(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    key = (str(folder.resolve()), subject, signature)
    if key not in _LAST_STUDY:
        _LAST_STUDY.clear()
        _LAST_STUDY[key] = discover_study(source, subject, progress=progress)
    return _LAST_STUDY[key]


def convert_study(
    source: str | Path,
    subject: str,
    role: str,
    config: dict | None = None,
    series_uids: str | list | None = None,
    threads: int = 1,
    progress: bool = False,
) -> tuple[Volume, dict, set[str]]:
    """Discover, classify and convert one role of a DICOM study.

    Returns the volume, its de-identified sidecar and the study's identifying values (for the
    leak check of everything written afterwards).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    config = config or {}
    study = _cached_study(source, subject, progress)
    uids = _split_uids(series_uids)
    if role == "cine":
        stack = choose_cine(study, subject, config, uids)
    else:
        try:
            cine_normal = choose_cine(study, subject, config).normal
        except IngestError:  # an LGE- or T2-only folder: no cine to be parallel to
            cine_normal = None
        choose = choose_lge if role == "lge" else choose_t2
        stack = choose(study, subject, config, uids, cine_normal)
    log.info("subject %s: %s = %s", subject, role, stack.summary())
    study.check_complete([s.uid for s in stack.series], subject, role)
    header = stack.series[0].header
    default_step = float(header.get("SpacingBetweenSlices", header.get("SliceThickness", 1)) or 1)
    volume = stack_volume(
        stack.frames,
        subject,
        cine=role == "cine",
        overrides=config,
        default_step_mm=default_step,
        threads=threads,
    )
    notes = stack.notes + (stray_slices(study, stack, config) if role == "lge" else [])
    if role == "cine":
        notes += phase_checks(volume.trigger_times_ms, header.get("CardiacNumberOfImages"))
    for note in notes:
        log.warning("subject %s: %s", subject, note)
    volume.warnings[:0] = study.warnings + [f"subject {subject}: {n}" for n in notes]
    volume.qc.update(
        source="dicom",
        series=stack.summary(),
        n_series_in_study=len(study.series),
        n_files_in_study=study.n_files,
        n_files_skipped=len(study.warnings),
    )
    record = sidecar(
        header,
        [s.uid for s in stack.series],
        volume.trigger_times_ms,
        {
            "SourceFormat": "DICOM",
            "SeriesNumber": [s.number for s in stack.series],
            "PSIR": stack.psir,
        },
        secret=installation_secret(config.get("uid_secret_file") or None),
    )
    phi = set()
    for series in study.series.values():
        phi |= phi_strings(series.header)
    return volume, record, phi


def load_nifti_source(path: str | Path, subject: str, role: str) -> tuple[Volume, dict]:
    """A NIfTI given in the sheet, checked like a DICOM conversion: dimensions, affine, values."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"subject {subject}: {role} NIfTI {path} not found")
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:
        raise IngestError(f"subject {subject}: file {path}: unreadable NIfTI ({error})") from error
    if role == "cine" and data.ndim == 3:
        data = data[..., None]  # a single cine frame (T = 1)
    if role != "cine" and data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    wanted = 4 if role == "cine" else 3
    if data.ndim != wanted:
        raise IngestError(
            f"subject {subject}: file {path}: {role} NIfTI has shape {data.shape}, expected"
            f" {wanted} dimensions (x, y, slice{', time' if wanted == 4 else ''})"
        )
    affine = image.affine
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise IngestError(f"subject {subject}: file {path}: singular or non-finite affine")
    if not np.all(np.isfinite(data)):
        raise IngestError(f"subject {subject}: file {path}: non-finite voxel values")
    data_tsyx = np.ascontiguousarray(data.T if role == "cine" else data.T[None])
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    qc = {
        "source": "nifti",
        "shape": list(data.shape),
        "pixel_spacing_mm": [round(float(z), 4) for z in zooms[:2]],
        "slice_step_mm": round(float(zooms[2]), 4),
        "missing_slices": [],
    }
    volume = Volume(data_tsyx, affine, [], [], [], qc, [])
    return volume, {"SourceFormat": "NIfTI", "PixelSpacing": qc["pixel_spacing_mm"]}


def ingest_series(
    source: str | Path,
    subject: str,
    role: str,
    nifti_path: str | Path,
    sidecar_path: str | Path,
    qc_path: str | Path,
    config: dict | None = None,
    series_uids: str | list | None = None,
    threads: int = 1,
    progress: bool = True,
) -> Volume:
    """Convert the cine, LGE or T2 of one subject and write NIfTI, sidecar and QC part.

    `source` is a DICOM study folder or a NIfTI file (a one-element list of it is accepted, as
    Snakemake passes the sheet's paths)."""
    if isinstance(source, list | tuple) or type(source).__name__ == "Namedlist":
        if len(source) != 1:
            raise IngestError(f"subject {subject}: {role}: expected one source, got {len(source)}")
        source = source[0]
    config = config or {}
    started = time.perf_counter()
    if is_nifti(source):
        volume, record = load_nifti_source(source, subject, role)
        phi: set[str] = set()
    else:
        volume, record, phi = convert_study(
            source, subject, role, config, series_uids, threads, progress
        )
    sidecar_text = dumps(record)
    part = {"role": role, **volume.qc, "warnings": volume.warnings}
    qc_text = dumps(part)
    assert_no_phi(sidecar_text, phi, subject, f"{role} sidecar")
    assert_no_phi(qc_text, phi, subject, f"{role} QC record")
    data = volume.nifti_xyzt if role == "cine" else volume.nifti_xyz
    save_nifti_fast(
        data,
        volume.affine,
        nifti_path,
        compresslevel=int(config.get("compresslevel", 1)),
        threads=threads,
    )
    for text, path in ((sidecar_text, sidecar_path), (qc_text, qc_path)):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    log.info(
        "subject %s: %s %s written in %.2f s (%d warnings)",
        subject,
        role,
        "x".join(map(str, data.shape)),
        time.perf_counter() - started,
        len(volume.warnings),
    )
    return volume


def ingest_labels(
    labels_path: str | Path,
    grid_nifti: str | Path,
    subject: str,
    out_path: str | Path,
    qc_path: str | Path,
    tolerance_mm: float = 0.1,
) -> None:
    """Copy a label map as int16 on the grid of `grid_nifti` (the LGE; the cine for subjects
    without LGE) after checking that it is that grid: same shape, voxels within tolerance."""
    if isinstance(labels_path, list | tuple) or type(labels_path).__name__ == "Namedlist":
        labels_path = labels_path[0]
    labels_path = Path(labels_path)
    if not is_nifti(labels_path):
        raise IngestError(
            f"subject {subject}: labels {labels_path}: only NIfTI label maps are supported"
            " (contour folders are not)"
        )
    if not labels_path.is_file():
        raise IngestError(f"subject {subject}: labels {labels_path} not found")
    try:
        labels = nib.load(labels_path)
    except Exception as error:
        raise IngestError(
            f"subject {subject}: labels {labels_path}: unreadable NIfTI ({error})"
        ) from error
    grid = nib.load(grid_nifti)
    grid_shape = tuple(grid.shape[:3])
    shape = labels.shape[:3] if labels.ndim == 4 and labels.shape[3] == 1 else labels.shape
    if tuple(shape) != grid_shape:
        raise IngestError(
            f"subject {subject}: labels {labels_path}: shape {tuple(labels.shape)} does not match"
            f" the image grid {grid_shape} of {Path(grid_nifti).name}"
        )
    # Corners of the grid in mm: a fair measure of how far apart two affines put the voxels.
    corners = np.array(
        [
            [i, j, k, 1]
            for i in (0, shape[0] - 1)
            for j in (0, shape[1] - 1)
            for k in (0, shape[2] - 1)
        ]
    ).T
    distance_mm = float(np.abs((labels.affine - grid.affine) @ corners)[:3].max())
    if distance_mm > tolerance_mm:
        raise IngestError(
            f"subject {subject}: labels {labels_path}: affine differs from the grid of"
            f" {Path(grid_nifti).name} by up to {distance_mm:.3f} mm at the grid corners"
            f" (tolerance {tolerance_mm} mm)"
        )
    values = np.asarray(labels.dataobj).reshape(shape)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
        raise IngestError(f"subject {subject}: labels {labels_path}: non-integer label values")
    if values.min() < np.iinfo(np.int16).min or values.max() > np.iinfo(np.int16).max:
        raise IngestError(f"subject {subject}: labels {labels_path}: values outside int16")
    labels_int16 = values.astype(np.int16)
    save_nifti_fast(labels_int16, grid.affine, out_path)
    present = sorted(int(v) for v in np.unique(labels_int16))
    write_json(
        {
            "role": "labels",
            "shape": list(shape),
            "labels_present": present,
            "affine_distance_mm": round(distance_mm, 4),
            "warnings": [],
        },
        qc_path,
    )


def ingest_qc(subject: str, part_paths: list[str | Path], out_path: str | Path) -> dict:
    record = merge_parts(subject, part_paths)
    write_json(record, out_path)
    return record
