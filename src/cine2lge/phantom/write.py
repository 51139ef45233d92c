"""Write one synthetic demo subject: a whole DICOM study plus ground truth.

`write_subject` is what rule demo_subject calls. The study holds a short-axis cine, a short-axis
LGE at the same slice positions (heart shifted in-plane by a breath-hold), a 3-plane localiser
and a 4-chamber cine, in randomly named files; with `t2=True` (config demo.t2) also a dark-blood
T2-STIR short-axis series at the LGE's slice positions, oedema bright at the lesion. Ground
truth: `labels.nii.gz` on the LGE grid (x, y, slice; demo label scheme), optionally the
end-diastolic labels on the cine grid, and `truth.json` with the phantom's parameters.
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

from cine2lge.io import atomic_path, save_nifti
from cine2lge.phantom import dicom
from cine2lge.phantom.plan import (
    IDENTIFYING_PHI,
    N_PHASES,
    PHANTOM_VERSION,
    SubjectPlan,
    fake_phi_strings,
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
    t2_short_axis,
)
from cine2lge.phantom.scanner import storage_for
from cine2lge.phantom.truth import nifti_order, stack_affine, truth_record

log = logging.getLogger(__name__)

__all__ = ["write_subject", "fake_phi_strings"]

SERIES_NUMBERS = {"localiser": 1, "fourch": 4, "cine": 7, "t2": 9, "lge": 12}
# T2-STIR inversion time nulling fat, by field strength (T).
STIR_INVERSION_MS = {1.5: 170.0, 3.0: 230.0}


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
    """Series-level elements of one of: cine, lge, t2, fourch, localiser."""
    site, stack = plan.site, plan.stack
    cine_like = kind in ("cine", "fourch")
    description = {
        "cine": site.cine_description,
        "lge": site.lge_description,
        "t2": site.t2_description,
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
        "EchoTrainLength": 1,  # MR Image Type 2; the T2 TSE overrides it
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
    elif kind == "t2":
        elements.update(
            ScanningSequence=["SE", "IR"],
            SequenceVariant=["SK", "SP", "MP"],
            SequenceName=site.t2_sequence_name,
            RepetitionTime=dicom._ds(2 * plan.rr_ms),
            EchoTime=dicom._ds(65.0),
            EchoTrainLength=19,
            FlipAngle=dicom._ds(160.0),
            InversionTime=dicom._ds(STIR_INVERSION_MS[site.field_strength_t]),
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
    if kind in ("cine", "lge", "t2"):
        elements["SpacingBetweenSlices"] = dicom._ds(stack.spacing_mm)
    return elements


def _stack_instances(plan, uids, study, kind, values_spyx) -> list:
    """Instances of the short-axis cine (25 phases), LGE or T2 (1 phase); arguments of
    dicom.instance_dataset."""
    stack = plan.stack
    minutes = {"cine": 6, "t2": 10, "lge": 18}[kind]
    series = dicom.series_dataset(study | _series_elements(plan, uids, kind, minutes))
    # The T2 draws from its own stream: the other series are the same with and without it.
    storage = storage_for(plan.site, plan.streams.t2 if kind == "t2" else plan.streams.names)
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
    t2: bool = False,
) -> dict:
    """Generate demo subject `subject` (e.g. "demo0007") deterministically from (seed, index).

    `n_slices` overrides the stack size (8-12 otherwise), for fast tests; `t2` adds the T2-STIR
    series (its noise from a stream of its own: the other series do not change). Returns
    truth.json's content.
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
        plan, cine_states(), CONTRASTS["cine"], None, torso, all_labels=False
    )
    lge_signal, lge_labels = render_short_axis(
        plan, lge_state(), CONTRASTS["lge"], plan.lge_shift_lps, torso
    )
    stack_points = np.stack([stack.pixel_points(k) for k in range(len(stack.slice_s))])
    cine_values = acquire(plan, cine_signal, stack_points[:, None], site.cine_snr, 1.0)
    lge_values = acquire(plan, lge_signal[:, 0], stack_points, site.lge_snr, 1.0)

    instances = _stack_instances(plan, uids, study, "cine", cine_values)
    instances += _stack_instances(plan, uids, study, "lge", lge_values[:, None])
    if t2:
        t2_signal, oedema = t2_short_axis(plan, torso)
        t2_values = acquire(plan, t2_signal, stack_points, site.t2_snr, 1.0, plan.streams.t2)
        instances += _stack_instances(plan, uids, study, "t2", t2_values[:, None])
    instances += _fourch_instances(plan, uids, study)
    instances += _localiser_instances(plan, uids, study)

    dicom_dir = Path(dicom_dir)
    dicom_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dicom_dir.name}.", dir=dicom_dir.parent))
    try:
        n_files = _write_study(plan, staging, instances)
        staging.chmod(0o755)  # mkdtemp makes it private
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
    kinds = ("cine", "lge", "fourch", "localiser") + (("t2",) if t2 else ())
    truth["series_instance_uids"] = {kind: uids("series", kind) for kind in kinds}
    if t2:
        truth["oedema_pixels"] = int(oedema.sum())
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps(truth, indent=2))
    log.info("%s: wrote %d DICOM files to %s", subject, n_files, dicom_dir)
    return truth
