"""Everything random about one demo subject, drawn before any pixel is rendered.

All draws come from np.random.default_rng([seed, index]) split into independent child streams
(plan, phi, noise, file names, and t2 for the optional T2 series), so that e.g. `fake_phi_strings`
needs no rendering, a change in the noise model does not move the anatomy, and a study with the
T2 series holds the same cine and LGE values as one without.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from cine2lge.geometry import slice_normal
from cine2lge.phantom.anatomy import Anatomy, sample_anatomy
from cine2lge.phantom.cohort import demo_index, site_of
from cine2lge.phantom.lesions import Lesion, sample_lesion
from cine2lge.phantom.motion import LGE_TRIGGER_FRACTION
from cine2lge.phantom.scanner import SiteProtocol, protocol

PHANTOM_VERSION = "1.0"
N_PHASES = 25

_FAMILY = ("DOE", "ROE", "MOE", "POE", "LOE", "SMITH", "MILLER", "NOVAK", "ROSSI", "MEYER")
_FEMALE = ("JANE", "MARY", "ANNA", "EVA", "LENA", "SOFIA", "CLARA")
_MALE = ("JOHN", "MAX", "PAUL", "LUCA", "OMAR", "PETER", "HUGO")
_INSTITUTIONS = {
    "siteA": "Demo University Hospital North",
    "siteB": "Demo Heart Institute South",
    "siteC": "Demo External Clinic West",
}


@dataclass(frozen=True)
class Streams:
    plan: np.random.Generator
    phi: np.random.Generator
    noise: np.random.Generator
    names: np.random.Generator
    t2: np.random.Generator  # noise and storage of the optional T2 series only


def streams(seed: int, index: int) -> Streams:
    root = np.random.default_rng([int(seed), int(index)])
    # spawn(5)'s first four children are spawn(4)'s: adding the t2 stream moved no other draw.
    return Streams(*root.spawn(5))


@dataclass
class StackGeometry:
    """Short-axis stack: parallel planes, pixel (0, 0) of slice k at `positions_lps[k]`.

    Slices are in acquisition order (base first); `slice_s` is each slice's long-axis position
    (0 base, 1 apex) where it crosses the LV axis.
    """

    row_cosine: np.ndarray
    column_cosine: np.ndarray
    positions_lps: np.ndarray  # (n_slices, 3)
    rows: int
    columns: int
    pixel_mm: float
    slice_thickness_mm: float
    spacing_mm: float
    slice_s: np.ndarray
    lv_centres_lps: np.ndarray  # (n_slices, 3), cine (no breath-hold shift)

    @property
    def orientation(self) -> np.ndarray:
        return np.concatenate([self.row_cosine, self.column_cosine])

    @property
    def normal(self) -> np.ndarray:
        return slice_normal(self.orientation)

    def pixel_points(self, k: int, i0: int = 0, i1=None, j0: int = 0, j1=None) -> np.ndarray:
        """LPS centres (rows, columns, 3) of pixels [i0:i1, j0:j1] of slice k."""
        i1 = self.rows if i1 is None else i1
        j1 = self.columns if j1 is None else j1
        i = np.arange(i0, i1, dtype=float)[:, None, None] * self.pixel_mm
        j = np.arange(j0, j1, dtype=float)[None, :, None] * self.pixel_mm
        return self.positions_lps[k] + j * self.row_cosine + i * self.column_cosine

    def pixel_of(self, k: int, point_lps: np.ndarray) -> tuple[float, float]:
        """(row i, column j) of a world point projected on slice k."""
        d = np.asarray(point_lps) - self.positions_lps[k]
        return float(d @ self.column_cosine / self.pixel_mm), float(
            d @ self.row_cosine / self.pixel_mm
        )


@dataclass
class SubjectPlan:
    subject: str
    seed: int
    index: int
    site: SiteProtocol
    anatomy: Anatomy
    lesion: Lesion
    stack: StackGeometry
    lge_shift_lps: np.ndarray
    lge_shift_image_mm: np.ndarray  # (along row cosine, along column cosine)
    rr_ms: float
    inversion_time_ms: float
    gain: float
    bias_coefficients: np.ndarray
    phi: dict
    streams: Streams

    @property
    def lge_trigger_ms(self) -> float:
        return LGE_TRIGGER_FRACTION * self.rr_ms


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * k @ k


def plan_stack(rng: np.random.Generator, anatomy: Anatomy, site: SiteProtocol, n_slices=None):
    """Short-axis planes: slightly tilted against the LV axis (imperfect planning)."""
    lateral, inferior, long_axis = anatomy.axes_lps.T
    tilt_direction = rng.uniform(0, 2 * np.pi)
    tilt_axis = np.cos(tilt_direction) * lateral + np.sin(tilt_direction) * inferior
    tilt = _rotation(tilt_axis, np.deg2rad(rng.uniform(0.0, 3.0)))
    row, column = tilt @ lateral, tilt @ inferior
    normal = np.cross(row, column)
    # The basal slice still cuts the LV at end-systole, when the base has descended.
    descent_s = anatomy.long_shortening_mm / anatomy.length_mm
    first_s, last_s = descent_s + rng.uniform(0.03, 0.07), rng.uniform(0.8, 0.88)
    along = float(long_axis @ normal)  # cos(tilt) up to a sign convention
    coverage_mm = (last_s - first_s) * anatomy.length_mm * abs(along)
    # Protocols prescribe a spacing; the slice count follows from the LV length (8-12).
    spacing_target = rng.uniform(6.5, 10.0)  # always drawn: an override must not shift the stream
    if n_slices is None:
        n_slices = int(np.clip(round(coverage_mm / spacing_target) + 1, 8, 12))
    spacing = round(coverage_mm / (n_slices - 1), 1)
    thickness = min(8.0, spacing)
    # Plane k: (p - origin) . normal = offset_k; the LV axis crosses it at t = offset_k / along.
    first_offset = first_s * anatomy.length_mm * along
    offsets = first_offset + np.sign(along) * spacing * np.arange(n_slices)
    lv_centres = anatomy.origin_lps + (offsets / along)[:, None] * long_axis
    slice_s = offsets / along / anatomy.length_mm
    fov_offset = rng.uniform(-20, 20) * row + rng.uniform(-15, 15) * column
    centres = anatomy.origin_lps + offsets[:, None] * normal + fov_offset
    half_extent = (
        0.5 * (site.columns - 1) * site.pixel_spacing_mm * row
        + 0.5 * (site.rows - 1) * site.pixel_spacing_mm * column
    )
    return StackGeometry(
        row_cosine=row,
        column_cosine=column,
        positions_lps=centres - half_extent,
        rows=site.rows,
        columns=site.columns,
        pixel_mm=site.pixel_spacing_mm,
        slice_thickness_mm=float(thickness),
        spacing_mm=float(spacing),
        slice_s=slice_s,
        lv_centres_lps=lv_centres,
    )


def _phi(rng: np.random.Generator, subject: str, site: str) -> dict:
    sex = str(rng.choice(["F", "M"]))
    given = str(rng.choice(_FEMALE if sex == "F" else _MALE))
    age = int(rng.integers(28, 86))
    study_date = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
    birth_date = study_date - dt.timedelta(days=int(age * 365.25 + rng.integers(1, 360)))
    hex_id = rng.bytes(3).hex()
    return {
        "PatientName": f"{rng.choice(_FAMILY)}^{given}^{subject.upper()}",
        "PatientID": f"PID-{hex_id}",
        "PatientBirthDate": birth_date.strftime("%Y%m%d"),
        "PatientSex": sex,
        "PatientAge": f"{age:03d}Y",
        "PatientWeight": float(np.round(rng.uniform(50, 110), 1)),
        "PatientSize": float(np.round(rng.uniform(1.5, 1.95), 2)),
        "PatientAddress": f"{int(rng.integers(1, 200))} Fake Street, Demotown {hex_id.upper()}",
        "PatientTelephoneNumbers": f"+00 555 {int(rng.integers(1000000, 9999999))}",
        "OtherPatientIDs": f"MRN{int(rng.integers(10**7, 10**8))}",
        "StudyDate": study_date.strftime("%Y%m%d"),
        "StudyTime": f"{int(rng.integers(7, 18)):02d}{int(rng.integers(0, 60)):02d}00",
        "AccessionNumber": f"ACC{int(rng.integers(10**7, 10**8))}",
        "StudyID": f"{int(rng.integers(1000, 99999))}",
        "InstitutionName": _INSTITUTIONS[site],
        "InstitutionAddress": f"1 Hospital Road, Demo City {site[-1]}",
        "StationName": f"MR{site[-1]}{int(rng.integers(1, 4))}",
        "ReferringPhysicianName": f"{rng.choice(_FAMILY)}^{rng.choice(_MALE + _FEMALE)}^DR",
        "PerformingPhysicianName": f"{rng.choice(_FAMILY)}^{rng.choice(_MALE + _FEMALE)}",
        "OperatorsName": f"TECH^{rng.choice(_MALE + _FEMALE)}",
        "DeviceSerialNumber": f"{int(rng.integers(10000, 99999))}",
    }


# PHI values that identify the subject: none may survive de-identification.
IDENTIFYING_PHI = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "OtherPatientIDs",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "DeviceSerialNumber",
)


def fake_phi(subject: str, seed: int) -> dict:
    """The fake PHI written into every DICOM file of a demo subject (no rendering needed)."""
    index = demo_index(subject)
    return _phi(streams(seed, index).phi, subject, site_of(index))


def fake_phi_strings(subject: str, seed: int) -> list[str]:
    """Identifying strings of a demo subject that must not appear after de-identification."""
    phi = fake_phi(subject, seed)
    strings = [str(phi[key]) for key in IDENTIFYING_PHI]
    # Names are also searched by their parts (a de-identifier may keep the format); the subject
    # id itself is no PHI (it is the pseudonym the pipeline uses).
    parts = str(phi["PatientName"]).split("^")
    strings += [part for part in parts if len(part) > 3 and part != subject.upper()]
    return strings


def plan_subject(subject: str, seed: int, n_slices: int | None = None) -> SubjectPlan:
    """Draw all parameters of a demo subject; `n_slices` overrides the stack size (tests)."""
    index = demo_index(subject)
    rngs = streams(seed, index)
    site = protocol(site_of(index))
    rng = rngs.plan
    anatomy = sample_anatomy(rng)
    stack = plan_stack(rng, anatomy, site, n_slices)
    # Insertion angles and AHA sectors are defined in the heart frame, whose x/y axes are the
    # untilted image axes (angles differ from the image's by at most the ~3 degree tilt).
    lesion = sample_lesion(
        rng, stack.slice_s, anatomy.anterior_insertion_deg, anatomy.rv_centre_deg
    )
    shift_mm = rng.uniform(1.0, 4.0)
    direction = rng.uniform(0, 2 * np.pi)
    shift_image = shift_mm * np.array([np.cos(direction), np.sin(direction)])
    shift_lps = shift_image[0] * stack.row_cosine + shift_image[1] * stack.column_cosine
    return SubjectPlan(
        subject=subject,
        seed=int(seed),
        index=index,
        site=site,
        anatomy=anatomy,
        lesion=lesion,
        stack=stack,
        lge_shift_lps=shift_lps,
        lge_shift_image_mm=shift_image,
        rr_ms=float(np.round(rng.uniform(750, 1150))),
        inversion_time_ms=float(np.round(rng.uniform(280, 320))),
        gain=float(rng.uniform(0.8, 1.25)),
        bias_coefficients=rng.normal(0.0, [0.35] * 3 + [0.4] * 6),
        phi=_phi(rngs.phi, subject, site.site),
        streams=rngs,
    )
