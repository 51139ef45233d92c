"""Report-stage entry points: read the upstream files, call the statistics, write tables/figures.

One function per rule; each takes paths and plain settings so the rule scripts stay glue only.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from cine2lge.report import figures, panels, tables
from cine2lge.stats import agreement, cohort, readers, roc, similarity

log = logging.getLogger("cine2lge.report")


def read_lesions(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", dtype={"region_id": str, "subject": str})
    missing = {"subject", "source", "class", "region"} - set(table.columns)
    if missing:
        raise ValueError(f"lesion table {path}: missing column(s) {sorted(missing)}")
    return table


def agreement_stage(lesions_path, out_path, split_of, settings) -> pd.DataFrame:
    lesions = read_lesions(lesions_path)
    table = agreement.agreement_table(
        lesions,
        split_of,
        settings["splits"],
        settings["classes"],
        settings["burden_measure"],
        settings["n_bootstrap"],
        settings["seed"],
        settings["ci_level"],
    )
    tables.write_tsv(table, out_path)
    log.info("agreement: %d rows for %d subjects", len(table), lesions["subject"].nunique())
    return table


def read_slice_probabilities(paths) -> pd.DataFrame:
    frames = []
    for path in paths:
        frame = pd.read_csv(path, sep="\t", dtype={"subject": str})
        missing = {"subject", "slice", "probability"} - set(frame.columns)
        if missing:
            raise ValueError(f"slice probability table {path}: missing column(s) {sorted(missing)}")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["subject", "slice", "probability"])
    return pd.concat(frames, ignore_index=True)


def slices_to_positions(probabilities: pd.DataFrame, paired_paths: dict) -> pd.DataFrame:
    """Replace `slice` (the source cine slice index the model writes) by the position in the
    paired `_syx` arrays, which is what the quantify stage's slice `region_id` counts."""
    frames = []
    for subject, part in probabilities.groupby("subject", sort=False):
        if subject not in paired_paths:
            raise ValueError(f"{subject}: slice probabilities given but no paired.npz")
        with np.load(paired_paths[subject]) as paired:
            n = len(paired["lge_syx"] if "lge_syx" in paired else paired["cine_styx"])
            slice_index = paired["slice_index"] if "slice_index" in paired else np.arange(n)
        position = {int(value): k for k, value in enumerate(slice_index)}
        unknown = sorted(set(part["slice"].astype(int)) - set(position))
        if unknown:
            raise ValueError(
                f"{subject}: slice_probability.tsv slices {unknown[:5]} are not in "
                f"the slice_index of {paired_paths[subject]}"
            )
        frames.append(part.assign(slice=part["slice"].astype(int).map(position)))
    return pd.concat(frames, ignore_index=True) if frames else probabilities


def roc_stage(
    lesions_path, probability_paths, out, split_of, settings, paired_paths: dict | None = None
) -> None:
    """out: dict with roc, roc_curve, calibration paths. With `paired_paths` ({subject:
    paired.npz}), slice numbers are mapped from source cine indices to array positions."""
    lesions = read_lesions(lesions_path)
    probabilities = read_slice_probabilities(probability_paths)
    if paired_paths is not None:
        probabilities = slices_to_positions(probabilities, paired_paths)
    available = set(lesions["source"])
    cases = pd.concat(
        [
            roc.probability_cases(
                probabilities,
                lesions,
                split_of,
                truth,
                settings["lesion_present_ml"],
                settings["subject_score"],
            )
            for truth in settings["truth_sources"]
            if truth in available
        ]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    if cases.empty:
        cases = pd.DataFrame(
            columns=[
                "subject",
                "split",
                "truth",
                "level",
                "region_id",
                "score",
                "lesion",
                "volume_ml",
            ]
        )
    summary, curves, bins = roc.roc_table(
        cases,
        settings["splits"],
        settings["probability_threshold"],
        settings["n_bootstrap"],
        settings["seed"],
        settings["ci_level"],
        settings["calibration_bins"],
    )
    tables.write_tsv(summary, out["roc"])
    tables.write_tsv(curves, out["roc_curve"])
    tables.write_tsv(bins, out["calibration"])


def similarity_chunk_stage(
    subjects, paired_paths, prediction_paths, out_path, myocardium_labels, data_range
) -> None:
    """Per-slice similarity of the subjects of one inference chunk (inputs in subject order;
    myocardium_labels: label values per subject) in one table."""
    columns = ["subject", "slice", "ssim_crop"]
    frames = [
        similarity.similarity_npz(
            subject, paired, prediction, myocardium_labels[subject], data_range
        )
        for subject, paired, prediction in zip(
            subjects, paired_paths, prediction_paths, strict=True
        )
    ]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    tables.write_tsv(table, out_path)


def similarity_stage(chunk_paths, out, split_of) -> None:
    """out: dict with similarity (summary) and similarity_slices paths."""
    frames = [pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in chunk_paths]
    per_slice = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["subject", "slice", "ssim_crop"])
    )
    tables.write_tsv(per_slice, out["similarity_slices"])
    tables.write_tsv(similarity.summarise_similarity(per_slice, split_of), out["similarity"])


def cohort_stage(rows, sidecar_paths, paired_paths, out_path, split_order) -> None:
    records = cohort.read_records(rows, sidecar_paths, paired_paths)
    tables.write_tsv(cohort.table1(records, split_order), out_path)


def summary_stage(
    agreement_path, roc_path, similarity_path, out_path, splits, subject_counts=None
) -> None:
    """`subject_counts`: {split: (analysed, excluded)} (cine2lge.exclusion.split_counts)."""
    summary = tables.summary_table(
        pd.read_csv(agreement_path, sep="\t"),
        pd.read_csv(roc_path, sep="\t"),
        pd.read_csv(similarity_path, sep="\t"),
        splits,
        subject_counts=subject_counts,
    )
    tables.write_tsv(summary, out_path)


