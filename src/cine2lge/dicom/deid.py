"""De-identified sidecars: an allow-list of technical keys, patient age (90+ above 89) and sex,
free text scrubbed of names and dates, and keyed pseudonyms of the source SeriesInstanceUIDs.
Nothing else from a DICOM header ever leaves the ingest stage.

UID pseudonyms are HMAC-SHA256 of the UID under a per-installation secret (`installation_secret`):
stable across reruns of one installation, but not recomputable by anyone who knows a source UID
and lacks the secret (a plain hash of a UID is: UIDs travel with images, reports, PACS logs).

As a second line of defence `assert_no_phi` checks the text we are about to write against the
identifying values of the source headers (names, IDs, dates, institution, UIDs), decoded by the
header's SpecificCharacterSet (pydicom), in plain and JSON-escaped form.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import time
import unicodedata
from hashlib import sha256
from pathlib import Path

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
# Free-text attributes: written only after `scrub_free_text`.
FREE_TEXT_KEYS = ("SeriesDescription", "StudyDescription", "ProtocolName", "ImageComments")
# Ages above this are written as AGE_CAP_LABEL (HIPAA Safe Harbor: 90 or older is one category).
MAX_EXACT_AGE_YEARS = 89
AGE_CAP_LABEL = "90+"

# --- per-installation secret for UID pseudonyms ------------------------------------------------
SECRET_ENV = "CINE2LGE_UID_SECRET_FILE"
SECRET_BYTES = 32


class SecretError(RuntimeError):
    """The UID secret cannot be read or created: a set-up problem, not a data problem."""


def default_secret_path() -> Path:
    """`$XDG_CONFIG_HOME/cine2lge/uid_secret` (default `~/.config/cine2lge/uid_secret`)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "cine2lge" / "uid_secret"


def secret_path(configured: str | Path | None = None) -> Path:
    """Where the secret lives: config `ingest.uid_secret_file`, else $CINE2LGE_UID_SECRET_FILE,
    else `default_secret_path()`."""
    chosen = configured or os.environ.get(SECRET_ENV) or default_secret_path()
    return Path(chosen).expanduser()


_SECRETS: dict[Path, bytes] = {}


def _read_secret(path: Path) -> bytes | None:
    for _ in range(50):  # another job may be writing it this very moment (< 1 ms)
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if text:
            break
        time.sleep(0.05)
    if not re.fullmatch(r"[0-9a-fA-F]{32,}", text):
        raise SecretError(
            f"UID secret file {path} does not hold a hex secret of >= 16 bytes; delete it to have"
            " a new one generated (pseudonyms then change)"
        )
    return bytes.fromhex(text)


def installation_secret(path: str | Path | None = None) -> bytes:
    """The secret keying UID pseudonyms, generated once (32 random bytes, hex, mode 0600) at
    `secret_path(path)` and read from there afterwards. Keep it outside results/ and out of
    version control; share it between machines of one installation (e.g. a cluster's home) so
    that pseudonyms agree; losing it changes every pseudonym, leaking it lets its holder test
    guessed UIDs."""
    path = secret_path(path)
    if path in _SECRETS:
        return _SECRETS[path]
    secret = _read_secret(path)
    if secret is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created by a concurrent job since we looked
            secret = _read_secret(path)
        except OSError as error:
            raise SecretError(
                f"cannot create the UID secret file {path} ({error.strerror}); set config"
                f" ingest.uid_secret_file or ${SECRET_ENV} to a writable path outside results/"
            ) from error
        else:
            with os.fdopen(descriptor, "w", encoding="ascii") as stream:
                stream.write(secrets.token_hex(SECRET_BYTES) + "\n")
            secret = _read_secret(path)
    _SECRETS[path] = secret
    return secret


def _digest(uid: str, secret: bytes | None) -> bytes:
    key = installation_secret() if secret is None else secret
    return hmac.new(key, str(uid).strip().encode(), sha256).digest()


def uid_hash(uid: str, secret: bytes | None = None) -> str:
    """Keyed pseudonym of a UID (16 hex of HMAC-SHA256): stable for one secret (default: the
    installation's), links sidecars to sources for the secret's holder, reveals nothing else."""
    return _digest(uid, secret).hex()[:UID_HASH_CHARS]


def pseudonymous_uid(uid: str, secret: bytes | None = None) -> str:
    """A valid DICOM UID (2.25.<128-bit integer>) standing for `uid`, keyed like `uid_hash`."""
    return "2.25." + str(int.from_bytes(_digest(uid, secret)[:16], "big"))


