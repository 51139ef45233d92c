"""One subject from ingest volumes to model-ready, paired crops (docs/preprocess.md)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cine2lge.exclusion import PairingFailed
from cine2lge.io import atomic_path, save_npz
from cine2lge.preprocess.crop import CropRow, crop_row, crop_volume, resample_slice
from cine2lge.preprocess.localise import LVAxis, localise_lv, lv_axis_from_labels
from cine2lge.preprocess.normalise import percentile_normalise, resample_frames
from cine2lge.preprocess.pair import Registration, pair_slices, register_translation
from cine2lge.preprocess.volume import SourceVolume

log = logging.getLogger("cine2lge.preprocess")

PAIRS_COLUMNS = [
    "cine_slice",
    "lge_slice",
    "distance_mm",
    "shift_x_mm",
    "shift_y_mm",
    "registration",
    "registration_metric",
    "registration_metric_at_zero",
    "status",
]


@dataclass
class Settings:
    """The `preprocess` section of config/config.yaml (documented there)."""

    fov_mm: float
    grid_size: int
    frames: int
    percentiles: tuple[float, float]
    pair_tolerance_mm: float
    use_labels: bool
    register: bool
    register_mask_radius_mm: float
    register_max_shift_mm: float

    @classmethod
    def from_config(cls, section: dict) -> Settings:
        return cls(
            fov_mm=float(section["fov_mm"]),
            grid_size=int(section["grid_size"]),
            frames=int(section["frames"]),
            percentiles=tuple(section["intensity_percentiles"]),
            pair_tolerance_mm=float(section["pair_tolerance_mm"]),
            use_labels=bool(section["localise_from_labels"]),
            register=bool(section["registration"]["enabled"]),
            register_mask_radius_mm=float(section["registration"]["mask_radius_mm"]),
            register_max_shift_mm=float(section["registration"]["max_shift_mm"]),
        )


@dataclass
class Preprocessed:
    arrays: dict
    geometry: dict
    pairs: pd.DataFrame
    axis: LVAxis
    extras: dict = field(default_factory=dict)


def _coverage(volume: SourceVolume, rows: list[CropRow | None], grid_size: int) -> np.ndarray:
    """(row, y, x) True where the crop lies inside the source image."""
    ones = SourceVolume(np.ones((*volume.shape_xys, 1), np.float32), volume.affine)
    out = np.zeros((len(rows), grid_size, grid_size), bool)
    for s, row in enumerate(rows):
        if row is not None:
            out[s] = resample_slice(ones, row, 0, labels=True) > 0
    return out


def _section(volume: SourceVolume, rows: list[CropRow | None]) -> dict:
    return {
        "source_path": volume.path,
        "source_shape": list(volume.shape_xys),
        "source_affine": volume.affine.tolist(),
        "rows": [None if r is None else r.to_json(volume.affine) for r in rows],
    }


def preprocess_subject(
    subject: str,
    cine_path: str | Path,
    settings: Settings,
    lge_path: str | Path | None = None,
    labels_path: str | Path | None = None,
    myocardium_labels: list[int] | None = None,
    t2_path: str | Path | None = None,
) -> Preprocessed:
    """Localise, crop, resample, normalise and pair one subject's cine (and LGE, labels, T2)."""
    cine = SourceVolume.load(cine_path)
    lge = SourceVolume.load(lge_path) if lge_path else None
    labels = SourceVolume.load(labels_path, dtype=np.int16) if labels_path else None
    if labels is not None and lge is not None and labels.shape_xys != lge.shape_xys:
        raise ValueError(
            f"subject {subject}: labels {labels_path} {labels.shape_xys} are not on the LGE grid"
            f" {lge_path} {lge.shape_xys}"
        )
    if labels is not None and settings.use_labels and myocardium_labels:
        axis = lv_axis_from_labels(labels, myocardium_labels)
    else:
        axis = localise_lv(cine)
    log.info(
        "subject %s: LV axis (%s) through %s mm",
        subject,
        axis.method,
        np.round(axis.point_mm, 1).tolist(),
    )

    cine_planes = cine.planes()
    cine_rows = [
        crop_row(plane, k, axis.centre_in(plane), settings.fov_mm, settings.grid_size)
        for k, plane in enumerate(cine_planes)
    ]
    cine_crop = crop_volume(cine, cine_rows)  # (slice, source time, y, x)
    cine_valid = _coverage(cine, cine_rows, settings.grid_size)
    cine_styx, cine_range = percentile_normalise(
        resample_frames(cine_crop, settings.frames), settings.percentiles, cine_valid[:, None]
    )
    arrays = {"cine_styx": cine_styx, "slice_index": np.arange(cine.n_slices)}
    geometry = {
        "subject": subject,
        "fov_mm": settings.fov_mm,
        "grid_size": settings.grid_size,
        "spacing_mm": settings.fov_mm / settings.grid_size,
        "frames": settings.frames,
        "lv_axis": axis.to_json(),
        "intensity": {"percentiles": list(settings.percentiles), "cine": list(cine_range)},
        "cine": _section(cine, cine_rows),
    }
    on_cine = _CineCrops(cine_planes, cine_rows, cine_crop.mean(1), axis)
    if t2_path:
        # An optional conditioning channel of the model, paired and cropped like the LGE.
        t2 = SourceVolume.load(t2_path)
        t2_part = _crop_partner(t2, on_cine, settings)
        if not t2_part.paired.all():
            log.warning(
                "subject %s: %d of %d cine slices have no T2 slice within %.1f mm (their T2 is 0)",
                subject,
                (~t2_part.paired).sum(),
                len(t2_part.paired),
                settings.pair_tolerance_mm,
            )
        arrays |= {"t2_syx": t2_part.syx, "t2_paired": t2_part.paired}
        geometry["intensity"]["t2"] = list(t2_part.value_range)
        geometry["t2"] = _section(t2, t2_part.rows)
    pairs_rows = []
    if lge is None:
        if labels is not None:  # e.g. contours drawn on the cine: labels on the cine grid
            if labels.shape_xys != cine.shape_xys:
                raise ValueError(
                    f"subject {subject}: labels {labels_path} {labels.shape_xys} without LGE must"
                    f" be on the cine grid {cine_path} {cine.shape_xys}"
                )
            labels.affine = cine.affine
            arrays["labels_syx"] = crop_volume(labels, cine_rows, labels=True)[:, 0]
        for k in range(cine.n_slices):
            pairs_rows.append([k, -1, np.nan, 0.0, 0.0, "disabled", np.nan, np.nan, "no_lge"])
        pairs = pd.DataFrame(pairs_rows, columns=PAIRS_COLUMNS)
        return Preprocessed(arrays, geometry, pairs, axis)

    lge_part = _crop_partner(lge, on_cine, settings)
    pairs = pd.DataFrame(lge_part.table, columns=PAIRS_COLUMNS)
    if not lge_part.paired.any():
        raise PairingFailed(
            f"subject {subject}: no cine slice of {cine_path} has an LGE slice of {lge_path}"
            f" within {settings.pair_tolerance_mm:.1f} mm (preprocess.pair_tolerance_mm)"
        )
    lge_rows = lge_part.rows
    arrays |= {
        "lge_syx": lge_part.syx,
        "lge_slice_index": np.array([-1 if r is None else r.source_slice for r in lge_rows]),
        "paired": lge_part.paired,
    }
    geometry["intensity"]["lge"] = list(lge_part.value_range)
    geometry["lge"] = _section(lge, lge_rows)
    if labels is not None:
        # Labels share the LGE grid: the same rows, nearest neighbour.
        labels.affine = lge.affine
        arrays["labels_syx"] = crop_volume(labels, lge_rows, True, settings.grid_size)[:, 0]
    return Preprocessed(arrays, geometry, pairs, axis)


