"""Series discovery: read the headers of every file of a study folder, never its pixels.

Files are grouped by SeriesInstanceUID (never FrameOfReferenceUID: some scanners write a new one
per file). Every image frame becomes a `Frame` carrying the geometry and timing needed to sort it;
Enhanced MR multi-frame files contribute one `Frame` per frame, read from the per-frame (or shared)
functional groups. Paths in messages are relative to the study folder: file names, never PHI.
"""

from __future__ import annotations

import logging
import math
import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pydicom.config
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import PersonName
from tqdm import tqdm

from cine2lge.dicom import IngestError
from cine2lge.dicom.deid import name_parts, scrub_free_text

log = logging.getLogger(__name__)

# Transfer syntaxes whose pixel data we read straight from the file at a recorded offset.
NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
ENHANCED_MR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage
}
# Patient identity used only to detect mixed patients in one folder (compared, never written).
PATIENT_KEYS = ("PatientID", "PatientName", "PatientBirthDate")


def _identity_text(value) -> str:
    """Decoded text (pydicom applies SpecificCharacterSet), NFC, casefolded, trailing empty
    name components dropped: "DOE^JANE^^" and "Doe^Jane" are one name."""
    text = unicodedata.normalize("NFC", str(value if value is not None else ""))
    parts = [" ".join(part.split()) for part in text.split("^")]
    return "^".join(parts).rstrip("^ ").casefold()


def patient_identity(ds) -> tuple[str, str, frozenset]:
    """(PatientID, PatientBirthDate, the non-empty PatientName component groups) of a header."""
    name = ds.get("PatientName")
    if isinstance(name, PersonName):
        groups = [name.alphabetic, name.ideographic, name.phonetic]
    else:
        groups = str(name or "").split("=")
    names = frozenset(g for g in map(_identity_text, groups) if g)
    return _identity_text(ds.get("PatientID")), _identity_text(ds.get("PatientBirthDate")), names


def same_patient(a: tuple, b: tuple) -> bool:
    """Same ID and birth date, and names sharing a component group (a workstation may keep
    only the alphabetic group of "Wang^XiaoDong=王^小东") or neither named."""
    return a[:2] == b[:2] and (bool(a[2] & b[2]) or a[2] == b[2])


def relax_pydicom_validation() -> None:
    """Real exports carry UIDs with leading zeros and similar trivia; pydicom would warn for every
    file (thousands of lines) although nothing we read depends on it."""
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


@dataclass(frozen=True)
class Frame:
    """One 2-D image: a single-frame file, or one frame of a multi-frame file."""

    path: Path
    name: str  # path relative to the study folder, for messages
    frame_index: int  # 0 for single-frame files
    sop_uid: str
    position_lps: tuple[float, float, float]
    orientation: tuple[float, ...]  # ImageOrientationPatient: row cosine, column cosine
    pixel_spacing: tuple[float, float]  # (between rows, between columns) mm
    rows: int
    columns: int
    trigger_time_ms: float | None
    inversion_time_ms: float | None
    rescale_slope: float
    rescale_intercept: float
    pixel_offset: int | None  # byte offset of (7FE0,0010) in native single-frame files
    bits_allocated: int
    signed: bool


@dataclass
class Series:
    """Frames sharing one SeriesInstanceUID, with the header of its first file for sidecars."""

    uid: str
    number: int
    description: str
    image_type: tuple[str, ...]
    header: pydicom.Dataset
    frames: list[Frame] = field(default_factory=list)
    # The description scrubbed of names and dates (deid.scrub_free_text): for messages and logs.
    safe_description: str = ""


@dataclass
class Study:
    """Everything found in a study folder."""

    folder: Path
    series: dict[str, Series]
    warnings: list[str]
    n_files: int
    patients: int
    # Files skipped although they are DICOM: by SeriesInstanceUID when the header was readable,
    # else under "" (conversion checks whether they belong to the chosen series).
    skipped: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)

    def check_complete(self, series_uids: list[str], subject: str, role: str) -> None:
        """Raise when a skipped file belongs to one of `series_uids`: the volume would lack it."""
        for uid in series_uids:
            for _path, message in self.skipped.get(uid, []):
                raise IngestError(f"{message} — it belongs to the chosen {role} series")
        for path, message in self.skipped.get("", []):
            data = path.read_bytes()
            if any(uid.encode() in data for uid in series_uids):
                raise IngestError(f"{message} — it belongs to the chosen {role} series")