# --- free text ----------------------------------------------------------------------------------
# Words of MR series / study descriptions (whole tokens, case-insensitive); anything else that is
# a word of 4+ letters, a number of 4+ digits, a date or a header name part is replaced by "*".
ALLOWED_WORDS = re.compile(
    r"""(?ix)
    (cine|cines|sax?|lax|short|long|axis|axial|ax|sag|cor|tra|obl|oblique|coronal|sagittal
    |[2-5]ch|ch|lvot|rvot|lv|rv|la|ra|ao|aorta|heart|cardiac|cardio|cmr|mri?|\w{0,4}ssfp
    |tru?e?fisp|trufi|fiesta|tfe|s?btfe|fgre|ffe|gre|fl[23]d|tfl|tse|fse|haste|stir|tirm|epi
    |lge|psir|mag|magn|magnitude|phase|phases|de|mde|delay|delayed|late|viab|viability
    |enhanc\w*|contrast|post|pre|gd|ce|t[12]\w{0,3}|map|maps|mapping|molli|shmolli|sasha|ecv
    |native|locali[sz]er|loc|scout|survey|pilot|plane|planes|bh|breath|breathhold|hold|free
    |fb|nav|navigator|retro|prosp|seg|segm|segmented|rt|real|realtime|time|stack|slice|slices
    |sl|single|multi|shot|ir|inv|inversion|ti|ipat|sense|grappa|asset|arc|cs|moco|ave|mocoave
    |pssr|dark|black|bright|blood|db|fs|fat|sat|fatsat|spair|dixon|vibe|perf|perfusion|rest
    |stress|flow|qflow|venc|edema|oedema|ecg|trig|trigger|triggered|gated|sequence|series
    |study|research|test|the|of|and|with|wo|w|mm|ms|sec|base|apex|mid|basal|apical|full
    |coverage|high|low|res|resolution|hr|lr|iso|cube|vol|volume|3d|2d|tof|angio|mra|scar
    |fibrosis|function|functional|morphology|ventricle|ventricular|atrium|atrial|valve|mitral
    |aortic|tricuspid|pulmonary|pa|orig|original|primary|secondary|derived|other|none|mpr
    |mip|tv|tvi|lvo|balanced|fast|turbo|spin|echo|gradient|recovery|kt|blast|hyper|sweep
    |shim|cal|calibration|adj|adjust|sc|[a-z])
    """
)
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script; "_", "-", " " separate
_DATES = re.compile(
    r"""(?ix)
    \b(19|20)\d{2}[-./]?(0?[1-9]|1[0-2])[-./]?(0?[1-9]|[12]\d|3[01])\b       # 2024-02-29, 20240229
    |\b(0?[1-9]|[12]\d|3[01])[-./](0?[1-9]|1[0-2])[-./](\d{4}|\d{2})\b     # 29.02.2024, 29/2/24
    |\b(0?[1-9]|1[0-2])[-./](0?[1-9]|[12]\d|3[01])[-./](\d{4}|\d{2})\b     # 02/29/2024
    |\b\d{1,2}\s*(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*\d{2,4}\b
    |\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*\d{1,2},?\s*\d{2,4}\b
    """
)
# short numbers, alone or with a unit or abbreviation: 8mm, 1.5T, 25ph, 3ch, 300ms
_SHORT_NUMBER_UNIT = re.compile(r"(?i)\d{1,3}([.,]\d+)?([a-z]{1,4})?")


def name_parts(header: pydicom.Dataset) -> set[str]:
    """Every part (of any length) of the person names and IDs of a header, decoded, casefolded:
    the words `scrub_free_text` removes whatever else it allows."""
    parts = set()
    for keyword in PHI_KEYWORDS:
        for text in _texts(header.get(keyword)):
            parts.update(p.casefold() for p in _TOKEN.findall(text) if not p.isdigit())
    return parts


def scrub_free_text(text: str, identifying: set[str] | frozenset = frozenset()) -> str:
    """`text` with dates, header name parts (`identifying`, casefolded) and every word outside
    `ALLOWED_WORDS` replaced by "*" ("cine_sa Doe 2024-02-29" -> "cine_sa * *"). Separators
    stay, so descriptions remain readable and still match the series-choice patterns."""
    text = unicodedata.normalize("NFC", str(text or ""))
    text = _DATES.sub("*", text)

    def keep(match: re.Match) -> str:
        word = match[0]
        if word.casefold() in identifying:
            return "*"
        if ALLOWED_WORDS.fullmatch(word) or _SHORT_NUMBER_UNIT.fullmatch(word):
            return word
        if word.isascii() and re.fullmatch(r"(?i)[a-z]{1,3}\d{0,3}|[a-z]{1,3}\d+[a-z]{0,3}", word):
            return word  # short technical tokens (b2, fl2d, sa3); names of <= 3 letters are
            # removed above when they are the patient's, staff names have 4+ letters mostly
        return "*"

    scrubbed = _TOKEN.sub(keep, text)
    return re.sub(r"\*(?:[\s_^,.-]*\*)+", "*", scrubbed)  # one "*" per removed run


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


