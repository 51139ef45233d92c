"""Export an LGE-like volume as a de-identified, clearly synthetic DICOM MR series.

Geometry comes from the source cine's NIfTI affine (RAS), converted back to DICOM LPS: slice k
is written with ImagePositionPatient = LPS position of voxel (0, 0, k), ImageOrientationPatient
= the unit x (row) and y (column) axes, PixelSpacing = (y spacing, x spacing), and pixel rows
= y, columns = x (the transpose of the NIfTI slice, see cine2lge.geometry).
UIDs are new (never the source's) and derived from the subject id and the image content, so a
rerun with the same inputs writes identical files.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from cine2lge.geometry import LPS_TO_RAS

SYNTHETIC_NOTE = "SYNTHETIC LGE-like, not for diagnosis"
STORED_MAX = 4095  # 12-bit range: value = stored * (1 / 4095) maps back to [0, 1]


def slice_geometry_lps(affine_ras: np.ndarray, n_slices: int) -> dict:
    """DICOM geometry per slice from a NIfTI (x, y, slice) RAS affine."""
    affine = LPS_TO_RAS @ np.asarray(affine_ras, dtype=float)  # the flip is its own inverse
    spacing_x = float(np.linalg.norm(affine[:3, 0]))
    spacing_y = float(np.linalg.norm(affine[:3, 1]))
    row_cosine, column_cosine = affine[:3, 0] / spacing_x, affine[:3, 1] / spacing_y
    positions = [affine[:3, :3] @ np.array([0.0, 0.0, k]) + affine[:3, 3] for k in range(n_slices)]
    normal = np.cross(row_cosine, column_cosine)
    return {
        "orientation": [*row_cosine.tolist(), *column_cosine.tolist()],
        "positions": [p.tolist() for p in positions],
        "pixel_spacing": [spacing_y, spacing_x],
        "slice_thickness": float(abs(affine[:3, 2] @ normal)),
    }


def write_lgelike_series(
    volume_xyz: np.ndarray,
    affine_ras: np.ndarray,
    out_dir: str | Path,
    subject: str,
    series_number: int = 9001,
) -> list[Path]:
    """Write `volume_xyz` (x, y, slice; values in [0, 1]) as one MR series, one file per slice.

    Writes into a temporary folder renamed onto `out_dir` at the end (no half-written series).
    """
    volume_xyz = np.asarray(volume_xyz, dtype=np.float32)
    if volume_xyz.ndim != 3:
        raise ValueError(
            f"subject {subject}: LGE-like volume must be (x, y, slice), got {volume_xyz.shape}"
        )
    n_slices = volume_xyz.shape[2]
    geometry = slice_geometry_lps(affine_ras, n_slices)
    stored = np.round(np.clip(volume_xyz, 0, 1) * STORED_MAX).astype(np.uint16)
    content = hashlib.sha256(stored.tobytes() + np.asarray(affine_ras).tobytes()).hexdigest()

    def uid(*parts) -> str:
        return generate_uid(entropy_srcs=["cine2lge", subject, content, *map(str, parts)])

    out_dir = Path(out_dir)
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    study_uid, series_uid, frame_uid = uid("study"), uid("series"), uid("frame")
    paths = []
    for k in range(n_slices):
        ds = _base_dataset(subject, study_uid, series_uid, frame_uid, series_number)
        ds.SOPInstanceUID = uid("instance", k)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{c:.6f}" for c in geometry["positions"][k]]
        ds.ImageOrientationPatient = [f"{c:.8f}" for c in geometry["orientation"]]
        ds.PixelSpacing = [f"{s:.6f}" for s in geometry["pixel_spacing"]]
        ds.SliceThickness = f"{geometry['slice_thickness']:.6f}"
        ds.SliceLocation = f"{np.dot(geometry['positions'][k], _normal(geometry)):.6f}"
        pixels_yx = np.ascontiguousarray(stored[:, :, k].T)  # rows = y, columns = x
        ds.Rows, ds.Columns = pixels_yx.shape
        ds.PixelData = pixels_yx.tobytes()
        path = partial / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(out_dir / path.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return paths


def _normal(geometry: dict) -> np.ndarray:
    o = np.asarray(geometry["orientation"])
    return np.cross(o[:3], o[3:])


def _base_dataset(subject, study_uid, series_uid, frame_uid, series_number) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    # De-identified: only the pipeline's subject id; name, birth date and sex stay empty.
    ds.PatientName = ""
    ds.PatientID = subject
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "cine2lge: synthetic image, no source identifiers copied"
    ds.BurnedInAnnotation = "NO"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyID = "cine2lge"
    ds.SeriesNumber = series_number
    ds.StudyDescription = "cine2lge"
    ds.SeriesDescription = SYNTHETIC_NOTE
    ds.ImageComments = f"{SYNTHETIC_NOTE}; generated from cine by the cine2lge diffusion model"
    ds.DerivationDescription = "generated from contrast-free cine MRI by a diffusion model"
    ds.Manufacturer = "cine2lge"
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "RM", "NONE", ""
    ds.MRAcquisitionType = "2D"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", f"{1 / STORED_MAX:.10g}", "US"
    ds.WindowCenter, ds.WindowWidth = "0.5", "1"  # in rescaled units: the image is in [0, 1]
    return ds
