"""De-identified sidecars: an allow-list of technical keys, patient age and sex, and a hash of the
source SeriesInstanceUID. Nothing else from a DICOM header ever leaves the ingest stage.

As a second line of defence `assert_no_phi` checks the text we are about to write against the
identifying values of the source headers (names, IDs, dates, institution, UIDs).
"""

from __future__ import annotations

import hashlib
import json
import re

import pydicom

from cine2lge.dicom import IngestError

# BIDS-like sidecar keys, read from the top level of the header or, for Enhanced MR, from the
# shared functional groups (sequence, keyword) listed after them.
TECHNICAL_KEYS = {
    "Manufacturer": (),
    "ManufacturerModelName": (),
    "MagneticFieldStrength": (),
    "RepetitionTime": ("MRTimingAndRelatedParametersSequence",),
    "EchoTime": ("MREchoSequence", "EffectiveEchoTime"),
    "InversionTime": ("MRModifierSequence", "InversionTimes"),
    "FlipAngle": ("MRTimingAndRelatedParametersSequence",),
    "SliceThickness": ("PixelMeasuresSequence",),
    "SpacingBetweenSlices": ("PixelMeasuresSequence",),
    "PixelSpacing": ("PixelMeasuresSequence",),
    "ScanningSequence": (),
    "SequenceVariant": (),
    "MRAcquisitionType": (),
    "SeriesDescription": (),
}
# Identifying attributes whose values must never appear in any output.
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PhysiciansOfRecord",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "DeviceSerialNumber",
    "StationName",
    "PatientAddress",
    "PatientTelephoneNumbers",
)
UID_HASH_CHARS = 16


def uid_hash(uid: str) -> str:
    """Truncated sha256 of a UID: stable across runs, links sidecars to sources, reveals nothing."""
    return hashlib.sha256(str(uid).encode()).hexdigest()[:UID_HASH_CHARS]


def _jsonable(value):
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pydicom.valuerep.DSfloat | pydicom.valuerep.DSdecimal | float):
        return float(value)
    if isinstance(value, pydicom.valuerep.IS | int):
        return int(value)
    return str(value)


def _lookup(header: pydicom.Dataset, keyword: str, where: tuple):
    if keyword in header and header[keyword].value not in (None, ""):
        return header[keyword].value
    shared = header.get("SharedFunctionalGroupsSequence")
    per_frame = header.get("PerFrameFunctionalGroupsSequence")
    if not where:
        return None
    sequence, inner = where[0], where[1] if len(where) > 1 else keyword
    for groups in (shared, per_frame):
        if groups and sequence in groups[0] and len(groups[0][sequence].value):
            value = groups[0][sequence].value[0].get(inner)
            if value not in (None, ""):
                return value
    return None


def patient_age_years(header: pydicom.Dataset) -> float | None:
    """PatientAge ('045Y', '006M'...) in years; from birth and study dates when absent."""
    age = str(header.get("PatientAge", "") or "")
    match = re.fullmatch(r"(\d{1,3})([DWMY])", age)
    if match:
        per_year = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[match[2]]
        return round(int(match[1]) / per_year, 2)
    birth, study = str(header.get("PatientBirthDate", "")), str(header.get("StudyDate", ""))
    if re.fullmatch(r"\d{8}", birth) and re.fullmatch(r"\d{8}", study) and birth[:4] != "0000":
        years = int(study[:4]) - int(birth[:4])
        years -= study[4:8] < birth[4:8]
        return float(years) if 0 <= years < 130 else None
    return None


def sidecar(
    header: pydicom.Dataset,
    series_uids: list[str],
    trigger_times_ms: list[float],
    extra: dict | None = None,
) -> dict:
    """The de-identified sidecar of a converted series (header = its first file's header)."""
    record = {}
    for keyword, where in TECHNICAL_KEYS.items():
        value = _lookup(header, keyword, where)
        if value is not None:
            record[keyword] = _jsonable(value)
    sex = str(header.get("PatientSex", "") or "").upper()
    record["PatientSex"] = sex if sex in ("F", "M", "O") else None
    record["PatientAgeYears"] = patient_age_years(header)
    record["SeriesInstanceUIDHash"] = [uid_hash(u) for u in series_uids]
    if trigger_times_ms:
        record["TriggerTimes"] = [round(t, 3) for t in trigger_times_ms]
    record.update(extra or {})
    return record


def phi_strings(header: pydicom.Dataset, min_length: int = 4) -> set[str]:
    """Identifying values of a header (and the parts of person names), for leak checks."""
    values = set()
    for keyword in PHI_KEYWORDS:
        value = header.get(keyword)
        if value is None:
            continue
        items = value if isinstance(value, pydicom.multival.MultiValue | list) else [value]
        for item in items:
            text = str(item).strip()
            if set(text) <= {"0", " ", "^", "."}:  # anonymised placeholders
                continue
            values.add(text)
            values.update(part for part in re.split(r"[\^ ]+", text) if part)
    # Short numbers (an IS StudyID like "8001") would match trigger times and sizes by chance.
    return {
        v
        for v in values
        if len(v) >= min_length and not (re.fullmatch(r"[\d.]+", v) and len(v) < 8)
    }


def assert_no_phi(text: str, phi: set[str], subject: str, what: str) -> None:
    """Raise (without repeating the value) when an identifying value occurs in `text` as a whole
    token ("MARY" is a name, not the end of "PRIMARY")."""
    # The subject id is the pseudonym every output path carries, even where a test cohort also
    # wrote it into PatientName.
    hits = [
        v
        for v in phi
        if v.lower() != subject.lower()
        and re.search(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])", text, re.IGNORECASE)
    ]
    if hits:
        raise IngestError(
            f"subject {subject}: {what} would contain {len(hits)} identifying header value(s);"
            " refusing to write it"
        )


def dumps(record: dict) -> str:
    return json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n"
