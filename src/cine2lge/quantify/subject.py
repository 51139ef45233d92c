"""One subject: myocardium, AHA segments, remote reference and lesion burden for every source.

Sources: "lge" (real LGE), "lgelike" (model image), "probability" (enhancement probability >=
threshold), "truth" (label-scheme lesion classes). All are measured inside the same myocardium
and AHA segments (from the subject's labels), so that they can be compared row by row.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cine2lge.io import atomic_path

from . import aha
from .bullseye import plot_bullseye
from .burden import burden_table
from .myocardium import PREDICTED_SCHEME, class_mask, read_predicted_masks, subject_myocardium
from .remote import remote_reference
from .thresholds import lesion_masks, probability_masks, truth_masks

log = logging.getLogger("cine2lge.quantify")
SOURCES = ("lge", "lgelike", "probability", "truth")
ID_COLUMNS = ["subject", "source", "rule", "myocardium_source"]


def rule_name(rule: dict | None) -> str:
    """Short text of a lesion rule: nsd5, fwhm, pmax60."""
    if rule is None:
        return "none"
    method = rule["method"]
    if method == "nsd":
        return f"nsd{rule['n_sd']:g}"
    return "fwhm" if method == "fwhm" else f"pmax{rule['percent']:g}"


def crop_spacing_mm(
    geometry: dict, subject: str = "?"
) -> tuple[tuple[float, float, float], float | None]:
    """((slice, y, x) spacing in mm, anterior screen angle or None) of the LGE crop grid.

    Slice spacing = median distance between consecutive crop planes along their normal (gaps
    included, as Simpson's rule needs); one plane: its thickness.
    """
    section = geometry.get("lge") or geometry.get("cine")
    rows = [row for row in (section or {}).get("rows", []) if row is not None]
    if not rows:
        raise ValueError(f"subject {subject}: geometry.json has no crop rows for the LGE or cine")
    spacing = np.asarray(rows[0]["spacing_mm"], dtype=float)
    direction = np.asarray(rows[0]["direction"], dtype=float)
    normal = direction[:, 2]
    positions = np.array([np.asarray(row["centre_mm"], dtype=float) @ normal for row in rows])
    steps = np.abs(np.diff(positions))
    slice_mm = float(np.median(steps)) if len(steps) and np.median(steps) > 0 else spacing[2]
    return (slice_mm, float(spacing[1]), float(spacing[0])), aha.anterior_angle_deg(direction)


def _segment_settings(settings: dict) -> dict:
    aha_settings = settings.get("aha", {})
    base_first = aha_settings.get("base_first", "auto")
    return {
        "fallback_septum_deg": float(aha_settings.get("fallback_septum_deg", 180.0)),
        "base_first": None if base_first == "auto" else bool(base_first),
        "direction": aha_settings.get("direction", "auto"),
        "contact_px": int(aha_settings.get("rv_contact_px", 2)),
    }


# Settings of the pre-#18 rules (`quantify.legacy_rules: true`): darkest-segment remote, no
# subject-level detection, no MVO, FWHM from zero floored at `detect_n_sd`.
LEGACY_RULES = {
    "fwhm_baseline": "zero",
    "fwhm_min_n_sd": None,
    "detect": {"seed_n_sd": None, "min_seed_percent_lv": 0.0},
    "fill_mvo": False,
}


def rule_settings(settings: dict) -> dict:
    """The quantify settings with the legacy rules applied when `legacy_rules` is true."""
    if not settings.get("legacy_rules", False):
        return settings
    remote = {**settings.get("remote", {}), "estimator": "darkest"}
    return {**settings, **LEGACY_RULES, "remote": remote}


def intensity_masks(
    what: str,
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    model: aha.SegmentModel,
    settings: dict,
    min_component_px: int,
    spacing_yx: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Lesion classes of an LGE or LGE-like image by the threshold rules (`method: rules`):
    remote reference, then the two rules (scale-free: the pixel spacing is not needed)."""
    settings = rule_settings(settings)
    remote_settings = settings.get("remote", {})
    remote = remote_reference(
        image_syx,
        model.segments_syx,
        scope=remote_settings.get("scope", "slice"),
        min_pixels=int(remote_settings.get("min_pixels", 20)),
        segments=remote_settings.get("segments") or None,
        estimator=remote_settings.get("estimator", "darkest"),
        pool_n_sd=float(remote_settings.get("pool_n_sd", 1.0)),
    )
    log.info(
        "%s: remote segment per slice %s, mean %s, SD %s",
        what,
        remote.segment_s.tolist(),
        np.round(remote.mean_s, 3).tolist(),
        np.round(remote.sd_s, 3).tolist(),
    )
    detect = settings.get("detect") or {}
    seed_n_sd = detect.get("seed_n_sd")
    fwhm_min_n_sd = settings.get("fwhm_min_n_sd")
    return lesion_masks(
        image_syx,
        myocardium_syx,
        remote,
        settings["hyperintense"],
        settings.get("intermediate"),
        min_component_px=min_component_px,
        detect_n_sd=float(settings.get("detect_n_sd", 2.0)),
        max_scope=settings.get("max_scope", "slice"),
        fwhm_baseline=settings.get("fwhm_baseline", "zero"),
        fwhm_min_n_sd=None if fwhm_min_n_sd is None else float(fwhm_min_n_sd),
        seed_n_sd=None if seed_n_sd is None else float(seed_n_sd),
        min_seed_percent_lv=float(detect.get("min_seed_percent_lv", 0.0)),
        fill_mvo=bool(settings.get("fill_mvo", False)),
    )


# How the LGE / LGE-like image becomes lesion classes (`quantify.method`). Each entry takes
# (what, image_syx, myocardium_syx, segment model, settings, min_component_px, spacing_yx) and
# returns the {"hyperintense", "intermediate", "total"} masks (and the method is in the schema's
# enum of quantify.method).
def learned_masks(
    what: str,
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    model: aha.SegmentModel,
    settings: dict,
    min_component_px: int,
    spacing_yx: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Lesion classes by the learned scar quantifier (`method: learned`, cine2lge.quantify.
    learned): hyperintense = its scar probability >= `learned.threshold` inside the myocardium,
    components smaller than `min_component_mm2` dropped; it has no intermediate class. An
    image off the weights' crop grid (`spacing_yx`, e.g. native LGE) is resampled onto it."""
    from cine2lge.quantify.learned import learned_scar

    learned = settings.get("learned") or {}
    hyper = learned_scar(
        image_syx,
        myocardium_syx,
        learned["weights"],
        float(learned.get("threshold", 0.5)),
        min_component_px,
        bool(learned.get("flip_tta", True)),
        spacing_yx,
    )
    log.info("%s: learned quantifier, %d scar pixels", what, int(hyper.sum()))
    return {"hyperintense": hyper, "intermediate": np.zeros_like(hyper), "total": hyper.copy()}


INTENSITY_METHODS = {"rules": intensity_masks, "learned": learned_masks}


def lesion_method(settings: dict):
    """The function of `quantify.method` (default "rules")."""
    name = settings.get("method", "rules")
    try:
        return INTENSITY_METHODS[name]
    except KeyError:
        raise ValueError(
            f"quantify.method {name!r} is not available; known: {sorted(INTENSITY_METHODS)}"
        ) from None


def quantify_arrays(
    subject: str,
    spacing_mm: tuple[float, float, float],
    scheme: dict,
    settings: dict,
    *,
    labels_syx: np.ndarray | None,
    lge_syx: np.ndarray | None = None,
    lgelike_syx: np.ndarray | None = None,
    probability_syx: np.ndarray | None = None,
    anterior_deg: float | None = None,
    predicted_syx: np.ndarray | None = None,
) -> tuple[pd.DataFrame, aha.SegmentModel]:
    """Tidy burden table of every available source (see module docstring) and the segments.

    `predicted_syx`: class map of the segmentation stage, used when `labels_syx` is None.
    """
    myocardium_syx, myocardium_source = subject_myocardium(
        subject, labels_syx, scheme, predicted_syx
    )
    if labels_syx is not None:
        rv_syx = class_mask(labels_syx, scheme, "right_ventricle")
    elif predicted_syx is not None:
        rv_syx = class_mask(predicted_syx, PREDICTED_SCHEME, "right_ventricle")
    else:
        rv_syx = None
    model = aha.segment_model(
        myocardium_syx, rv_syx, anterior_deg=anterior_deg, **_segment_settings(settings)
    )
    for name, array in (
        ("lge", lge_syx),
        ("lgelike", lgelike_syx),
        ("probability", probability_syx),
    ):
        if array is not None and array.shape != myocardium_syx.shape:
            raise ValueError(
                f"subject {subject}: {name} has shape {array.shape}, the myocardium mask"
                f" {myocardium_syx.shape}; both must be (slice, y, x) on the same crop grid"
            )
    min_px = max(
        1, int(np.ceil(settings.get("min_component_mm2", 0.0) / (spacing_mm[1] * spacing_mm[2])))
    )
    intensity_rule = (
        f"{rule_name(settings['hyperintense'])}/{rule_name(settings.get('intermediate'))}"
    )
    if settings.get("method", "rules") != "rules":
        intensity_rule = settings["method"]
    masks_of = lesion_method(settings)
    sources: dict[str, tuple[str, dict]] = {}
    for name, image in (("lge", lge_syx), ("lgelike", lgelike_syx)):
        if image is not None:
            masks = masks_of(
                f"subject {subject} {name}",
                image,
                myocardium_syx,
                model,
                settings,
                min_px,
                spacing_yx=(spacing_mm[1], spacing_mm[2]),
            )
            sources[name] = (intensity_rule, masks)
    if probability_syx is not None:
        threshold = float(settings.get("probability_threshold", 0.5))
        masks = probability_masks(probability_syx, myocardium_syx, threshold, min_px)
        sources["probability"] = (f"p>={threshold:g}", masks)
    if labels_syx is not None:
        truth = truth_masks(labels_syx, scheme, myocardium_syx)
        if truth is not None:
            sources["truth"] = ("labels", truth)
    tables = []
    for name, (rule, masks) in sources.items():
        table = burden_table(
            masks,
            myocardium_syx,
            model.segments_syx,
            model.angle_syx,
            model.radius_syx,
            spacing_mm,
            density_g_per_ml=float(settings.get("density_g_per_ml", 1.05)),
            chord_deg=float(settings.get("chord_deg", 5.0)),
        )
        table.insert(0, "myocardium_source", myocardium_source)
        table.insert(0, "rule", rule)
        table.insert(0, "source", name)
        table.insert(0, "subject", subject)
        tables.append(table)
    if not tables:
        raise ValueError(f"subject {subject}: nothing to quantify (no LGE, prediction or truth)")
    return pd.concat(tables, ignore_index=True), model


def bullseye_panels(table: pd.DataFrame, lesion_class: str = "total") -> dict[str, np.ndarray]:
    """Segmental extent (% of each segment's myocardium) per source, segments 1..16."""
    rows = table[(table["region"] == "segment") & (table["class"] == lesion_class)]
    panels = {}
    for source in [s for s in SOURCES if s in set(rows["source"])]:
        part = rows[rows["source"] == source]
        values = np.full(16, np.nan)
        values[part["region_id"].astype(int).to_numpy() - 1] = part["percent_region"].to_numpy()
        panels[source] = values
    return panels


def quantify_subject(
    subject: str,
    paired_path: str | Path,
    geometry_path: str | Path,
    prediction_path: str | Path | None,
    scheme: dict,
    settings: dict,
    table_path: str | Path,
    bullseye_path: str | Path,
    segmentation_path: str | Path | list | None = None,
) -> pd.DataFrame:
    """Stage entry: read the preprocessed (and predicted) arrays, write lesions.tsv and the plot.

    `segmentation_path`: masks.npz of the segmentation stage, for subjects without labels.
    """
    started = time.perf_counter()
    with np.load(paired_path) as paired:
        arrays = {name: paired[name] for name in ("lge_syx", "labels_syx") if name in paired}
    try:
        geometry = json.loads(Path(geometry_path).read_text())
        spacing_mm, anterior_deg = crop_spacing_mm(geometry, subject)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ValueError(
            f"subject {subject}: {geometry_path}: unusable crop geometry ({error})"
        ) from None
    prediction = {}
    if prediction_path:
        with np.load(prediction_path) as predicted:
            prediction = {name: predicted[name] for name in ("lgelike_syx", "enhancement_prob_syx")}
    predicted_syx = None
    if isinstance(segmentation_path, list | tuple):  # Snakemake's empty input is a list
        segmentation_path = segmentation_path[0] if segmentation_path else None
    if segmentation_path and "labels_syx" not in arrays:
        # Usable slices only (segment QC); fails naming the slices when none is usable.
        predicted_syx = read_predicted_masks(subject, segmentation_path)
    direction = settings.get("aha", {}).get("direction", "auto")
    table, model = quantify_arrays(
        subject,
        spacing_mm,
        scheme,
        settings,
        labels_syx=arrays.get("labels_syx"),
        lge_syx=arrays.get("lge_syx"),
        lgelike_syx=prediction.get("lgelike_syx"),
        probability_syx=prediction.get("enhancement_prob_syx"),
        anterior_deg=anterior_deg if direction == "auto" else None,
        predicted_syx=predicted_syx,
    )
    log.info(
        "subject %s: spacing %s mm, septum %s deg (%s), levels %s, direction %+d",
        subject,
        spacing_mm,
        np.round(model.septum_deg, 1).tolist(),
        model.septum_source,
        model.level_s.tolist(),
        model.direction,
    )
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    subject_total = table[(table["region"] == "subject") & (table["class"] == "total")]
    summary = ", ".join(
        f"{s} {p:.1f} %"
        for s, p in zip(subject_total["source"], subject_total["percent_lv"], strict=True)
    )
    with atomic_path(bullseye_path) as tmp:
        plot_bullseye(
            bullseye_panels(table),
            tmp,
            title=f"{subject}: lesion % of LV ({summary})",
            label="lesion, % of segment",
        )
    log.info("subject %s: quantified in %.3f s", subject, time.perf_counter() - started)
    return table


def collect_tables(paths: list[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Concatenate per-subject lesions.tsv files into the cohort table."""
    tables = [pd.read_csv(path, sep="\t", dtype={"region_id": str}) for path in paths]
    cohort = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    with atomic_path(out_path) as tmp:
        cohort.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return cohort
