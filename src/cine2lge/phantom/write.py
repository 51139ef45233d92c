"""Write one synthetic demo subject: a whole DICOM study plus ground truth.

`write_subject` is what rule demo_subject calls. The study holds a short-axis cine, a short-axis
LGE at the same slice positions (heart shifted in-plane by a breath-hold), a 3-plane localiser
and a 4-chamber cine, in randomly named files. Ground truth: `labels.nii.gz` on the LGE grid
(x, y, slice; demo label scheme), optionally the end-diastolic labels on the cine grid, and
`truth.json` with the phantom's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cine2lge.geometry import affine_ras
from cine2lge.io import atomic_path, save_nifti
from cine2lge.phantom import dicom
from cine2lge.phantom.anatomy import HYPERINTENSE, INTERMEDIATE
from cine2lge.phantom.lesions import LEVELS, TERRITORY_SEGMENTS, aha_segment
from cine2lge.phantom.motion import end_systolic_phase
from cine2lge.phantom.plan import (
    IDENTIFYING_PHI,
    N_PHASES,
    PHANTOM_VERSION,
    SubjectPlan,
    plan_subject,
)
from cine2lge.phantom.render import (
    CONTRASTS,
    acquire,
    cine_states,
    fourch_plane,
    lge_state,
    localiser_planes,
    render_plane,
    render_short_axis,
    stack_torso,
)
from cine2lge.phantom.scanner import storage_for

log = logging.getLogger(__name__)

SERIES_NUMBERS = {"localiser": 1, "fourch": 4, "cine": 7, "lge": 12}


def _time(start: str, seconds: float) -> str:
    base = dt.datetime.strptime(start, "%H%M%S") + dt.timedelta(seconds=float(seconds))
    return base.strftime("%H%M%S.%f")[:13]


def _study_elements(plan: SubjectPlan, uids: dicom.UidSource) -> dict:
    site, phi = plan.site, plan.phi
    elements = {
        "Modality": "MR",
        "StudyInstanceUID": uids("study"),
        "FrameOfReferenceUID": uids("frame-of-reference"),
        "PositionReferenceIndicator": "",
        "StudyDescription": "CARDIAC^MR HEART",
        "PatientPosition": "HFS",
        "BodyPartExamined": "HEART",
        "Manufacturer": site.manufacturer,
        "ManufacturerModelName": site.model_name,
        "SoftwareVersions": "DEMO-" + PHANTOM_VERSION,
        "MagneticFieldStrength": dicom._ds(site.field_strength_t),
        "ImagingFrequency": dicom._ds(42.577478 * site.field_strength_t),
        "ImagedNucleus": "1H",
        "MRAcquisitionType": "2D",
        "ReceiveCoilName": "Body18" if site.site == "siteA" else "Cardiac",
    }
    for keyword in (
        *IDENTIFYING_PHI,
        "PatientSex",
        "PatientAge",
        "StudyDate",
        "StudyTime",
        "StudyID",
    ):
        elements[keyword] = phi[keyword]
    elements["PatientWeight"] = dicom._ds(phi["PatientWeight"])
    elements["PatientSize"] = dicom._ds(phi["PatientSize"])
    return elements


def _series_elements(plan: SubjectPlan, uids: dicom.UidSource, kind: str, minutes: float) -> dict:
    """Series-level elements of one of: cine, lge, fourch, localiser."""
    site, stack = plan.site, plan.stack
    cine_like = kind in ("cine", "fourch")
    description = {
        "cine": site.cine_description,
        "lge": site.lge_description,
        "fourch": site.fourch_description,
        "localiser": site.localiser_description,
    }[kind]
    elements = {
        "SeriesInstanceUID": uids("series", kind),
        "SeriesNumber": SERIES_NUMBERS[kind],
        "SeriesDescription": description,
        "ProtocolName": description,
        "SeriesDate": plan.phi["StudyDate"],
        "SeriesTime": _time(plan.phi["StudyTime"], 60 * minutes),
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "NONE"],
        "ScanOptions": "CG" if kind != "localiser" else "",
        "NumberOfAverages": "1",
        "HeartRate": str(int(round(60000 / plan.rr_ms))),
        "NominalInterval": str(int(plan.rr_ms)),
        "PixelSpacing": dicom.ds_vector([stack.pixel_mm, stack.pixel_mm]),
        "SliceThickness": dicom._ds(stack.slice_thickness_mm),
    }
    if cine_like:
        elements.update(
            ScanningSequence="GR",
            SequenceVariant=["SS", "SP"],
            SequenceName=site.cine_sequence_name,
            RepetitionTime=dicom._ds(site.cine_tr_ms),
            EchoTime=dicom._ds(site.cine_te_ms),
            FlipAngle=dicom._ds(site.cine_flip_deg),
            CardiacNumberOfImages=N_PHASES,
        )
    elif kind == "lge":
        elements.update(
            ScanningSequence=["GR", "IR"],
            SequenceVariant=["SP", "MP"],
            SequenceName=site.lge_sequence_name,
            RepetitionTime=dicom._ds(plan.rr_ms),
            EchoTime=dicom._ds(3.2),
            FlipAngle=dicom._ds(25.0),
            InversionTime=dicom._ds(plan.inversion_time_ms),
            CardiacNumberOfImages=1,
        )
    else:
        elements.update(
            ScanningSequence="GR",
            SequenceVariant="SS",
            SequenceName=site.cine_sequence_name,
            RepetitionTime=dicom._ds(3.5),
            EchoTime=dicom._ds(1.6),
            FlipAngle=dicom._ds(45.0),
            PixelSpacing=dicom.ds_vector([1.6, 1.6]),
            SliceThickness=dicom._ds(8.0),
        )
    if kind in ("cine", "lge"):
        elements["SpacingBetweenSlices"] = dicom._ds(stack.spacing_mm)
    return elements


def nifti_order(plan: SubjectPlan) -> np.ndarray:
    """Acquisition slice indices in NIfTI order (ascending position along the slice normal)."""
    return np.argsort(plan.stack.positions_lps @ plan.stack.normal)


def stack_affine(plan: SubjectPlan) -> np.ndarray:
    """RAS affine of the short-axis stack as cine2lge.geometry computes it from the DICOM tags.

    Built from the same decimal strings that are written, so the ingest stage reproduces it.
    """
    stack = plan.stack
    first = stack.positions_lps[nifti_order(plan)[0]]
    as_written = lambda values: np.array([float(v) for v in dicom.ds_vector(values)])  # noqa: E731
    return affine_ras(
        as_written(stack.orientation),
        as_written(first),
        as_written([stack.pixel_mm, stack.pixel_mm]),
        float(dicom._ds(stack.spacing_mm)),
    )


def _image_angle_deg(plan: SubjectPlan, heart_angle_deg: float) -> float:
    """Heart-frame angle -> angle in the short-axis image frame (x along rows, y down)."""
    angle = np.deg2rad(heart_angle_deg)
    direction = plan.anatomy.axes_lps @ np.array([np.cos(angle), np.sin(angle), 0.0])
    x, y = direction @ plan.stack.row_cosine, direction @ plan.stack.column_cosine
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


def _slice_levels(plan: SubjectPlan) -> list[str]:
    return [LEVELS[i] for i in plan.lesion.level_index(plan.stack.slice_s)]


def _segments_of(plan: SubjectPlan, labels_syx: np.ndarray, classes, shift_lps) -> dict:
    """AHA segments of the voxels of `classes`, per acquisition slice."""
    anatomy, stack = plan.anatomy, plan.stack
    levels = _slice_levels(plan)
    found = {}
    for k in range(labels_syx.shape[0]):
        rows, columns = np.nonzero(np.isin(labels_syx[k], classes))
        if rows.size == 0:
            continue
        points = (
            stack.positions_lps[k]
            + columns[:, None] * stack.pixel_mm * stack.row_cosine
            + rows[:, None] * stack.pixel_mm * stack.column_cosine
        )
        heart = anatomy.to_heart(points, shift_lps)
        theta = np.degrees(np.arctan2(heart[:, 1], heart[:, 0]))
        segments = aha_segment(
            theta, levels[k], anatomy.anterior_insertion_deg, anatomy.rv_centre_deg
        )
        found[k] = sorted({int(s) for s in segments})
    return found


def impaired_segments(plan: SubjectPlan, threshold: float = 0.3) -> list[int]:
    """AHA segments where the wall-motion impairment on some slice exceeds `threshold`."""
    anatomy, lesion = plan.anatomy, plan.lesion
    theta = np.arange(-180.0, 180.0, 2.0)
    segments = set()
    for s, level in zip(plan.stack.slice_s, _slice_levels(plan), strict=True):
        impaired = lesion.impairment_field(theta, np.full_like(theta, s)) > threshold
        found = aha_segment(
            theta[impaired], level, anatomy.anterior_insertion_deg, anatomy.rv_centre_deg
        )
        segments.update(int(x) for x in found)
    return sorted(segments)


def truth_record(plan: SubjectPlan, lge_labels_syx: np.ndarray) -> dict:
    """Ground-truth parameters of a subject (slice lists in NIfTI order)."""
    stack, anatomy, lesion = plan.stack, plan.anatomy, plan.lesion
    order = nifti_order(plan)
    voxel_ml = stack.pixel_mm**2 * stack.spacing_mm / 1000.0
    counts = np.bincount(lge_labels_syx.ravel(), minlength=6)
    scar_segments = _segments_of(
        plan, lge_labels_syx, [INTERMEDIATE, HYPERINTENSE], plan.lge_shift_lps
    )
    position_of = {int(k): n for n, k in enumerate(order)}
    return {
        "phantom_version": PHANTOM_VERSION,
        "subject": plan.subject,
        "seed": plan.seed,
        "site": plan.site.site,
        "vendor": plan.site.manufacturer,
        "field_strength_t": plan.site.field_strength_t,
        "category": lesion.category,
        "scar": lesion.has_scar,
        "hypokinesis": lesion.category != "normal",
        "territory": lesion.territory,
        "territory_segments": list(TERRITORY_SEGMENTS[lesion.territory])
        if lesion.territory
        else [],
        "scar_segments": sorted({s for segs in scar_segments.values() for s in segs}),
        "scar_slices": sorted(position_of[k] for k in scar_segments),
        "impaired_segments": impaired_segments(plan) if lesion.category != "normal" else [],
        "transmurality": lesion.transmurality,
        "impairment": lesion.impairment,
        "normal_thickening": anatomy.thickening,
        "volumes_ml": {
            "hyperintense": float(counts[HYPERINTENSE] * voxel_ml),
            "intermediate": float(counts[INTERMEDIATE] * voxel_ml),
            "myocardium": float(counts[[2, 4, 5]].sum() * voxel_ml),
            "blood_pool": float(counts[1] * voxel_ml),
        },
        "volume_convention": "voxel count x PixelSpacing^2 x SpacingBetweenSlices (NIfTI voxel)",
        "slice_order": "NIfTI order: ascending position along the normal (row x column cosine)",
        "n_slices": int(len(order)),
        "n_phases": N_PHASES,
        "end_systolic_phase": end_systolic_phase(N_PHASES),
        "rr_ms": plan.rr_ms,
        "lge_trigger_ms": plan.lge_trigger_ms,
        "inversion_time_ms": plan.inversion_time_ms,
        "slice_levels": [_slice_levels(plan)[k] for k in order],
        "slice_long_axis_fraction": [float(stack.slice_s[k]) for k in order],
        "lv_centre_lps_mm": {
            "cine": stack.lv_centres_lps[order].round(3).tolist(),
            "lge": (stack.lv_centres_lps[order] + plan.lge_shift_lps).round(3).tolist(),
        },
        "lge_shift_mm": {
            "image_xy": plan.lge_shift_image_mm.round(3).tolist(),
            "lps": plan.lge_shift_lps.round(3).tolist(),
        },
        "insertion_angles_deg": {
            "anterior": _image_angle_deg(plan, anatomy.anterior_insertion_deg),
            "inferior": _image_angle_deg(plan, anatomy.inferior_insertion_deg),
            "septum": _image_angle_deg(plan, anatomy.rv_centre_deg),
            "convention": "image frame: direction cos(a) * row_cosine + sin(a) * column_cosine "
            "(x right, y down as displayed); AHA sectors as in cine2lge.phantom.lesions",
        },
        "ed_endocardial_radius_mm": anatomy.endo_radius_mm,
        "ed_wall_thickness_mm": anatomy.wall_mm,
        "pixel_spacing_mm": stack.pixel_mm,
        "spacing_between_slices_mm": stack.spacing_mm,
        "phi": plan.phi,
    }


def _stack_instances(plan, uids, study, kind, values_spyx) -> list:
    """Instances of the short-axis cine (25 phases) or LGE (1 phase); arguments of
    dicom.instance_dataset."""
    stack = plan.stack
    minutes = {"cine": 6, "lge": 18}[kind]
    series = dicom.series_dataset(study | _series_elements(plan, uids, kind, minutes))
    storage = storage_for(plan.site, plan.streams.names)
    window = dicom.window_of(values_spyx)
    n_phases = values_spyx.shape[1]
    trigger_ms = (
        np.arange(n_phases) * plan.rr_ms / n_phases if kind == "cine" else [plan.lge_trigger_ms]
    )
    instances = []
    for k in range(values_spyx.shape[0]):
        acquired = _time(plan.phi["StudyTime"], 60 * minutes + 15 * k)
        for phase in range(n_phases):
            extra = {
                "TriggerTime": dicom._ds(round(trigger_ms[phase], 2)),
                "SliceLocation": dicom._ds(stack.positions_lps[k] @ stack.normal),
                "AcquisitionNumber": k + 1,
                "AcquisitionTime": acquired,
                "ContentTime": acquired,
            }
            if kind == "cine":
                extra["TemporalPositionIdentifier"] = phase + 1
            number = k * n_phases + phase + 1
            position, orientation = stack.positions_lps[k], stack.orientation
            instances.append(
                (series, uids(kind, k, phase), number, position, orientation,
                 values_spyx[k, phase], storage, extra, window)
            )  # fmt: skip
    return instances


def _fourch_instances(plan, uids, study) -> list:
    """Single-slice 4-chamber cine (a distractor series)."""
    plane = fourch_plane(plan)
    signal, _ = render_plane(plan, plane, cine_states(), CONTRASTS["cine"])
    values = acquire(plan, signal, plane.pixel_points(), plan.site.cine_snr, 1.0)
    series = dicom.series_dataset(study | _series_elements(plan, uids, "fourch", 4))
    storage = storage_for(plan.site, plan.streams.names)
    window = dicom.window_of(values)
    trigger_ms = np.arange(N_PHASES) * plan.rr_ms / N_PHASES
    return [
        (series, uids("fourch", phase), phase + 1, plane.position_lps, plane.orientation,
         values[phase], storage,
         {"TriggerTime": dicom._ds(round(trigger_ms[phase], 2)), "AcquisitionNumber": 1}, window)
        for phase in range(N_PHASES)
    ]  # fmt: skip


def _localiser_instances(plan, uids, study) -> list:
    """3-plane localiser (axial, coronal, sagittal): a distractor series."""
    series = dicom.series_dataset(study | _series_elements(plan, uids, "localiser", 0))
    storage = storage_for(plan.site, plan.streams.names)
    instances = []
    for number, plane in enumerate(localiser_planes(plan), start=1):
        signal, _ = render_plane(plan, plane, np.zeros(1), CONTRASTS["cine"])
        values = acquire(plan, signal[0], plane.pixel_points(), 0.6 * plan.site.cine_snr, 1.0)
        instances.append(
            (series, uids("localiser", number), number, plane.position_lps, plane.orientation,
             values, storage, {"AcquisitionNumber": number}, dicom.window_of(values))
        )  # fmt: skip
    return instances


def _write_study(plan: SubjectPlan, folder: Path, series: list) -> int:
    """Write instances (arguments of dicom.instance_dataset) into `folder` under random
    names, in random order. Returns the file count."""
    names = plan.streams.names
    extension = ".dcm" if plan.site.site == "siteB" else ""
    order = names.permutation(len(series))
    file_names = [names.bytes(16).hex() + extension for _ in series]
    for position in order:
        dicom.save(dicom.instance_dataset(*series[position]), folder / file_names[position])
    return len(series)


def write_subject(
    subject: str,
    seed: int,
    dicom_dir: str | Path,
    labels_path: str | Path,
    truth_path: str | Path,
    cine_labels_path: str | Path | None = None,
    n_slices: int | None = None,
) -> dict:
    """Generate demo subject `subject` (e.g. "demo0007") deterministically from (seed, index).

    `n_slices` overrides the stack size (8-12 otherwise), for fast tests. Returns truth.json's
    content.
    """
    plan = plan_subject(subject, seed, n_slices)
    stack, site = plan.stack, plan.site
    log.info(
        "%s: %s %s, %d slices, %s",
        subject,
        site.site,
        site.manufacturer,
        len(stack.slice_s),
        plan.lesion.category,
    )
    uids = dicom.UidSource(seed, subject)
    study = _study_elements(plan, uids)
    torso = stack_torso(plan)
    cine_signal, cine_labels = render_short_axis(
        plan, cine_states(), CONTRASTS["cine"], None, torso
    )
    lge_signal, lge_labels = render_short_axis(
        plan, lge_state(), CONTRASTS["lge"], plan.lge_shift_lps, torso
    )
    stack_points = np.stack([stack.pixel_points(k) for k in range(len(stack.slice_s))])
    cine_values = acquire(plan, cine_signal, stack_points[:, None], site.cine_snr, 1.0)
    lge_values = acquire(plan, lge_signal[:, 0], stack_points, site.lge_snr, 1.0)

    instances = _stack_instances(plan, uids, study, "cine", cine_values)
    instances += _stack_instances(plan, uids, study, "lge", lge_values[:, None])
    instances += _fourch_instances(plan, uids, study)
    instances += _localiser_instances(plan, uids, study)

    dicom_dir = Path(dicom_dir)
    dicom_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dicom_dir.name}.", dir=dicom_dir.parent))
    try:
        n_files = _write_study(plan, staging, instances)
        if dicom_dir.exists():
            shutil.rmtree(dicom_dir)
        os.replace(staging, dicom_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    order = nifti_order(plan)
    affine = stack_affine(plan)
    save_nifti(np.transpose(lge_labels[order, 0], (2, 1, 0)), affine, labels_path, dtype=np.int16)
    if cine_labels_path is not None:
        save_nifti(
            np.transpose(cine_labels[order, 0], (2, 1, 0)), affine, cine_labels_path, dtype=np.int16
        )
    truth = truth_record(plan, lge_labels[:, 0])
    truth["n_files"] = n_files
    truth["series_instance_uids"] = {
        kind: uids("series", kind) for kind in ("cine", "lge", "fourch", "localiser")
    }
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps(truth, indent=2))
    log.info("%s: wrote %d DICOM files to %s", subject, n_files, dicom_dir)
    return truth
