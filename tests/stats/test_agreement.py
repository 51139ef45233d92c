"""Agreement statistics against references with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cine2lge.stats import agreement

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; their Table 4 gives
# ICC(2,1) = 0.29 and ICC(3,1) = 0.71, and the ANOVA of Table 3 (BMS 11.24, JMS 32.49, EMS 1.02).
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def correlated(n, rho, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    return xy[:, 0], xy[:, 1]


def test_pearson_matches_scipy_and_fisher_ci():
    x, y = correlated(50, 0.7, seed=1)
    ours = agreement.pearson(x, y)
    ref = stats.pearsonr(x, y)
    ci = ref.confidence_interval(0.95)
    assert ours["r"] == pytest.approx(ref.statistic, abs=1e-12)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_pearson_ci_covers_true_correlation_at_nominal_rate():
    covered = 0
    for seed in range(200):
        x, y = correlated(40, 0.6, seed=seed)
        result = agreement.pearson(x, y)
        covered += result["ci_low"] <= 0.6 <= result["ci_high"]
    assert 0.89 <= covered / 200 <= 0.99


def test_pearson_degenerate_input_is_nan_with_note():
    zeros = agreement.pearson(np.zeros(5), np.arange(5.0))
    assert np.isnan(zeros["r"]) and "constant" in zeros["note"]
    two = agreement.pearson([1.0, 2.0], [1.0, 3.0])
    assert np.isnan(two["r"]) and "n=2" in two["note"]
    three = agreement.pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    assert three["r"] == pytest.approx(0.5) and np.isnan(three["ci_low"])


def test_ols_matches_statsmodels_and_recovers_known_line():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 30, 500)
    y = 2.0 + 0.8 * x + rng.normal(0, 1.0, 500)
    ours = agreement.ols(x, y)
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    assert ours["slope"] == pytest.approx(fit.params[1])
    assert ours["slope_ci_low"] == pytest.approx(fit.conf_int()[1, 0])
    assert ours["r2"] == pytest.approx(fit.rsquared)
    assert ours["slope_ci_low"] < 0.8 < ours["slope_ci_high"]
    assert ours["intercept_ci_low"] < 2.0 < ours["intercept_ci_high"]


def test_ols_constant_reference_is_nan():
    result = agreement.ols(np.zeros(6), np.arange(6.0))
    assert np.isnan(result["slope"]) and "constant" in result["note"]


def test_bland_altman_known_bias_and_limits():
    rng = np.random.default_rng(4)
    ref = rng.uniform(0, 20, 20000)
    test = ref + 1.5 + rng.normal(0, 2.0, ref.size)
    ba = agreement.bland_altman(ref, test)
    assert ba["bias"] == pytest.approx(1.5, abs=0.05)
    assert ba["loa_low"] == pytest.approx(1.5 - 1.96 * 2.0, abs=0.1)
    assert ba["loa_high"] == pytest.approx(1.5 + 1.96 * 2.0, abs=0.1)
    # small sample: CI = bias +/- t * s / sqrt(n), SE(LoA) = s sqrt(3/n)
    d = np.array([1.0, 2.0, 4.0, 3.0, 0.0])
    small = agreement.bland_altman(np.zeros(5), d)
    t = stats.t.ppf(0.975, 4)
    assert small["bias_ci_high"] == pytest.approx(2.0 + t * d.std(ddof=1) / np.sqrt(5))
    assert small["loa_high_ci_high"] - small["loa_high"] == pytest.approx(
        t * d.std(ddof=1) * np.sqrt(3 / 5)
    )


def test_icc_reproduces_shrout_fleiss_1979():
    result = agreement.icc(SHROUT_FLEISS)
    assert result["ms_targets"] == pytest.approx(11.24, abs=0.01)
    assert result["ms_raters"] == pytest.approx(32.49, abs=0.01)
    assert result["ms_error"] == pytest.approx(1.02, abs=0.01)
    assert result["icc2_1"] == pytest.approx(0.29, abs=0.005)
    assert result["icc3_1"] == pytest.approx(0.71, abs=0.005)
    # CIs bracket the estimates; ICC(3,1) CI is the exact F interval (McGraw & Wong case 3).
    assert result["icc2_1_ci_low"] < 0.29 < result["icc2_1_ci_high"]
    assert result["icc3_1_ci_low"] == pytest.approx(0.342, abs=0.005)
    assert result["icc3_1_ci_high"] == pytest.approx(0.946, abs=0.005)


def test_icc2_ci_matches_published_pingouin_values_for_shrout_fleiss():
    # pingouin.intraclass_corr on this data reports ICC2 CI95% [0.02, 0.76].
    result = agreement.icc(SHROUT_FLEISS)
    assert result["icc2_1_ci_low"] == pytest.approx(0.02, abs=0.01)
    assert result["icc2_1_ci_high"] == pytest.approx(0.76, abs=0.01)


def test_icc_degenerate():
    assert "need" in agreement.icc(np.ones((1, 2)))["note"]
    flat = agreement.icc(np.zeros((4, 2)))
    assert np.isnan(flat["icc2_1"]) and "undefined" in flat["note"]


def test_cluster_bootstrap_se_of_mean_matches_cluster_formula():
    # 30 clusters of 10 strongly correlated observations: the cluster-robust SE of the mean is
    # the SE of the 30 cluster means, about 3x the naive SE over 300 rows.
    rng = np.random.default_rng(5)
    cluster_effect = rng.normal(0, 1, 30)
    values = np.repeat(cluster_effect, 10) + rng.normal(0, 0.3, 300)
    clusters = np.repeat(np.arange(30), 10)
    boot = agreement.cluster_bootstrap(clusters, lambda idx: values[idx].mean(), 2000, seed=1)
    cluster_se = values.reshape(30, 10).mean(axis=1).std(ddof=1) / np.sqrt(30)
    assert boot["se"] == pytest.approx(cluster_se, rel=0.12)
    assert boot["se"] > 2 * values.std(ddof=1) / np.sqrt(300)
    again = agreement.cluster_bootstrap(clusters, lambda idx: values[idx].mean(), 2000, seed=1)
    assert again["ci_low"] == boot["ci_low"]  # seeded


def test_cluster_bootstrap_all_undefined_gives_nan():
    boot = agreement.cluster_bootstrap([0, 0, 1], lambda idx: float("nan"), 50, seed=0)
    assert np.isnan(boot["ci_low"]) and "0/50" in boot["note"]


def lesion_table(split_of, n_slices=8, seed=0):
    """Simulated lesions.tsv: LGE-like burden = real burden + noise, per slice and subject."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in split_of:
        for lesion_class in ("hyperintense", "intermediate", "total"):
            real = rng.gamma(1.0, 3.0, n_slices) * (rng.random() > 0.2)
            fake = np.clip(real + rng.normal(0, 1.0, n_slices), 0, None)
            for source, values in (("lge", real), ("lgelike", fake)):
                for s, v in enumerate(values):
                    rows.append((subject, source, lesion_class, "slice", s, v, v * 1.05, v))
                rows.append(
                    (
                        subject,
                        source,
                        lesion_class,
                        "subject",
                        "",
                        values.sum(),
                        values.sum() * 1.05,
                        values.mean(),
                    )
                )
    return pd.DataFrame(
        rows,
        columns=[
            "subject",
            "source",
            "class",
            "region",
            "region_id",
            "volume_ml",
            "mass_g",
            "percent_lv",
        ],
    )


