"""Small DICOM studies with known answers: single-frame, Enhanced MR multi-frame, compressed.

Every generator returns the expected NIfTI volume (x, y, slice[, time]) and RAS affine, computed
here directly from the geometry (not with cine2lge.geometry). Files get random names and
shuffled InstanceNumbers, so sorting by name or instance number gives a wrong volume.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
# An oblique short-axis-like orientation (row cosine, column cosine), LPS.
SA_ORIENTATION = (0.7071068, 0.7071068, 0.0, 0.0, 0.0, -1.0)
FOUR_CHAMBER = (1.0, 0.0, 0.0, 0.0, 0.8660254, -0.5)
PHI = {
    "PatientName": "Doe^Janet^Q",
    "PatientID": "PID-7731-XQ",
    "PatientBirthDate": "19610314",
    "InstitutionName": "St Example Heart Hospital",
    "AccessionNumber": "ACC99812377",
    "ReferringPhysicianName": "Fakename^Robert",
    "StudyDate": "20240229",
}


@dataclass
class SeriesSpec:
    n_slices: int = 4
    n_phases: int = 6
    rows: int = 12
    columns: int = 10
    pixel_spacing: tuple = (1.5, 1.25)  # (between rows, between columns)
    step_mm: float = 8.0
    orientation: tuple = SA_ORIENTATION
    origin: tuple = (-20.0, 30.0, 40.0)
    description: str = "cine_sa_bssfp"
    number: int = 5
    inversion_time_ms: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    trigger_jitter_ms: float = 0.0  # trigger times differ slightly between slices
    seed: int = 0
    uid: str = field(default_factory=generate_uid)


@dataclass
class Expected:
    volume: np.ndarray  # (x, y, slice[, time]) float32 after rescale
    affine: np.ndarray
    files: list[Path]
    raw_tsyx: np.ndarray  # stored integers (time, slice, y, x)


def _normal(orientation) -> np.ndarray:
    o = np.asarray(orientation, float)
    n = np.cross(o[:3], o[3:])
    return n / np.linalg.norm(n)


def expected_affine(spec: SeriesSpec) -> np.ndarray:
    o = np.asarray(spec.orientation, float)
    affine = np.eye(4)
    affine[:3, 0] = o[:3] * spec.pixel_spacing[1]
    affine[:3, 1] = o[3:] * spec.pixel_spacing[0]
    affine[:3, 2] = _normal(o) * spec.step_mm
    affine[:3, 3] = spec.origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def raw_values(spec: SeriesSpec, max_value: int = 4000) -> np.ndarray:
    """Distinct, known stored values (time, slice, y, x)."""
    rng = np.random.default_rng(spec.seed)
    shape = (spec.n_phases, spec.n_slices, spec.rows, spec.columns)
    return rng.integers(0, max_value, size=shape).astype(np.uint16)


def _base(spec: SeriesSpec, sop_class: str, patient: dict) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = "MR"
    ds.Manufacturer = "Fixture Medical"
    ds.ManufacturerModelName = "Testa 1.5"
    ds.MagneticFieldStrength = 1.5
    ds.RepetitionTime = 3.1
    ds.EchoTime = 1.4
    ds.FlipAngle = 50
    ds.SliceThickness = spec.step_mm
    ds.PatientSex = "F"
    ds.PatientAge = "063Y"
    for key, value in patient.items():
        setattr(ds, key, value)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = spec.uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber = spec.number
    ds.SeriesDescription = spec.description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Rows, ds.Columns = spec.rows, spec.columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _positions(spec: SeriesSpec) -> list[np.ndarray]:
    normal = _normal(spec.orientation)
    return [np.asarray(spec.origin) + k * spec.step_mm * normal for k in range(spec.n_slices)]


def _trigger(spec: SeriesSpec, slice_index: int, phase: int) -> float:
    return 30.0 * phase + 5.0 + spec.trigger_jitter_ms * slice_index


def _set_pixels(ds: Dataset, frames_yx: np.ndarray, syntax: str) -> None:
    if syntax == ExplicitVRLittleEndian:
        ds.PixelData = frames_yx.astype("<u2").tobytes()
        return
    if syntax == JPEGBaseline8Bit:
        from PIL import Image

        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        fragments = []
        for frame in frames_yx:
            stream = io.BytesIO()
            Image.fromarray(frame.astype(np.uint8)).save(stream, format="JPEG", quality=95)
            fragments.append(stream.getvalue())
        ds.PixelData = encapsulate(fragments)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        return
    ds.PixelData = frames_yx.astype("<u2").tobytes()
    ds.compress(syntax, frames_yx.astype(np.uint16) if len(frames_yx) > 1 else frames_yx[0])


def write_single_frame(
    folder: Path,
    spec: SeriesSpec,
    patient: dict | None = None,
    syntax: str = ExplicitVRLittleEndian,
    cine: bool = True,
) -> Expected:
    """One file per (slice, phase), random names, shuffled InstanceNumbers."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed + 1)
    max_value = 250 if syntax == JPEGBaseline8Bit else 4000
    raw = raw_values(spec, max_value)
    n_phases = spec.n_phases if cine else 1
    raw = raw[:n_phases]
    cells = [(k, t) for k in range(spec.n_slices) for t in range(n_phases)]
    instance_numbers = rng.permutation(len(cells)) + 1
    files = []
    for (k, t), instance in zip(cells, instance_numbers, strict=True):
        ds = _base(spec, MR_IMAGE, PHI if patient is None else patient)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = int(instance)
        ds.ImagePositionPatient = [round(float(v), 4) for v in _positions(spec)[k]]
        ds.ImageOrientationPatient = list(spec.orientation)
        ds.PixelSpacing = list(spec.pixel_spacing)
        if cine:
            ds.TriggerTime = _trigger(spec, k, t)
        if spec.inversion_time_ms is not None:
            ds.InversionTime = spec.inversion_time_ms
        if spec.slope != 1.0 or spec.intercept != 0.0:
            ds.RescaleSlope, ds.RescaleIntercept = spec.slope, spec.intercept
        _set_pixels(ds, raw[t, k][None], syntax)
        path = folder / uuid.uuid4().hex[:12]
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    volume_tsyx = raw.astype(np.float32) * np.float32(spec.slope) + np.float32(spec.intercept)
    volume = volume_tsyx.T if cine else volume_tsyx[0].T
    return Expected(volume, expected_affine(spec), files, raw)