def index_stage(paths, out_path) -> None:
    tables.write_tsv(tables.table_index(paths), out_path)


def figures_stage(
    lesions_path, roc_path, roc_curve_path, calibration_path, out, split_of, settings
) -> None:
    """out: dict of figure paths (scatter_subject, scatter_slice, bland_altman_subject,
    bland_altman_slice, roc, calibration, bullseye)."""
    lesions = read_lesions(lesions_path)
    measure, splits, classes = settings["burden_measure"], settings["splits"], settings["classes"]
    for level in agreement.LEVELS:
        wide = agreement.paired_burden(lesions, measure, level)
        wide["split"] = wide["subject"].map(split_of)
        figures.scatter_regression(wide, out[f"scatter_{level}"], measure, level, splits, classes)
        figures.bland_altman_plot(
            wide, out[f"bland_altman_{level}"], measure, level, splits, classes
        )
    summary = pd.read_csv(roc_path, sep="\t")
    figures.roc_plot(pd.read_csv(roc_curve_path, sep="\t"), summary, out["roc"])
    figures.calibration_plot(pd.read_csv(calibration_path, sep="\t"), summary, out["calibration"])
    regions = agreement.lesion_regions(lesions)
    segments = regions[(regions["region"] == "segment") & (regions["class"] == "total")]
    segments = segments.assign(split=segments["subject"].map(split_of), value=segments[measure])[
        ["split", "source", "region_id", "value"]
    ]
    figures.bullseye_plot(segments, out["bullseye"], measure, splits)


def panels_stage(
    split,
    similarity_slices_path,
    paired_paths,
    prediction_paths,
    out_path,
    lesions_path=None,
    enhancement_labels: dict | None = None,
    n_enhanced: int = 3,
) -> None:
    """Panels of the slices with the most true enhancement and one without (cine2lge.report.
    panels). True enhancement: `lesions_path` (results/tables/lesions.tsv: expert labels where
    present, else the real-LGE quantification) or `enhancement_labels` ({subject: label values}
    in paired.npz's labels); with neither, slices are picked by the predicted slice probability
    and the title says so. SSIM (similarity_slices) is only annotated."""
    lesions = read_lesions(lesions_path) if lesions_path else None
    per_slice = panels.slice_enhancement(paired_paths, lesions, enhancement_labels)
    probabilities = []
    for subject, path in prediction_paths.items():
        with np.load(path) as prediction:
            if "slice_probability_s" in prediction:
                values = prediction["slice_probability_s"]
                probabilities += [(subject, k, float(v)) for k, v in enumerate(values)]
    per_slice = per_slice.merge(
        pd.DataFrame(probabilities, columns=["subject", "slice", "probability"]),
        on=["subject", "slice"],
        how="left",
    )
    if similarity_slices_path:
        similarity_table = pd.read_csv(similarity_slices_path, sep="\t", dtype={"subject": str})
        if {"subject", "slice", "ssim_crop"} <= set(similarity_table.columns):
            per_slice = per_slice.merge(
                similarity_table[["subject", "slice", "ssim_crop"]],
                on=["subject", "slice"],
                how="left",
            )
    title = f"{split}: slices with the most true enhancement and one without"
    if not per_slice["truth"].astype(bool).any():
        # no truth at all: rank by the model's own slice probability, and say so
        per_slice["enhancement"] = (
            per_slice["probability"]
            .fillna(0.0)
            .where(per_slice["probability"].fillna(0.0) >= 0.5, 0.0)
        )
        per_slice["truth"] = "none available: predicted slice probability >= 0.5"
        title = f"{split}: no enhancement truth, slices picked by predicted probability"
    log.info("panels %s: true enhancement from %s", split, set(per_slice["truth"]))
    cases = panels.pick_cases(per_slice, n_enhanced)
    panels.panel_figure(cases, paired_paths, prediction_paths, out_path, title, enhancement_labels)


def reader_package_stage(paired_paths, prediction_paths, package_dir, key_path, settings) -> None:
    cases = []
    for subject in tqdm(paired_paths, desc="reading cases"):
        cases += readers.reading_cases(
            subject,
            paired_paths[subject],
            prediction_paths[subject],
            settings["slices_per_subject"],
        )
    key = readers.build_reading_package(
        cases, package_dir, key_path, settings["items"], settings["seed"], settings["zoom"]
    )
    log.info("reading package: %d images of %d subjects", len(key), len(paired_paths))


def reader_analysis_stage(sheet_paths, key_path, out, settings) -> None:
    """out: dict with reader_comparison, reader_agreement tables and readers figure."""
    key = pd.read_csv(key_path, sep="\t", dtype={"case_code": str, "subject": str})
    comparison, agreement_table = readers.analyse_reader_study(
        list(sheet_paths), key, settings["items"], settings["min_readers"]
    )
    tables.write_tsv(comparison, out["reader_comparison"])
    tables.write_tsv(agreement_table, out["reader_agreement"])
    figures.reader_plot(comparison, out["readers"])
    if not sheet_paths:
        log.info(readers.NO_SHEETS)


def myocardium_labels(label_schemes: dict, scheme: str | None) -> list[int]:
    """Myocardium labels of a sheet row's label scheme (default `demo`)."""
    name = scheme if isinstance(scheme, str) and scheme else "demo"
    if name not in label_schemes:
        raise ValueError(f"label scheme {name!r} not in config label_schemes")
    return [int(v) for v in np.atleast_1d(label_schemes[name]["myocardium"])]
