"""ROC/AUC, thresholds and calibration against references with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from cine2lge.stats import roc


def binormal(n_pos, n_neg, shift, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)])
    labels = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    return labels, scores


def slow_delong_variance(labels, scores):
    """DeLong (1988) by its definition: structural components from all positive-negative pairs."""
    pos, neg = scores[labels], scores[~labels]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def test_delong_auc_matches_sklearn_and_variance_matches_definition():
    labels, scores = binormal(40, 60, 1.0, seed=2)
    scores = np.round(scores, 1)  # ties
    result = roc.delong(labels, scores)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result["se"] ** 2 == pytest.approx(slow_delong_variance(labels, scores), rel=1e-10)


def test_delong_variance_agrees_with_bootstrap_and_binormal_auc():
    labels, scores = binormal(300, 300, 1.2, seed=3)
    result = roc.delong(labels, scores)
    # binormal with unit variances: AUC = Phi(shift / sqrt 2)
    assert result["auc"] == pytest.approx(stats.norm.cdf(1.2 / np.sqrt(2)), abs=0.03)
    rng = np.random.default_rng(0)
    pos, neg = scores[labels], scores[~labels]
    boots = [
        roc.auc_score(
            np.r_[np.ones(300), np.zeros(300)], np.r_[rng.choice(pos, 300), rng.choice(neg, 300)]
        )
        for _ in range(800)
    ]
    assert result["se"] == pytest.approx(np.std(boots, ddof=1), rel=0.15)


def test_delong_ci_coverage_on_simulated_studies():
    truth = stats.norm.cdf(1.0 / np.sqrt(2))
    covered = sum(
        (r := roc.delong(*binormal(50, 50, 1.0, seed=s)))["ci_low"] <= truth <= r["ci_high"]
        for s in range(200)
    )
    assert 0.89 <= covered / 200 <= 0.99


def test_single_class_is_nan_with_note():
    result = roc.delong(np.ones(5, bool), np.linspace(0, 1, 5))
    assert np.isnan(result["auc"]) and "single class" in result["note"]
    assert np.isnan(roc.youden_threshold(np.zeros(4), np.arange(4.0)))
    metrics = roc.threshold_metrics(np.zeros(4, bool), np.array([0.1, 0.6, 0.2, 0.9]), 0.5)
    assert np.isnan(metrics["sensitivity"]) and metrics["specificity"] == 0.5
    assert "no positive" in metrics["note"]


def test_threshold_metrics_and_youden():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.55, 0.2, 0.1, 0.05])
    m = roc.threshold_metrics(labels, scores, 0.5)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (3, 1, 3, 1)
    assert m["sensitivity"] == 0.75 and m["specificity"] == 0.75
    assert m["sensitivity_ci_low"] < 0.75 < m["sensitivity_ci_high"]
    # best split: >= 0.6 gives sens 3/4, spec 4/4
    assert roc.youden_threshold(labels, scores) == pytest.approx(0.6)


def test_brier_and_reliability_match_sklearn():
    rng = np.random.default_rng(4)
    p = rng.random(2000)
    y = rng.random(2000) < p  # perfectly calibrated
    assert roc.brier(y, p) == pytest.approx(brier_score_loss(y, p))
    bins = roc.reliability(y, p, n_bins=10)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    assert np.allclose(bins["observed"], observed)
    assert np.allclose(bins["mean_predicted"], predicted)
    assert np.allclose(bins["observed"], bins["mean_predicted"], atol=0.08)
    assert bins["n"].sum() == 2000


def clustered_cases(n_subjects, slices, seed=0):
    rng = np.random.default_rng(seed)
    rows_p, rows_l = [], []
    for i in range(n_subjects):
        subject = f"s{i}"
        has_scar = i % 2 == 0
        for s in range(slices):
            lesion = has_scar and s < slices // 2
            prob = float(np.clip(rng.normal(0.7 if lesion else 0.3, 0.2), 0, 1))
            rows_p.append((subject, s, prob))
            rows_l.append((subject, "lge", "total", "slice", s, 2.0 if lesion else 0.0))
        rows_l.append((subject, "lge", "total", "subject", -1, 5.0 if has_scar else 0.0))
    probs = pd.DataFrame(rows_p, columns=["subject", "slice", "probability"])
    lesions = pd.DataFrame(
        rows_l, columns=["subject", "source", "class", "region", "region_id", "volume_ml"]
    )
    return probs, lesions


def test_probability_cases_and_roc_table():
    probs, lesions = clustered_cases(8, 10)
    split_of = {f"s{i}": "internal_test" if i < 4 else "external_test" for i in range(8)}
    cases = roc.probability_cases(probs, lesions, split_of)
    slices = cases[cases["level"] == "slice"]
    subjects = cases[cases["level"] == "subject"].set_index("subject")
    assert len(slices) == 80 and slices["lesion"].sum() == 4 * 5
    assert subjects.loc["s0", "score"] == pytest.approx(
        probs.query("subject == 's0'")["probability"].max()
    )
    summary, curves, bins = roc.roc_table(cases, n_boot=200)
    auc = summary.query("split == 'internal_test' and level == 'slice' and statistic == 'auc'")
    part = slices[slices["split"] == "internal_test"]
    assert auc["estimate"].iloc[0] == pytest.approx(roc_auc_score(part["lesion"], part["score"]))
    clustered = summary.query("split == 'internal_test' and statistic == 'auc_clustered'")
    assert clustered["ci_low"].iloc[0] < clustered["estimate"].iloc[0]
    assert set(curves["level"]) == {"slice", "subject"}
    assert (bins.groupby(["split", "level"])["n_bin"].sum().values > 0).all()


def test_roc_table_single_class_split_does_not_crash():
    probs, lesions = clustered_cases(2, 4)
    lesions["volume_ml"] = 0.0
    cases = roc.probability_cases(probs, lesions, {"s0": "internal_test", "s1": "internal_test"})
    summary, curves, _ = roc.roc_table(cases, n_boot=50)
    auc = summary.query("statistic == 'auc' and split == 'internal_test'")
    assert auc["estimate"].isna().all() and auc["note"].str.contains("single class").all()
    assert (
        summary.query("statistic == 'specificity_declared' and split == 'internal_test'")[
            "estimate"
        ]
        .notna()
        .all()
    )


def test_roc_table_without_cases_has_columns():
    empty = pd.DataFrame(
        columns=["subject", "split", "truth", "level", "region_id", "score", "lesion", "volume_ml"]
    )
    summary, curves, bins = roc.roc_table(empty)
    assert summary.empty and {"statistic", "estimate", "truth"} <= set(summary.columns)
    assert curves.empty and bins.empty
