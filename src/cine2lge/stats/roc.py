"""Discrimination and calibration of the enhancement probability against lesion presence.

AUC CIs: DeLong's variance (fast algorithm of Sun & Xu 2014) treats every case as independent,
which holds at subject level; slices of one subject are not independent, so slice-level AUCs
also get a subject-clustered CI (delete-one-subject jackknife on the logit, cine2lge.stats.
clustered). No AUC CI with fewer than 2 cases in a class; every CI from fewer than 12 subjects is
flagged. Degenerate input (one class only) gives NaN + note. Brier score and reliability bins are
sklearn's (brier_score_loss, calibration_curve).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import roc_curve as _sk_roc_curve
from statsmodels.stats.proportion import proportion_confint

from cine2lge.stats import clustered
from cine2lge.stats.agreement import NAN
from cine2lge.stats.clustered import DEFAULT_METHOD, join_notes, small_n_note

MIN_CASES = 2  # per class, for any AUC CI


def _labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores need equal 1-D shapes, got {y.shape}, {s.shape}")
    keep = np.isfinite(s)
    return y[keep].astype(bool), s[keep]


def _midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    return stats.rankdata(x, method="average")


def delong(labels, scores, ci_level: float = 0.95) -> dict:
    """AUC with DeLong variance (fast midrank algorithm) and a Wald CI clipped to [0, 1]."""
    y, s = _labels_scores(labels, scores)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    out = {"n_pos": m, "n_neg": n, "auc": NAN, "se": NAN, "ci_low": NAN, "ci_high": NAN, "note": ""}
    if m == 0 or n == 0:
        out["note"] = f"single class ({m} positive, {n} negative): AUC undefined"
        return out
    tx, ty, tz = _midrank(pos), _midrank(neg), _midrank(np.concatenate([pos, neg]))
    auc = tz[:m].sum() / (m * n) - (m + 1) / (2 * n)
    v10 = (tz[:m] - tx) / n  # placement of each positive among the negatives
    v01 = 1 - (tz[m:] - ty) / m  # placement of each negative among the positives
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    se = float(np.sqrt(var))
    out.update(auc=float(auc), se=se)
    if m < MIN_CASES or n < MIN_CASES:
        out["note"] = f"{m} positive, {n} negative: fewer than {MIN_CASES} cases in a class, no CI"
        return out
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    out.update(ci_low=float(max(0.0, auc - z * se)), ci_high=float(min(1.0, auc + z * se)))
    return out


def auc_score(labels, scores) -> float:
    """Mann-Whitney AUC (ties count one half); NaN for a single class."""
    y, s = _labels_scores(labels, scores)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        return NAN
    ranks = _midrank(s)
    return float((ranks[y].sum() - m * (m + 1) / 2) / (m * n))


def clustered_auc_ci(
    labels, scores, clusters, n_boot=2000, seed=0, ci_level=0.95, method: str = DEFAULT_METHOD
) -> dict:
    """Subject-clustered CI of the pooled AUC (slices or pixels of a subject together; default
    delete-one-subject jackknife on the logit, t with G-1 df). Rows with a non-finite score or
    label, or without a subject, are dropped; no CI with fewer than 2 cases in a class."""
    inverse, n_clusters, y, s = clustered.finite_clustered(clusters, labels, scores)
    y = y.astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < MIN_CASES or n < MIN_CASES:
        out = clustered._empty(n_clusters, method)
        out.update(
            estimate=auc_score(y, s),
            method_text="",
            note=f"{m} positive, {n} negative: fewer than {MIN_CASES} cases in a class, no CI",
        )
        return out
    statistic = clustered.auc_statistic(y, s, inverse, n_clusters)
    half_pair = 0.5 / (m * n)
    return clustered.clustered_ci(
        n_clusters, statistic, "logit", method, n_boot, seed, ci_level, half_pair
    )


def roc_points(labels, scores):
    """ROC curve as (fpr, tpr, threshold) arrays; empty when only one class is present."""
    y, s = _labels_scores(labels, scores)
    if y.all() or not y.any():
        return np.array([]), np.array([]), np.array([])
    fpr, tpr, thresholds = _sk_roc_curve(y, s)
    return fpr, tpr, thresholds


def youden_threshold(labels, scores) -> float:
    """Score threshold maximising sensitivity + specificity - 1 (in-sample: optimistic)."""
    fpr, tpr, thresholds = roc_points(labels, scores)
    if len(thresholds) == 0:
        return NAN
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def threshold_metrics(labels, scores, threshold: float, ci_level: float = 0.95) -> dict:
    """Sensitivity and specificity of `score >= threshold`, with Wilson CIs."""
    y, s = _labels_scores(labels, scores)
    called = s >= threshold
    tp, fn = int((called & y).sum()), int((~called & y).sum())
    tn, fp = int((~called & ~y).sum()), int((called & ~y).sum())
    out = {"threshold": float(threshold), "tp": tp, "fn": fn, "tn": tn, "fp": fp, "note": ""}
    notes = []
    for name, hits, total in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp)):
        if total == 0:
            out.update({name: NAN, f"{name}_ci_low": NAN, f"{name}_ci_high": NAN})
            notes.append(f"no {'positive' if name == 'sensitivity' else 'negative'} cases")
            continue
        low, high = proportion_confint(hits, total, alpha=1 - ci_level, method="wilson")
        out.update(
            {name: hits / total, f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}
        )
    out["note"] = "; ".join(notes)
    return out


def brier(labels, probabilities) -> float:
    """Brier score (sklearn's brier_score_loss): mean squared difference between probability and
    outcome (0 = perfect); NaN without cases."""
    y, p = _labels_scores(labels, probabilities)
    if not len(y):
        return NAN
    return float(brier_score_loss(y, p, pos_label=True))


def reliability(labels, probabilities, n_bins: int = 10):
    """Reliability diagram data (sklearn's calibration_curve, equal-width bins): per non-empty
    bin, the mean predicted probability, the observed fraction of positives and the count. Bins
    follow sklearn: (low, high], the first [0, high]."""
    import pandas as pd

    columns = ["bin", "bin_low", "bin_high", "mean_predicted", "observed", "n"]
    y, p = _labels_scores(labels, probabilities)
    if not len(y):
        return pd.DataFrame(columns=columns)
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform", pos_label=True)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    used = np.flatnonzero(counts)
    return pd.DataFrame(
        {
            "bin": used,
            "bin_low": edges[used],
            "bin_high": edges[used + 1],
            "mean_predicted": predicted,
            "observed": observed,
            "n": counts[used],
        },
        columns=columns,
    )


# --- cohort tables ------------------------------------------------------------------------------

SUBJECT_SCORES = {"max": "max", "mean": "mean"}


def probability_cases(
    slice_probability,
    lesions,
    split_of: dict,
    truth_source: str = "lge",
    lesion_present_ml: float = 0.0,
    subject_score: str = "max",
):
    """Cases for ROC analysis at slice and subject level: subject, split, level, region_id,
    score, lesion (bool).

    A slice (subject) is lesion-positive when its `total` lesion volume on `truth_source`
    (real-LGE quantification `lge`, or expert labels `truth`) exceeds `lesion_present_ml`. The
    subject score is the `subject_score` (max or mean) of its slice probabilities. Slices are
    matched on `slice` of slice_probability.tsv == `region_id` of the lesion table.
    """
    import pandas as pd

    from cine2lge.stats.agreement import lesion_regions

    if subject_score not in SUBJECT_SCORES:
        raise ValueError(
            f"subject_score must be one of {list(SUBJECT_SCORES)}, got {subject_score!r}"
        )
    table = lesion_regions(lesions)
    table = table[(table["source"] == truth_source) & (table["class"] == "total")]
    probs = slice_probability.rename(columns={"slice": "region_id", "probability": "score"})
    probs["region_id"] = probs["region_id"].astype(int)
    slices = table[table["region"] == "slice"][["subject", "region_id", "volume_ml"]].merge(
        probs[["subject", "region_id", "score"]], on=["subject", "region_id"], how="inner"
    )
    slices["level"] = "slice"
    subject_scores = probs.groupby("subject", as_index=False)["score"].agg(subject_score)
    subjects = table[table["region"] == "subject"][["subject", "volume_ml"]].merge(
        subject_scores, on="subject", how="inner"
    )
    subjects["level"], subjects["region_id"] = "subject", -1
    cases = pd.concat([slices, subjects], ignore_index=True)
    cases["lesion"] = cases["volume_ml"] > lesion_present_ml
    cases["split"] = cases["subject"].map(split_of)
    cases["truth"] = truth_source
    return cases[
        ["subject", "split", "truth", "level", "region_id", "score", "lesion", "volume_ml"]
    ]


def roc_table(
    cases,
    splits=("internal_test", "external_test"),
    threshold: float = 0.5,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    n_bins: int = 10,
):
    """Per truth x split x level: AUC (DeLong and, at slice level, clustered bootstrap), sensitivity
    and specificity at the pre-declared `threshold` and at Youden's threshold, Brier score.
    Returns (summary rows, ROC curve points, reliability bins)."""
    import pandas as pd

    rows, curves, bins = [], [], []
    for (truth, level), by_level in cases.groupby(["truth", "level"], sort=False):
        for split in splits:
            part = by_level[by_level["split"] == split]
            y, s = part["lesion"].to_numpy(bool), part["score"].to_numpy(float)
            base = {
                "truth": truth,
                "split": split,
                "level": level,
                "n_subjects": part["subject"].nunique(),
                "n": len(part),
                "n_lesion": int(y.sum()),
            }

            def row(statistic, estimate, low=NAN, high=NAN, method="", note="", base=base):
                has_ci = bool(np.isfinite(low) and np.isfinite(high))
                n_subjects = base["n_subjects"]
                return {
                    **base,
                    "statistic": statistic,
                    "estimate": estimate,
                    "ci_low": low,
                    "ci_high": high,
                    "method": method,
                    "small_n": has_ci and n_subjects < clustered.SMALL_N_SUBJECTS,
                    "note": join_notes(note, small_n_note(n_subjects) if has_ci else ""),
                }

            auc = delong(y, s, ci_level)
            rows.append(
                row("auc", auc["auc"], auc["ci_low"], auc["ci_high"], "DeLong", auc["note"])
            )
            if level == "slice":
                boot = clustered_auc_ci(y, s, part["subject"].to_numpy(), n_boot, seed, ci_level)
                rows.append(
                    row(
                        "auc_clustered",
                        auc["auc"],
                        boot["ci_low"],
                        boot["ci_high"],
                        boot["method_text"],
                        join_notes(auc["note"], boot["note"]),
                    )
                )
            youden = youden_threshold(y, s)
            for label, cut in (("declared", threshold), ("youden", youden)):
                if not np.isfinite(cut):
                    rows += [
                        row(f"{m}_{label}", NAN, note="single class: no Youden threshold")
                        for m in ("sensitivity", "specificity", "threshold")
                    ]
                    continue
                tm = threshold_metrics(y, s, cut, ci_level)
                rows += [
                    row(
                        f"{m}_{label}",
                        tm[m],
                        tm[f"{m}_ci_low"],
                        tm[f"{m}_ci_high"],
                        "Wilson",
                        tm["note"],
                    )
                    for m in ("sensitivity", "specificity")
                ]
                rows.append(
                    row(
                        f"threshold_{label}",
                        cut,
                        method="in-sample (optimistic)"
                        if label == "youden"
                        else "pre-declared (config)",
                    )
                )
            rows.append(
                row(
                    "brier",
                    brier(y, s),
                    method="sklearn brier_score_loss",
                    note="" if len(y) else "no cases",
                )
            )
            fpr, tpr, thr = roc_points(y, s)
            curves.append(pd.DataFrame({**base, "fpr": fpr, "tpr": tpr, "threshold": thr}))
            rel = reliability(y, s, n_bins)
            bins.append(rel.rename(columns={"n": "n_bin"}).assign(**base))
    columns = ["truth", "split", "level", "n_subjects", "n", "n_lesion"]
    summary_columns = columns + [
        "statistic",
        "estimate",
        "ci_low",
        "ci_high",
        "method",
        "small_n",
        "note",
    ]
    curve_columns = columns + ["fpr", "tpr", "threshold"]
    bin_columns = columns + ["bin", "bin_low", "bin_high", "mean_predicted", "observed", "n_bin"]
    curves_df = (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=curve_columns)
    )
    bins_df = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame(columns=bin_columns)
    return (
        pd.DataFrame(rows, columns=summary_columns),
        curves_df[curve_columns],
        bins_df.reindex(columns=bin_columns),
    )