def _float(value, default=None):
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _group_item(ds, frame_item, sequence: str):
    """First item of a functional-group sequence, per-frame item first, then shared groups."""
    for source in (frame_item, _shared(ds)):
        if source is not None and sequence in source and len(source[sequence].value):
            return source[sequence].value[0]
    return None


def _shared(ds):
    seq = ds.get("SharedFunctionalGroupsSequence")
    return seq[0] if seq else None


def _frames_of(ds, path: Path, name: str, pixel_offset: int | None) -> list[Frame]:
    """Expand one header into its frames; raises KeyError/ValueError for missing geometry."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    enhanced = ds.get("SOPClassUID") in ENHANCED_MR_CLASSES or n_frames > 1
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") if enhanced else None
    if enhanced and (per_frame is None or len(per_frame) != n_frames):
        raise ValueError(
            f"multi-frame file with {n_frames} frames but "
            f"{0 if per_frame is None else len(per_frame)} per-frame functional groups"
        )
    common = {
        "path": path,
        "name": name,
        "sop_uid": str(ds.get("SOPInstanceUID", name)),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "bits_allocated": int(ds.get("BitsAllocated", 16)),
        "signed": int(ds.get("PixelRepresentation", 0)) == 1,
    }
    frames = []
    for index in range(n_frames):
        item = per_frame[index] if per_frame is not None else None
        if enhanced:
            plane = _group_item(ds, item, "PlanePositionSequence")
            orient = _group_item(ds, item, "PlaneOrientationSequence")
            measures = _group_item(ds, item, "PixelMeasuresSequence")
            cardiac = _group_item(ds, item, "CardiacSynchronizationSequence")
            transform = _group_item(ds, item, "PixelValueTransformationSequence")
            modifier = _group_item(ds, item, "MRModifierSequence")
            position = plane.ImagePositionPatient if plane else None
            orientation = orient.ImageOrientationPatient if orient else None
            spacing = measures.PixelSpacing if measures else None
            trigger = cardiac.get("NominalCardiacTriggerDelayTime") if cardiac else None
            inversion = modifier.get("InversionTimes") if modifier else None
            if isinstance(inversion, list | MultiValue):
                inversion = inversion[0] if len(inversion) else None
            slope = transform.get("RescaleSlope", 1) if transform else ds.get("RescaleSlope", 1)
            intercept = (
                transform.get("RescaleIntercept", 0) if transform else ds.get("RescaleIntercept", 0)
            )
        else:
            position = ds.get("ImagePositionPatient")
            orientation = ds.get("ImageOrientationPatient")
            spacing = ds.get("PixelSpacing")
            trigger = ds.get("TriggerTime", ds.get("NominalCardiacTriggerDelayTime"))
            inversion = ds.get("InversionTime")
            slope, intercept = ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0)
        missing = [
            tag
            for tag, value, size in (
                ("ImagePositionPatient", position, 3),
                ("ImageOrientationPatient", orientation, 6),
                ("PixelSpacing", spacing, 2),
            )
            if value is None or len(value) != size
        ]
        where = f" (frame {index + 1})" if enhanced else ""
        if missing:
            raise ValueError(f"missing geometry tag(s) {', '.join(missing)}{where}")
        o = [float(v) for v in orientation]  # plain floats: this runs for every frame
        row_norm, column_norm = math.hypot(*o[:3]), math.hypot(*o[3:])
        if not (
            abs(row_norm - 1) < 1e-2
            and abs(column_norm - 1) < 1e-2
            and abs(o[0] * o[3] + o[1] * o[4] + o[2] * o[5]) < 1e-2
        ):
            raise ValueError(
                f"invalid ImageOrientationPatient (not two unit orthogonal cosines){where}"
            )
        if min(float(spacing[0]), float(spacing[1])) <= 0:
            raise ValueError(f"invalid PixelSpacing {list(spacing)}{where}")
        frames.append(
            Frame(
                frame_index=index,
                position_lps=tuple(float(v) for v in position),
                orientation=tuple(float(v) for v in orientation),
                pixel_spacing=(float(spacing[0]), float(spacing[1])),
                trigger_time_ms=_float(trigger),
                inversion_time_ms=_float(inversion),
                rescale_slope=_float(slope, 1.0),
                rescale_intercept=_float(intercept, 0.0),
                pixel_offset=pixel_offset if not enhanced else None,
                **common,
            )
        )
    return frames


def study_files(folder: Path) -> list[Path]:
    """Every file under `folder` (hidden ones excluded), in a stable order."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return files