def write_enhanced(
    folder: Path,
    spec: SeriesSpec,
    patient: dict | None = None,
    syntax: str = ExplicitVRLittleEndian,
) -> Expected:
    """One Enhanced MR file, frames in shuffled order, geometry in per-frame functional groups."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed + 2)
    raw = raw_values(spec)
    cells = [(k, t) for k in range(spec.n_slices) for t in range(spec.n_phases)]
    order = rng.permutation(len(cells))
    ds = _base(spec, ENHANCED_MR, PHI if patient is None else patient)
    for keyword in ("RepetitionTime", "EchoTime", "FlipAngle", "SliceThickness"):
        delattr(ds, keyword)  # Enhanced MR keeps them in functional groups
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(cells)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = list(spec.pixel_spacing)
    measures.SliceThickness = spec.step_mm
    shared.PixelMeasuresSequence = Sequence([measures])
    orientation = Dataset()
    orientation.ImageOrientationPatient = list(spec.orientation)
    shared.PlaneOrientationSequence = Sequence([orientation])
    timing = Dataset()
    timing.RepetitionTime, timing.FlipAngle = 3.1, 50
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    echo = Dataset()
    echo.EffectiveEchoTime = 1.4
    shared.MREchoSequence = Sequence([echo])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for index in order:
        k, t = cells[index]
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [round(float(v), 4) for v in _positions(spec)[k]]
        item.PlanePositionSequence = Sequence([plane])
        cardiac = Dataset()
        cardiac.NominalCardiacTriggerDelayTime = _trigger(spec, k, t)
        item.CardiacSynchronizationSequence = Sequence([cardiac])
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = spec.slope, spec.intercept
        transform.RescaleType = "US"
        item.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    frames_yx = np.stack([raw[cells[i][1], cells[i][0]] for i in order])
    _set_pixels(ds, frames_yx, syntax)
    path = folder / uuid.uuid4().hex[:12]
    ds.save_as(path, enforce_file_format=True)
    volume_tsyx = raw.astype(np.float32) * np.float32(spec.slope) + np.float32(spec.intercept)
    return Expected(volume_tsyx.T, expected_affine(spec), [path], raw)


def write_study(folder: Path, seed: int = 0, patient: dict | None = None) -> dict:
    """A whole small study: SA cine, SA LGE, a 4-chamber cine and a localiser (distractors)."""
    cine = SeriesSpec(n_slices=5, n_phases=6, description="cine_sa", number=7, seed=seed)
    lge = SeriesSpec(
        n_slices=5,
        n_phases=1,
        description="LGE_PSIR_mag",
        number=12,
        inversion_time_ms=300.0,
        rows=14,
        columns=12,
        pixel_spacing=(1.4, 1.4),
        step_mm=8.0,
        seed=seed + 10,
        origin=(-22.0, 28.0, 41.0),
    )
    four_chamber = SeriesSpec(
        n_slices=1,
        n_phases=6,
        description="cine_4ch",
        number=6,
        orientation=FOUR_CHAMBER,
        seed=seed + 20,
    )
    localiser = SeriesSpec(
        n_slices=3,
        n_phases=1,
        description="localizer",
        number=1,
        orientation=(1, 0, 0, 0, 1, 0),
        seed=seed + 30,
    )
    expected = {
        "cine": write_single_frame(folder, cine, patient),
        "lge": write_single_frame(folder, lge, patient, cine=False),
        "four_chamber": write_single_frame(folder, four_chamber, patient),
        "localiser": write_single_frame(folder, localiser, patient, cine=False),
    }
    return expected


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def run_ingest(folder, tmp_path, role="cine", subject="S01", **kwargs):
    """Ingest one role of `folder` into tmp_path/out; (volume, out folder)."""
    from cine2lge.dicom.ingest import ingest_series

    out = tmp_path / "out"
    volume = ingest_series(
        folder,
        subject,
        role,
        out / f"{role}.nii.gz",
        out / f"{role}.json",
        out / f"qc_{role}.json",
        progress=False,
        **kwargs,
    )
    return volume, out