@dataclass
class _CineCrops:
    """What a single-phase contrast is paired and registered against: the cine's slice planes,
    crop rows, mean crop over time (slice, y, x) and the LV axis."""

    planes: list
    rows: list[CropRow]
    mean_syx: np.ndarray
    axis: LVAxis


@dataclass
class _Partner:
    """A single-phase contrast (LGE, T2) on the cine slices."""

    rows: list[CropRow | None]  # per cine slice; None = unpaired
    table: list[list]  # one pairs.tsv row per slice
    syx: np.ndarray  # crops normalised over the paired slices; unpaired slices 0
    value_range: tuple[float, float]
    paired: np.ndarray  # bool per cine slice


def _crop_partner(other: SourceVolume, cine: _CineCrops, settings: Settings) -> _Partner:
    """Each cine slice gets the contrast's slice nearest its LV centre (within tolerance),
    cropped with the cine's in-plane axes and, when enabled, shifted by the in-plane
    registration to the mean cine frame; then normalised over the paired slices."""
    planes = other.planes()
    centres = [cine.axis.centre_in(p) for p in cine.planes]
    rows: list[CropRow | None] = [None] * len(cine.planes)
    table = []
    for pair in pair_slices(cine.planes, planes, centres, settings.pair_tolerance_mm):
        registration = Registration(np.zeros(2), float("nan"), "disabled")
        if pair.status == "paired":
            k, m = pair.cine_slice, pair.lge_slice
            axes = (cine.rows[k].u, cine.rows[k].v)
            centre = cine.axis.centre_in(planes[m])
            row = crop_row(planes[m], m, centre, settings.fov_mm, settings.grid_size, axes)
            if settings.register:
                registration = register_translation(
                    resample_slice(other, row),
                    cine.mean_syx[k],
                    row.spacing_mm,
                    settings.register_mask_radius_mm,
                    settings.register_max_shift_mm,
                )
                row = crop_row(
                    planes[m],
                    m,
                    centre,
                    settings.fov_mm,
                    settings.grid_size,
                    axes,
                    shift_mm=registration.shift_mm,
                )
            rows[k] = row
        table.append(
            [
                pair.cine_slice,
                pair.lge_slice,
                pair.distance_mm,
                *registration.shift_mm,
                registration.status,
                registration.metric,
                registration.metric_at_zero,
                pair.status,
            ]
        )
    paired = np.array([row is not None for row in rows])
    syx = crop_volume(other, rows, grid_size=settings.grid_size)[:, 0]
    value_range = (float("nan"), float("nan"))
    if paired.any():
        valid = _coverage(other, rows, settings.grid_size)
        syx, value_range = percentile_normalise(
            syx, settings.percentiles, valid & paired[:, None, None]
        )
        syx[~paired] = 0.0
    return _Partner(rows, table, syx, value_range, paired)