def test_agreement_table_on_simulated_cohort():
    split_of = {f"s{i}": "internal_test" if i < 6 else "external_test" for i in range(12)}
    lesions = lesion_table(split_of)
    table = agreement.agreement_table(lesions, split_of, measure="volume_ml", n_boot=200)
    # 2 levels x 2 splits x 2 classes; 9 statistics each, +3 clustered and 3 repeated-measures
    # Bland-Altman ones at slice level
    assert len(table) == 2 * 2 * (9 + 15)
    row = table.query(
        "split == 'internal_test' and `class` == 'hyperintense' and "
        "level == 'slice' and statistic == 'pearson_r'"
    ).iloc[0]
    wide = agreement.paired_burden(lesions, "volume_ml", "slice")
    wide = wide[
        wide["subject"].map(split_of).eq("internal_test") & wide["class"].eq("hyperintense")
    ]
    assert row["n"] == 6 * 8 and row["n_subjects"] == 6
    assert row["estimate"] == pytest.approx(stats.pearsonr(wide["reference"], wide["test"])[0])
    clustered = table.query(
        "split == 'internal_test' and `class` == 'hyperintense' and "
        "statistic == 'pearson_r_clustered'"
    ).iloc[0]
    assert clustered["ci_low"] <= clustered["estimate"] <= clustered["ci_high"]
    assert "clustered jackknife" in clustered["method"]
    # 6 subjects per split: every CI is flagged, in its own column and in the note
    with_ci = table[np.isfinite(table["ci_low"])]
    assert with_ci["small_n"].all() and with_ci["note"].str.contains("small n").all()
    assert not table.loc[~np.isfinite(table["ci_low"]), "small_n"].any()


def test_agreement_table_with_lesion_free_cohort_gives_nan_not_error():
    split_of = {f"s{i}": "internal_test" for i in range(4)}
    lesions = lesion_table(split_of)
    lesions[["volume_ml", "mass_g", "percent_lv"]] = 0.0
    table = agreement.agreement_table(lesions, split_of, n_boot=50)
    r = table.query("statistic == 'pearson_r' and split == 'internal_test'")
    assert r["estimate"].isna().all() and r["note"].str.contains("constant").all()
    # external_test absent: n = 0 and NaN, still a row so the summary shows the gap
    assert (table.query("split == 'external_test'")["n"] == 0).all()


def test_region_written_as_slice_n_is_understood():
    lesions = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "source": ["lge", "lgelike"],
            "class": ["total"] * 2,
            "region": ["slice 3", "slice 3"],
            "volume_ml": [1.0, 2.0],
        }
    )
    wide = agreement.paired_burden(lesions, "volume_ml", "slice")
    assert wide[["region_id", "reference", "test"]].values.tolist() == [[3, 1.0, 2.0]]


def test_cluster_robust_slope_is_wider_than_naive_for_clustered_slices():
    # subject-level shared errors make slices of a subject move together
    rng = np.random.default_rng(6)
    clusters = np.repeat(np.arange(12), 10)
    x = rng.uniform(0, 10, 120) + np.repeat(rng.normal(0, 3, 12), 10)
    y = 0.9 * x + np.repeat(rng.normal(0, 2, 12), 10) + rng.normal(0, 0.3, 120)
    robust = agreement.clustered_ols_slope(x, y, clusters)
    naive = agreement.ols(x, y)
    fit = sm.OLS(y, sm.add_constant(x)).fit(
        cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True
    )
    assert robust["slope"] == pytest.approx(naive["slope"])
    assert robust["ci_low"] == pytest.approx(fit.conf_int()[1, 0])
    assert robust["ci_high"] - robust["ci_low"] > naive["slope_ci_high"] - naive["slope_ci_low"]
    assert "< 3" in agreement.clustered_ols_slope(x[:20], y[:20], clusters[:20])["note"]
