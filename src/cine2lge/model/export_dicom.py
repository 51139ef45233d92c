"""Export an LGE-like volume as a de-identified, clearly synthetic DICOM MR series.

One single-frame MR Image Storage file per slice, explicit VR little endian, valid against the
standard (dciodvfy: 0 errors, tests/model/test_export_dicom.py):

- Pixels are unsigned 12-bit integers with an identity modality transform (no Rescale Slope /
  Intercept, which the MR Image IOD does not have): stored value = round(value * 4095) for the
  model's values in [0, 1] (`STORED_MAX`; `RealWorldValueMappingSequence` says so for viewers
  that read it). The default window shows the full range.
- Derived-image semantics: ImageType DERIVED\\SECONDARY\\OTHER, DerivationDescription,
  SeriesDescription and ImageComments say "SYNTHETIC ... not for diagnosis"; ScanningSequence
  RM (research mode) and SequenceVariant NONE; the acquisition's Type 2 attributes (echo time,
  repetition time, echo train length) are present and empty, as nothing was acquired.
- Source references: the ingest stage lets no source UID through, so the source cine is named by
  the pseudonym of its SeriesInstanceUID from the de-identified sidecar (`SeriesInstanceUIDHash`,
  cine2lge.dicom.deid.uid_hash) in DerivationDescription; when the caller knows the cine images'
  pseudonymous SOP instance UIDs (cine2lge.dicom.deid.pseudonymous_uid), each slice lists them in
  SourceImageSequence.
- No PHI: the patient is the pipeline's subject id (the pseudonym), name, birth date, sex, study
  date and time, accession number and referring physician are present and empty (Type 2).

Geometry comes from the source cine's NIfTI affine (RAS), converted back to DICOM LPS: slice k
is written with ImagePositionPatient = LPS position of voxel (0, 0, k), ImageOrientationPatient
= the unit x (row) and y (column) axes, PixelSpacing = (y spacing, x spacing), and pixel rows
= y, columns = x (the transpose of the NIfTI slice, see cine2lge.geometry).
UIDs are new (never the source's) and derived from the subject id and the image content, so a
rerun with the same inputs writes identical files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from cine2lge.geometry import LPS_TO_RAS

SYNTHETIC_NOTE = "SYNTHETIC LGE-like, not for diagnosis"
STORED_MAX = 4095  # 12-bit range: value = stored / 4095 maps back to [0, 1]
BITS_STORED = 12
IMAGE_TYPE = ["DERIVED", "SECONDARY", "OTHER"]
DERIVATION = "SYNTHETIC image generated from contrast-free cine MRI by a diffusion model"
# DCM 121322 "Source image for image processing operation" (CID 7202).
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


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


def source_series_hashes(sidecar_path: str | Path) -> list[str]:
    """`SeriesInstanceUIDHash` of a de-identified ingest sidecar (e.g. cine.json); [] when the
    sidecar is absent or the cine was not DICOM."""
    path = Path(sidecar_path)
    if not path.is_file():
        return []
    hashes = json.loads(path.read_text()).get("SeriesInstanceUIDHash") or []
    return [str(h) for h in hashes]


def to_stored(volume_xyz: np.ndarray) -> np.ndarray:
    """Model values in [0, 1] (clipped) as the stored 12-bit integers."""
    volume = np.clip(np.nan_to_num(np.asarray(volume_xyz, np.float32)), 0, 1)
    return np.round(volume * STORED_MAX).astype(np.uint16)


def write_lgelike_series(
    volume_xyz: np.ndarray,
    affine_ras: np.ndarray,
    out_dir: str | Path,
    subject: str,
    series_number: int = 9001,
    source_series: Sequence[str] = (),
    source_images: Sequence[Sequence[tuple[str, str]]] | None = None,
) -> list[Path]:
    """Write `volume_xyz` (x, y, slice; values in [0, 1]) as one MR series, one file per slice.

    `source_series`: identifiers of the source cine series (the sidecar's UID pseudonyms), named in
    DerivationDescription. `source_images`: per slice, the (SOPClassUID, SOPInstanceUID) of the
    cine images it was generated from, written as SourceImageSequence.
    Writes into a temporary folder renamed onto `out_dir` at the end (no half-written series).
    """
    volume_xyz = np.asarray(volume_xyz, dtype=np.float32)
    if volume_xyz.ndim != 3:
        raise ValueError(
            f"subject {subject}: LGE-like volume must be (x, y, slice), got {volume_xyz.shape}"
        )
    n_slices = volume_xyz.shape[2]
    if source_images is not None and len(source_images) != n_slices:
        raise ValueError(
            f"subject {subject}: {len(source_images)} source image lists for {n_slices} slices"
        )
    geometry = slice_geometry_lps(affine_ras, n_slices)
    stored = to_stored(volume_xyz)
    content = hashlib.sha256(stored.tobytes() + np.asarray(affine_ras).tobytes()).hexdigest()

    def uid(*parts) -> str:
        return generate_uid(entropy_srcs=["cine2lge", subject, content, *map(str, parts)])

    out_dir = Path(out_dir)
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    study_uid, series_uid, frame_uid = uid("study"), uid("series"), uid("frame")
    derivation = DERIVATION
    if source_series:
        derivation += "; source cine series (UID pseudonym): " + ",".join(source_series)
    normal = np.cross(geometry["orientation"][:3], geometry["orientation"][3:])
    paths = []
    for k in range(n_slices):
        ds = _base_dataset(subject, study_uid, series_uid, frame_uid, series_number)
        ds.DerivationDescription = derivation[:1024]  # ST
        ds.SOPInstanceUID = uid("instance", k)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{c:.6f}" for c in geometry["positions"][k]]
        ds.ImageOrientationPatient = [f"{c:.8f}" for c in geometry["orientation"]]
        ds.PixelSpacing = [f"{s:.6f}" for s in geometry["pixel_spacing"]]
        ds.SliceThickness = f"{geometry['slice_thickness']:.6f}"
        ds.SliceLocation = f"{np.dot(geometry['positions'][k], normal):.6f}"
        if source_images is not None and len(source_images[k]):
            ds.SourceImageSequence = [_source_item(*ref) for ref in source_images[k]]
        pixels_yx = np.ascontiguousarray(stored[:, :, k].T)  # rows = y, columns = x
        ds.Rows, ds.Columns = pixels_yx.shape
        ds.SmallestImagePixelValue = int(pixels_yx.min())
        ds.LargestImagePixelValue = int(pixels_yx.max())
        ds.PixelData = pixels_yx.tobytes()
        path = partial / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(out_dir / path.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return paths


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _source_item(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    item.PurposeOfReferenceCodeSequence = [_code(*SOURCE_PURPOSE)]
    return item


def _real_world_mapping() -> Dataset:
    """Stored value -> the model's unitless [0, 1] LGE-like intensity."""
    item = Dataset()
    item.LUTExplanation = "LGE-like intensity in [0, 1]"
    item.LUTLabel = "LGELIKE"
    item.RealWorldValueFirstValueMapped = 0
    item.RealWorldValueLastValueMapped = STORED_MAX
    item.RealWorldValueIntercept = 0.0
    item.RealWorldValueSlope = 1.0 / STORED_MAX
    item.MeasurementUnitsCodeSequence = [_code("1", "UCUM", "no units")]
    return item


def _base_dataset(subject, study_uid, series_uid, frame_uid, series_number) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    # Patient: de-identified, only the pipeline's subject id; name, birth date and sex empty.
    ds.PatientName = ""
    ds.PatientID = subject
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "cine2lge: synthetic image, no source identifiers copied"
    # General Study: a new study; date, time, accession and referring physician unknown (Type 2).
    ds.StudyInstanceUID = study_uid
    ds.StudyDate, ds.StudyTime = "", ""
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.StudyID = "cine2lge"
    ds.StudyDescription = "cine2lge"
    # General Series
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.BodyPartExamined = "HEART"  # unpaired: Laterality (Type 2C) is absent
    ds.PatientPosition = ""  # Type 2C: unknown for a synthetic image
    ds.SeriesDescription = SYNTHETIC_NOTE
    # Frame of Reference (new: never the source's)
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    # General Equipment
    ds.Manufacturer = "cine2lge"
    ds.SoftwareVersions = _version()
    # General Image
    ds.ImageType = IMAGE_TYPE
    ds.ImageComments = f"{SYNTHETIC_NOTE}; generated from cine by the cine2lge diffusion model"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    # MR Image: nothing was acquired, so the acquisition's Type 2 attributes are empty.
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "RM", "NONE", ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "", "", ""
    # Image Pixel: unsigned 12-bit, identity modality transform.
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, BITS_STORED, BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.RealWorldValueMappingSequence = [_real_world_mapping()]
    ds.WindowCenter, ds.WindowWidth = str((STORED_MAX + 1) // 2), str(STORED_MAX + 1)
    ds.WindowCenterWidthExplanation = "FULL RANGE"
    return ds


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cine2lge {version('cine2lge')}"[:64]
    except PackageNotFoundError:
        return "cine2lge"