# What discovery needs of every file (the first file of each series is read in full for its
# sidecar). pydicom skips the other elements by length and always adds SpecificCharacterSet, so
# text (PatientName) is decoded by the file's character set.
FRAME_TAGS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "ImageType",
    "SeriesDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "InversionTime",
    "TriggerTime",
    "SeriesInstanceUID",
    "SeriesNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "NominalCardiacTriggerDelayTime",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleIntercept",
    "RescaleSlope",
)
_FRAME_TAGS = [Tag(keyword) for keyword in FRAME_TAGS]  # converted once, not per file


def read_header(path: Path, tags=_FRAME_TAGS) -> tuple[pydicom.Dataset, int | None]:
    """Header of one file (no pixels; only `tags` unless None) and, for native transfer
    syntaxes, the pixel data offset."""
    with open(path, "rb") as stream:
        ds = pydicom.dcmread(stream, stop_before_pixels=True, specific_tags=tags)
        offset = stream.tell()
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    # Sign extension of e.g. 12 stored bits in 16 is left to pydicom.
    plain = int(ds.get("PixelRepresentation", 0)) == 0 or ds.get("BitsStored") == ds.get(
        "BitsAllocated"
    )
    return ds, offset if syntax in NATIVE_SYNTAXES and plain else None


def discover_study(folder: str | Path, subject: str, progress: bool = True) -> Study:
    """Read every file header under `folder` and group image frames by SeriesInstanceUID.

    Non-DICOM and unreadable files, and image files without usable geometry, are skipped with a
    warning naming the subject and file; they can only make a series incomplete, which conversion
    then reports (missing phases or slices), never a silently wrong volume.
    Raises IngestError when the folder is missing, holds no DICOM image, or holds several patients.
    """
    relax_pydicom_validation()
    folder = Path(folder)
    if not folder.is_dir():
        raise IngestError(f"subject {subject}: study folder {folder} not found")
    files = study_files(folder)
    series: dict[str, Series] = {}
    warnings: list[str] = []
    skipped = defaultdict(list)
    patients: dict[tuple, str] = {}
    by_patient_file = defaultdict(list)
    for path in tqdm(
        files, desc=f"{subject} headers", unit="file", disable=not progress, mininterval=2.0
    ):
        name = str(path.relative_to(folder))
        try:
            ds, offset = read_header(path)
        except InvalidDicomError:
            warnings.append(f"subject {subject}: file {name}: not a DICOM file, skipped")
            continue
        except Exception as error:  # truncated or corrupt header: pydicom raises many types
            warnings.append(
                f"subject {subject}: file {name}: unreadable DICOM header"
                f" ({type(error).__name__}), skipped"
            )
            skipped[""].append((path, warnings[-1]))
            continue
        if "Rows" not in ds or "SeriesInstanceUID" not in ds:
            log.debug("subject %s: file %s: not an image, skipped", subject, name)
            continue
        try:
            frames = _frames_of(ds, path, name, offset)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as error:
            warnings.append(f"subject {subject}: file {name}: {error}, skipped")
            skipped[str(ds.SeriesInstanceUID)].append((path, warnings[-1]))
            continue
        identity = patient_identity(ds)
        patient = next((p for p in patients if same_patient(p, identity)), identity)
        patients.setdefault(patient, name)
        by_patient_file[patient].append(name)
        uid = str(ds.SeriesInstanceUID)
        if uid not in series:
            # The full header of a series' first file feeds its sidecar and the PHI guard.
            try:
                header = read_header(path, tags=None)[0]
            except Exception as error:  # corrupt beyond the elements read above
                warnings.append(
                    f"subject {subject}: file {name}: unreadable DICOM header"
                    f" ({type(error).__name__}), skipped"
                )
                skipped[""].append((path, warnings[-1]))
                continue
            description = str(ds.get("SeriesDescription", "") or "")
            series[uid] = Series(
                uid=uid,
                number=int(_float(ds.get("SeriesNumber"), 0)),
                description=description,
                image_type=tuple(str(v).upper() for v in ds.get("ImageType", [])),
                header=header,
                safe_description=scrub_free_text(description, name_parts(header)),
            )
        series[uid].frames.extend(frames)
    for message in warnings:
        log.warning(message)
    if not series:
        raise IngestError(
            f"subject {subject}: study folder {folder}: no readable DICOM image among"
            f" {len(files)} files"
        )
    if len(patients) > 1:
        examples = ", ".join(
            f"{files_[0]} ({len(files_)} files)" for files_ in by_patient_file.values()
        )
        raise IngestError(
            f"subject {subject}: study folder {folder} mixes {len(patients)} patients"
            f" (different PatientID/PatientName/PatientBirthDate): first file of each: {examples}"
        )
    return Study(folder, series, warnings, len(files), len(patients), dict(skipped))
