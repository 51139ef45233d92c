"""Subject-clustered CIs (cine2lge.stats.clustered): the fast cluster-weight statistics against
direct computation, finite-pair filtering, the small-n flag, repeated-measures Bland-Altman, and
coverage simulations with known population values (issue #15)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from cine2lge.stats import agreement, clustered, coverage, roc


def clustered_xy(n_subjects=10, seed=0):
    return coverage.simulate_r(n_subjects, np.random.default_rng(seed))


def test_weighted_pearson_matches_direct_for_full_jackknife_and_bootstrap_rows():
    x, y, c = clustered_xy()
    statistic = clustered.pearson_statistic(x, y, c, 10)
    assert statistic(np.ones((1, 10)))[0] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    for g, value in enumerate(statistic(1.0 - np.eye(10))):
        keep = c != g
        assert value == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1], abs=1e-12)
    counts = clustered.cluster_counts(10, 5, seed=3)
    assert (counts.sum(axis=1) == 10).all()
    for row, value in zip(counts, statistic(counts.astype(float)), strict=True):
        rows = np.concatenate([np.repeat(np.flatnonzero(c == g), k) for g, k in enumerate(row)])
        assert value == pytest.approx(np.corrcoef(x[rows], y[rows])[0, 1], abs=1e-12)


def test_weighted_auc_matches_sklearn_with_ties():
    labels, scores, c = coverage.simulate_auc(9, np.random.default_rng(1))
    scores = np.round(scores, 1)  # ties count one half
    statistic = clustered.auc_statistic(labels, scores, c, 9)
    assert statistic(np.ones((1, 9)))[0] == pytest.approx(roc_auc_score(labels, scores))
    for g, value in enumerate(statistic(1.0 - np.eye(9))):
        keep = c != g
        if 0 < labels[keep].sum() < keep.sum():
            assert value == pytest.approx(roc_auc_score(labels[keep], scores[keep]))
        else:
            assert np.isnan(value)


def test_jackknife_of_mean_is_the_se_of_subject_means():
    rng = np.random.default_rng(2)
    values = np.repeat(rng.normal(0, 1, 15), 6) + rng.normal(0, 0.2, 90)
    c = np.repeat(np.arange(15), 6)
    ci = agreement.clustered_bias_ci(np.zeros(90), values, c)
    means = values.reshape(15, 6).mean(axis=1)
    half = stats.t.ppf(0.975, 14) * means.std(ddof=1) / np.sqrt(15)
    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx(
        (values.mean() - half, values.mean() + half)
    )
    assert ci["note"] == ""  # 15 subjects: no small-n flag


def test_non_finite_pairs_and_missing_subjects_are_dropped_not_fatal():
    x, y, c = clustered_xy()
    c = c.astype(object)
    clean = agreement.clustered_pearson_ci(x, y, c)
    x2, y2 = np.append(x, [np.nan, 1.0, 2.0]), np.append(y, [0.5, np.inf, 3.0])
    c2 = np.append(c, [0, 1, None])
    dirty = agreement.clustered_pearson_ci(x2, y2, c2)
    assert (dirty["ci_low"], dirty["ci_high"]) == pytest.approx((clean["ci_low"], clean["ci_high"]))
    assert np.isfinite(agreement.clustered_bias_ci(x2, y2, c2)["ci_low"])
    assert np.isfinite(agreement.clustered_ols_slope(x2, y2, c2)["slope"])
    assert np.isfinite(agreement.bland_altman_repeated(x2, y2, c2)["loa_high"])
    labels = (y > 0).astype(float)
    auc_clean = roc.clustered_auc_ci(labels, x, c)
    auc_dirty = roc.clustered_auc_ci(np.append(labels, [1, np.nan, 0]), x2, c2)
    assert auc_dirty["ci_low"] == pytest.approx(auc_clean["ci_low"])


def test_small_n_flag_and_no_ci_with_one_case_in_a_class():
    x, y, c = clustered_xy(n_subjects=6)
    assert "small n: CI from 6 subjects" in agreement.clustered_pearson_ci(x, y, c)["note"]
    assert clustered.small_n_note(12) == ""
    one_positive = np.zeros(20, bool)
    one_positive[3] = True
    scores = np.linspace(0, 1, 20)
    result = roc.delong(one_positive, scores)
    assert result["auc"] == pytest.approx(roc_auc_score(one_positive, scores))
    assert np.isnan(result["ci_low"]) and "fewer than 2" in result["note"]
    boot = roc.clustered_auc_ci(one_positive, scores, np.arange(20) // 4)
    assert np.isnan(boot["ci_low"]) and "fewer than 2" in boot["note"]


def test_auc_only_one_subject_with_lesions_gives_no_clustered_ci():
    labels = np.array([1, 1, 0, 0] + [0] * 12, bool)
    scores = np.r_[0.9, 0.8, 0.1, 0.2, np.linspace(0, 0.7, 12)]
    result = roc.clustered_auc_ci(labels, scores, np.arange(16) // 4)
    assert np.isnan(result["ci_low"]) and "only subject with lesions" in result["note"]


def test_bland_altman_repeated_reduces_to_classical_with_one_slice_per_subject():
    rng = np.random.default_rng(4)
    ref, test = rng.normal(0, 1, 30), rng.normal(0.5, 1, 30)
    rm = agreement.bland_altman_repeated(ref, test, np.arange(30))
    ba = agreement.bland_altman(ref, test)
    assert rm["bias"] == pytest.approx(ba["bias"]) and rm["sd_diff"] == pytest.approx(ba["sd_diff"])
    assert (rm["bias_ci_low"], rm["bias_ci_high"]) == pytest.approx(
        (ba["bias_ci_low"], ba["bias_ci_high"])
    )
    assert rm["loa_low_ci_low"] < rm["loa_low"] < rm["loa_low_ci_high"]


def test_bland_altman_repeated_recovers_variance_components():
    design = {"bias": 1.0, "sd_between": 2.0, "sd_within": 1.0}
    ref, test, c = coverage.simulate_differences(3000, np.random.default_rng(5), design)
    rm = agreement.bland_altman_repeated(ref, test, c)
    assert rm["bias"] == pytest.approx(1.0, abs=0.1)
    assert rm["sd_between"] == pytest.approx(2.0, rel=0.05)
    assert rm["sd_within"] == pytest.approx(1.0, rel=0.05)
    assert rm["loa_high"] == pytest.approx(coverage.true_loa(design)[1], rel=0.05)


# --- coverage simulations: deterministic seeds, a few seconds each -----------------------------


@pytest.mark.parametrize("statistic", ["r", "auc"])
def test_jackknife_ci_keeps_nominal_coverage_at_8_subjects(statistic):
    table = coverage.coverage_table(
        (8,), (statistic,), ("percentile", "jackknife"), n_rep=300, n_boot=400, seed=11
    ).set_index("method")
    assert 0.92 <= table.loc["jackknife", "coverage"] <= 0.995
    assert table.loc["jackknife", "n_defined"] >= 290
    # the pre-#15 percentile bootstrap under-covers with so few subjects (issue: 0.75-0.91)
    assert table.loc["percentile", "coverage"] < 0.92


def test_percentile_bootstrap_under_covers_r_from_4_subjects_and_jackknife_does_not():
    table = coverage.coverage_table(
        (4,), ("r",), ("naive", "percentile", "jackknife"), n_rep=300, n_boot=400, seed=12
    ).set_index("method")
    assert table.loc["percentile", "coverage"] < 0.88
    assert table.loc["naive", "coverage"] < 0.88
    assert table.loc["jackknife", "coverage"] >= 0.91


def test_repeated_measures_limits_of_agreement_cover_and_naive_ones_do_not():
    table = coverage.loa_coverage_table((12,), n_rep=300, seed=13).set_index("method")
    for side in ("coverage_low", "coverage_high"):
        assert 0.92 <= table.loc["repeated", side] <= 0.995
        assert table.loc["naive", side] < 0.85