def write_outputs(result: Preprocessed, paired_npz, geometry_json, pairs_tsv) -> None:
    save_npz(paired_npz, **result.arrays)
    with atomic_path(geometry_json) as tmp:
        tmp.write_text(json.dumps(result.geometry, indent=1))
    with atomic_path(pairs_tsv) as tmp:
        result.pairs.to_csv(tmp, sep="\t", index=False, float_format="%.3f")


def load_geometry(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def run_subject(
    subject: str,
    cine: str,
    outputs: dict,
    config_section: dict,
    lge: str | None = None,
    labels: str | None = None,
    myocardium_labels: list[int] | None = None,
    t2: str | None = None,
) -> Preprocessed:
    """Stage entry point: preprocess one subject and write paired.npz, geometry.json,
    pairs.tsv and qc.png (keys of `outputs`)."""
    from cine2lge.preprocess.montage import qc_montage

    settings = Settings.from_config(config_section)
    result = preprocess_subject(subject, cine, settings, lge, labels, myocardium_labels, t2)
    write_outputs(result, outputs["paired"], outputs["geometry"], outputs["pairs"])
    counts = result.pairs["status"].value_counts().to_dict()
    log.info("subject %s: pairs %s", subject, counts)
    qc_montage(
        result.arrays,
        outputs["qc"],
        f"{subject} ({result.axis.method} localisation)",
        myocardium_labels,
    )
    return result