def age_for_sidecar(years: float | None) -> float | str | None:
    """Age in years, or "90+" above 89 (exact ages of the very old are identifying)."""
    if years is None:
        return None
    return AGE_CAP_LABEL if years > MAX_EXACT_AGE_YEARS else years


def sidecar(
    header: pydicom.Dataset,
    series_uids: list[str],
    trigger_times_ms: list[float],
    extra: dict | None = None,
    secret: bytes | None = None,
) -> dict:
    """The de-identified sidecar of a converted series (header = its first file's header);
    `secret` keys the UID pseudonyms (default: `installation_secret()`)."""
    record = {}
    identifying = name_parts(header)
    for keyword, where in TECHNICAL_KEYS.items():
        value = _lookup(header, keyword, where)
        if value is not None:
            record[keyword] = _jsonable(value)
            if keyword in FREE_TEXT_KEYS:
                record[keyword] = scrub_free_text(record[keyword], identifying)
    sex = str(header.get("PatientSex", "") or "").upper()
    record["PatientSex"] = sex if sex in ("F", "M", "O") else None
    record["PatientAgeYears"] = age_for_sidecar(patient_age_years(header))
    record["SeriesInstanceUIDHash"] = [uid_hash(u, secret) for u in series_uids]
    if trigger_times_ms:
        record["TriggerTimes"] = [round(t, 3) for t in trigger_times_ms]
    record.update(extra or {})
    return record


def _texts(value) -> list[str]:
    """The decoded text(s) of an element value: each value of a multi-valued element, and for a
    person name each of its component groups (alphabetic, ideographic, phonetic)."""
    if value is None:
        return []
    items = value if isinstance(value, pydicom.multival.MultiValue | list | tuple) else [value]
    texts = []
    for item in items:
        if isinstance(item, pydicom.valuerep.PersonName):
            groups = [item.alphabetic, item.ideographic, item.phonetic]
            texts += [g for g in groups if g] or [str(item)]
        else:
            texts.append(item.decode("latin-1") if isinstance(item, bytes) else str(item))
    return [unicodedata.normalize("NFC", t).strip() for t in texts if str(t).strip()]


def phi_strings(header: pydicom.Dataset, min_length: int = 4) -> set[str]:
    """Identifying values of a header (and the parts of person names), for leak checks.

    Text is as pydicom decodes it (by SpecificCharacterSet). ASCII values shorter than
    `min_length` and short numbers are left out (they would match technical values by chance);
    non-ASCII ones of any length stay in (a 2-character Chinese name is a name)."""
    values = set()
    for keyword in PHI_KEYWORDS:
        for text in _texts(header.get(keyword)):
            if set(text) <= {"0", " ", "^", ".", "="}:  # anonymised placeholders
                continue
            values.add(text.strip("^= "))
            values.update(part for part in re.split(r"[\^ =]+", text) if part)
    # Short numbers (an IS StudyID like "8001") would match trigger times and sizes by chance.
    return {
        v
        for v in values
        if (not v.isascii() and v)
        or (len(v) >= min_length and not (re.fullmatch(r"[\d.]+", v) and len(v) < 8))
    }


def assert_no_phi(text: str, phi: set[str], subject: str, what: str) -> None:
    """Raise (without repeating the value) when an identifying value occurs in `text` as a whole
    token ("MARY" is a name, not the end of "PRIMARY"), as written or JSON-escaped (\\u738b)."""
    # The subject id is the pseudonym every output path carries, even where a test cohort also
    # wrote it into PatientName.
    text = unicodedata.normalize("NFC", text)
    hits = []
    for value in phi:
        if value.lower() == subject.lower():
            continue
        value = unicodedata.normalize("NFC", value)
        if value.isascii():
            pattern = rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
        else:  # no word boundaries in CJK text, nor between escapes like \u5f20\u738b
            pattern = f"{re.escape(value)}|{re.escape(json.dumps(value)[1:-1])}"
        if re.search(pattern, text, re.IGNORECASE):
            hits.append(value)
    if hits:
        raise IngestError(
            f"subject {subject}: {what} would contain {len(hits)} identifying header value(s);"
            " refusing to write it"
        )


def dumps(record: dict) -> str:
    return json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n"
