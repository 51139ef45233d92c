"""Ground truth of a demo subject: label-map geometry and the truth.json record.

Slice lists in truth.json are in NIfTI order (ascending position along the slice normal, as
cine2lge.geometry orders DICOM slices); angles are in the short-axis image frame.
"""

from __future__ import annotations

import numpy as np

from cine2lge.geometry import affine_ras
from cine2lge.phantom import dicom
from cine2lge.phantom.anatomy import HYPERINTENSE, INTERMEDIATE
from cine2lge.phantom.lesions import LEVELS, TERRITORY_SEGMENTS, aha_segment
from cine2lge.phantom.motion import end_systolic_phase
from cine2lge.phantom.plan import N_PHASES, PHANTOM_VERSION, SubjectPlan


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
