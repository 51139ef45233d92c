"""Agreement of two measurements of the same quantity (LGE-like vs real LGE lesion burden).

Every function takes paired 1-D arrays and returns a flat dict of floats plus a `note`; small or
degenerate samples (n too small, constant input) give NaN with the reason in `note` instead of an
exception, because the demo cohort has only a handful of test subjects and many lesion-free ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import statsmodels.api as sm
from scipy import stats

from cine2lge.stats import clustered
from cine2lge.stats.clustered import DEFAULT_METHOD, join_notes, small_n_note

NAN = float("nan")


def _paired(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired measurements need equal 1-D shapes, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _z(ci_level: float) -> float:
    return float(stats.norm.ppf(0.5 + ci_level / 2))


def pearson(x, y, ci_level: float = 0.95) -> dict:
    """Pearson r, its CI by Fisher's z transform (needs n >= 4) and the two-sided p-value."""
    x, y = _paired(x, y)
    n = len(x)
    out = {"n": n, "r": NAN, "ci_low": NAN, "ci_high": NAN, "p": NAN, "note": ""}
    if n < 3:
        out["note"] = f"n={n} < 3 pairs"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "constant input (e.g. no lesion in any case): r undefined"
        return out
    r, p = stats.pearsonr(x, y)
    out.update(r=float(r), p=float(p))
    if n < 4:
        out["note"] = "n=3: no Fisher-z CI"
        return out
    z, half = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15)), _z(ci_level) / np.sqrt(n - 3)
    out.update(ci_low=float(np.tanh(z - half)), ci_high=float(np.tanh(z + half)))
    return out


def ols(reference, test, ci_level: float = 0.95) -> dict:
    """OLS of `test` on `reference` (statsmodels): slope, intercept with t-based CIs, R²."""
    x, y = _paired(reference, test)
    n = len(x)
    keys = [
        "slope",
        "slope_ci_low",
        "slope_ci_high",
        "intercept",
        "intercept_ci_low",
        "intercept_ci_high",
        "r2",
        "p_slope",
    ]
    out = {"n": n, **dict.fromkeys(keys, NAN), "note": ""}
    if n < 3:
        out["note"] = f"n={n} < 3 pairs"
        return out
    if np.ptp(x) == 0:
        out["note"] = "constant reference: slope undefined"
        return out
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    ci = fit.conf_int(alpha=1 - ci_level)
    out.update(
        intercept=float(fit.params[0]),
        intercept_ci_low=float(ci[0, 0]),
        intercept_ci_high=float(ci[0, 1]),
        slope=float(fit.params[1]),
        slope_ci_low=float(ci[1, 0]),
        slope_ci_high=float(ci[1, 1]),
        r2=float(fit.rsquared),
        p_slope=float(fit.pvalues[1]),
    )
    return out


def clustered_ols_slope(reference, test, clusters, ci_level: float = 0.95) -> dict:
    """OLS slope of test on reference with cluster-robust (subject) standard errors: the point
    estimate of `ols`, a CI that allows correlated slices within a subject (t, G-1 df)."""
    groups, n_groups, x, y = clustered.finite_clustered(clusters, reference, test)
    out = {
        "slope": NAN,
        "ci_low": NAN,
        "ci_high": NAN,
        "p": NAN,
        "n_clusters": n_groups,
        "note": "",
    }
    if n_groups < 3 or np.ptp(x) == 0:
        out["note"] = (
            f"{n_groups} subjects < 3" if n_groups < 3 else "constant reference: slope undefined"
        )
        return out
    fit = sm.OLS(y, sm.add_constant(x)).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )
    ci = fit.conf_int(alpha=1 - ci_level)
    out.update(
        slope=float(fit.params[1]),
        ci_low=float(ci[1, 0]),
        ci_high=float(ci[1, 1]),
        p=float(fit.pvalues[1]),
    )
    return out


def bland_altman(reference, test, ci_level: float = 0.95) -> dict:
    """Bias (mean of test - reference) and 95 % limits of agreement, each with a CI.

    CIs follow Bland & Altman (1986): SE(bias) = s/sqrt(n), SE(limit) ~= s*sqrt(3/n), t with
    n-1 df. The limits themselves are always bias +/- 1.96 s (they describe 95 % of differences).
    """
    x, y = _paired(reference, test)
    n = len(x)
    keys = [
        "bias",
        "bias_ci_low",
        "bias_ci_high",
        "sd_diff",
        "loa_low",
        "loa_low_ci_low",
        "loa_low_ci_high",
        "loa_high",
        "loa_high_ci_low",
        "loa_high_ci_high",
    ]
    out = {"n": n, **dict.fromkeys(keys, NAN), "note": ""}
    if n < 2:
        out["note"] = f"n={n} < 2 pairs"
        return out
    diff = y - x
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    t = float(stats.t.ppf(0.5 + ci_level / 2, n - 1))
    se_bias, se_loa = sd / np.sqrt(n), sd * np.sqrt(3.0 / n)
    lo, hi = bias - 1.96 * sd, bias + 1.96 * sd
    out.update(
        bias=bias,
        bias_ci_low=bias - t * se_bias,
        bias_ci_high=bias + t * se_bias,
        sd_diff=sd,
        loa_low=lo,
        loa_low_ci_low=lo - t * se_loa,
        loa_low_ci_high=lo + t * se_loa,
        loa_high=hi,
        loa_high_ci_low=hi - t * se_loa,
        loa_high_ci_high=hi + t * se_loa,
    )
    if sd == 0:
        out["note"] = "all differences equal"
    return out


def icc(ratings_nk, ci_level: float = 0.95) -> dict:
    """ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) (two-way mixed, consistency)
    of an (n targets, k raters) matrix, from the two-way ANOVA mean squares (Shrout & Fleiss
    1979), with their F-based CIs (McGraw & Wong 1996). Rows with a missing rating are dropped.
    """
    r = np.asarray(ratings_nk, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"ratings must be (targets, raters), got shape {r.shape}")
    r = r[np.isfinite(r).all(axis=1)]
    n, k = r.shape
    keys = [
        "icc2_1",
        "icc2_1_ci_low",
        "icc2_1_ci_high",
        "icc3_1",
        "icc3_1_ci_low",
        "icc3_1_ci_high",
        "ms_targets",
        "ms_raters",
        "ms_error",
    ]
    out = {"n": n, "k": k, **dict.fromkeys(keys, NAN), "note": ""}
    if n < 2 or k < 2:
        out["note"] = f"need >= 2 targets and >= 2 raters, got {n} x {k}"
        return out
    grand = r.mean()
    ss_targets = k * ((r.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((r.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((r - grand) ** 2).sum() - ss_targets - ss_raters
    msr, msc = ss_targets / (n - 1), ss_raters / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    out.update(ms_targets=msr, ms_raters=msc, ms_error=mse)
    if msr == 0 and mse == 0:
        out["note"] = "no variance between targets or within them: ICC undefined"
        return out
    alpha = 1 - ci_level
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    out.update(icc2_1=float(icc2), icc3_1=float(icc3))
    if mse == 0:
        out["note"] = "raters agree perfectly up to an offset: no CI"
        return out
    # ICC(3,1): exact F interval.
    f_obs, df1, df2 = msr / mse, n - 1, (n - 1) * (k - 1)
    f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
    out.update(
        icc3_1_ci_low=float((f_low - 1) / (f_low + k - 1)),
        icc3_1_ci_high=float((f_high - 1) / (f_high + k - 1)),
    )
    # ICC(2,1): Satterthwaite df for the rater + error mean square.
    a = k * icc2 / (n * (1 - icc2)) if icc2 < 1 else np.inf
    b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2)) if icc2 < 1 else np.inf
    if np.isfinite(a):
        v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df2)
        fl, fu = stats.f.ppf(1 - alpha / 2, n - 1, v), stats.f.ppf(1 - alpha / 2, v, n - 1)
        low = n * (msr - fl * mse) / (fl * (k * msc + (k * n - k - n) * mse) + n * msr)
        high = n * (fu * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu * msr)
        out.update(icc2_1_ci_low=float(low), icc2_1_ci_high=float(high))
    return out


def cluster_bootstrap(
    clusters,
    statistic: Callable[[np.ndarray], float],
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    method: str = "bca",
) -> dict:
    """CI of `statistic(indices)` under resampling whole clusters with replacement.

    `clusters` labels each observation (e.g. the subject of each slice); `statistic` receives the
    row indices of a resample (clusters drawn with replacement, all their rows kept) and returns a
    float (NaN for an undefined resample, which is skipped and counted). `method`: `bca`
    (default), `bca_t` or `percentile` (cine2lge.stats.clustered); the notes carry the small-n
    flag. Statistics with a closed form in cluster sums (r, AUC, mean) have faster and better
    calibrated functions: clustered_pearson_ci, clustered_bias_ci, roc.clustered_auc_ci.
    """
    labels = np.asarray(clusters)
    _, inverse = np.unique(labels, return_inverse=True)
    n_clusters = int(inverse.max()) + 1 if len(inverse) else 0
    weighted = clustered.index_statistic(inverse, statistic) if n_clusters else None
    out = clustered.weighted_bootstrap(n_clusters, weighted, n_boot, seed, ci_level, method)
    if np.isfinite(out["ci_low"]):
        out["note"] = join_notes(out["note"], small_n_note(n_clusters))
    return out


def clustered_pearson_ci(
    x, y, clusters, n_boot=2000, seed=0, ci_level=0.95, method: str = DEFAULT_METHOD
) -> dict:
    """Subject-clustered CI of the pooled (slice-level) Pearson r; non-finite pairs dropped.
    Default: delete-one-subject jackknife on Fisher's z with t(G-1) (cine2lge.stats.clustered)."""
    inverse, n_clusters, x, y = clustered.finite_clustered(clusters, x, y)
    statistic = clustered.pearson_statistic(x, y, inverse, n_clusters)
    return clustered.clustered_ci(n_clusters, statistic, "fisher_z", method, n_boot, seed, ci_level)


def clustered_bias_ci(
    reference, test, clusters, n_boot=2000, seed=0, ci_level=0.95, method: str = DEFAULT_METHOD
) -> dict:
    """Subject-clustered CI of the Bland-Altman bias (mean of test - reference over slices);
    non-finite pairs dropped."""
    inverse, n_clusters, reference, test = clustered.finite_clustered(clusters, reference, test)
    statistic = clustered.mean_statistic(test - reference, inverse, n_clusters)
    return clustered.clustered_ci(n_clusters, statistic, "identity", method, n_boot, seed, ci_level)


def bland_altman_repeated(reference, test, clusters, ci_level: float = 0.95) -> dict:
    """Bland-Altman for several slices per subject whose true value varies (Bland & Altman
    2007, section 5), with the CIs of Zou (2013, Stat Methods Med Res 22:630).

    d = test - reference; bias = mean of the subject means (t CI, G - 1 df); the SD of a single
    difference combines the between-subject and within-subject variance,
    s^2 = s_means^2 + (1 - 1/m_h) s_within^2 (m_h: harmonic mean of slices per subject);
    limits bias +/- 1.96 s, their CIs by MOVER (Zou 2013). Non-finite pairs dropped.
    """
    inverse, g, x, y = clustered.finite_clustered(clusters, reference, test)
    n = len(x)
    keys = [
        "bias",
        "bias_ci_low",
        "bias_ci_high",
        "sd_diff",
        "sd_between",
        "sd_within",
        "loa_low",
        "loa_low_ci_low",
        "loa_low_ci_high",
        "loa_high",
        "loa_high_ci_low",
        "loa_high_ci_high",
    ]
    out = {"n": n, "n_clusters": g, **dict.fromkeys(keys, NAN), "note": ""}
    if g < 3:
        out["note"] = f"{g} subjects < 3"
        return out
    diff = y - x
    m = np.bincount(inverse, minlength=g).astype(float)
    means = np.bincount(inverse, weights=diff, minlength=g) / m
    s2_means = float(means.var(ddof=1))
    df_within = n - g
    s2_within = float(((diff - means[inverse]) ** 2).sum() / df_within) if df_within else 0.0
    m_h = g / float((1 / m).sum())
    share = 1 - 1 / m_h
    a, b = s2_means, share * s2_within
    sd = float(np.sqrt(a + b))
    bias = float(means.mean())
    alpha, z = 1 - ci_level, 1.96
    t = float(stats.t.ppf(1 - alpha / 2, g - 1))
    mu_low, mu_high = bias - t * np.sqrt(a / g), bias + t * np.sqrt(a / g)

    def chi_bounds(value, df):
        if df <= 0 or value == 0:
            return value, value
        return (
            value * df / stats.chi2.ppf(1 - alpha / 2, df),
            value * df / stats.chi2.ppf(alpha / 2, df),
        )

    (a_low, a_high), (b_low, b_high) = chi_bounds(a, g - 1), chi_bounds(b, df_within)
    var_low = a + b - np.hypot(a - a_low, b - b_low)
    var_high = a + b + np.hypot(a_high - a, b_high - b)
    sd_low, sd_high = np.sqrt(max(var_low, 0.0)), np.sqrt(var_high)
    upper, lower = bias + z * sd, bias - z * sd
    out.update(
        bias=bias,
        bias_ci_low=float(mu_low),
        bias_ci_high=float(mu_high),
        sd_diff=sd,
        sd_between=float(np.sqrt(max(a - s2_within / m_h, 0.0))),
        sd_within=float(np.sqrt(s2_within)),
        loa_low=lower,
        loa_low_ci_low=float(lower - np.hypot(bias - mu_low, z * (sd_high - sd))),
        loa_low_ci_high=float(lower + np.hypot(mu_high - bias, z * (sd - sd_low))),
        loa_high=upper,
        loa_high_ci_low=float(upper - np.hypot(bias - mu_low, z * (sd - sd_low))),
        loa_high_ci_high=float(upper + np.hypot(mu_high - bias, z * (sd_high - sd))),
    )
    if sd == 0:
        out["note"] = "all differences equal"
    return out


# --- cohort tables ------------------------------------------------------------------------------

LEVELS = ("subject", "slice")


def lesion_regions(lesions):
    """`lesions.tsv` with `region` reduced to its level (subject | slice | segment) and an integer
    `region_id`; accepts both `region`=`slice` + `region_id`=N and the older `region`=`slice N`."""
    import pandas as pd

    table = lesions.copy()
    parts = table["region"].astype(str).str.split(n=1, expand=True)
    if "region_id" not in table.columns:
        table["region_id"] = parts[1] if parts.shape[1] > 1 else None
    table["region"] = parts[0]
    table["region_id"] = pd.to_numeric(table["region_id"], errors="coerce").fillna(-1).astype(int)
    return table


def paired_burden(lesions, measure: str, level: str, reference="lge", test="lgelike"):
    """Wide table subject, class, region_id, reference, test of `measure` at one region level.

    Only regions measured on both sources are kept (an inner join): a slice without a real LGE
    counterpart cannot be compared.
    """
    if measure not in lesions.columns:
        raise ValueError(f"lesions table has no column {measure!r} (has {list(lesions.columns)})")
    table = lesion_regions(lesions)
    table = table[table["region"] == level]
    keys = ["subject", "class", "region_id"]
    ref = table[table["source"] == reference][keys + [measure]]
    tst = table[table["source"] == test][keys + [measure]]
    ref, tst = ref.rename(columns={measure: "reference"}), tst.rename(columns={measure: "test"})
    return ref.merge(tst, on=keys, how="inner").sort_values(keys, ignore_index=True)


def agreement_table(
    lesions,
    split_of: dict,
    splits=("internal_test", "external_test"),
    classes=("hyperintense", "intermediate"),
    measure: str = "percent_lv",
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
):
    """All agreement statistics, LGE-like (test) vs real LGE (reference), as a tidy table with
    one row per split x class x level x statistic: estimate, ci_low, ci_high, p, method,
    small_n, note.

    Subject level: one value per subject, classical CIs. Slice level: slices are clustered in
    subjects, so r and bias get subject-clustered CIs (delete-one-subject jackknife, method says
    so; `n_boot`/`seed` only matter for a bootstrap method), the OLS slope cluster-robust SEs and
    the limits of agreement the repeated-measures Bland-Altman (`*_rm`); the classical CIs that
    treat slices as independent are kept beside them for comparison. Every CI from fewer than
    12 subjects is flagged (`small_n` True, and in `note`).
    """
    import pandas as pd

    rows = []
    for level in LEVELS:
        wide = paired_burden(lesions, measure, level)
        wide["split"] = wide["subject"].map(split_of)
        for split in splits:
            for lesion_class in classes:
                part = wide[(wide["split"] == split) & (wide["class"] == lesion_class)]
                base = {
                    "split": split,
                    "class": lesion_class,
                    "level": level,
                    "measure": measure,
                    "n_subjects": part["subject"].nunique(),
                    "n": len(part),
                }
                rows += _agreement_rows(part, base, level, n_boot, seed, ci_level)
    return pd.DataFrame(rows)


def _agreement_rows(part, base, level, n_boot, seed, ci_level) -> list[dict]:
    ref, tst = part["reference"].to_numpy(float), part["test"].to_numpy(float)

    naive = "; slices as independent" if level == "slice" else ""

    def row(statistic, estimate, low=NAN, high=NAN, p=NAN, method="", note=""):
        if "clustered" not in statistic and not statistic.endswith("_rm"):
            method += naive
        has_ci = bool(np.isfinite(low) and np.isfinite(high))
        flagged = has_ci and base["n_subjects"] < clustered.SMALL_N_SUBJECTS
        return {
            **base,
            "statistic": statistic,
            "estimate": estimate,
            "ci_low": low,
            "ci_high": high,
            "p": p,
            "method": method,
            "small_n": flagged,
            "note": join_notes(note, small_n_note(base["n_subjects"]) if has_ci else ""),
        }

    r = pearson(ref, tst, ci_level)
    fit = ols(ref, tst, ci_level)
    ba = bland_altman(ref, tst, ci_level)
    icc_values = icc(np.column_stack([ref, tst]), ci_level)
    rows = [
        row("pearson_r", r["r"], r["ci_low"], r["ci_high"], r["p"], "Fisher z", r["note"]),
        row(
            "ols_slope",
            fit["slope"],
            fit["slope_ci_low"],
            fit["slope_ci_high"],
            fit["p_slope"],
            "OLS test ~ reference (t)",
            fit["note"],
        ),
        row(
            "ols_intercept",
            fit["intercept"],
            fit["intercept_ci_low"],
            fit["intercept_ci_high"],
            method="OLS test ~ reference (t)",
            note=fit["note"],
        ),
        row("ols_r2", fit["r2"], method="OLS", note=fit["note"]),
        row(
            "ba_bias",
            ba["bias"],
            ba["bias_ci_low"],
            ba["bias_ci_high"],
            method="Bland-Altman (t)",
            note=ba["note"],
        ),
        row(
            "ba_loa_low",
            ba["loa_low"],
            ba["loa_low_ci_low"],
            ba["loa_low_ci_high"],
            method="Bland-Altman 1986 approx. SE",
            note=ba["note"],
        ),
        row(
            "ba_loa_high",
            ba["loa_high"],
            ba["loa_high_ci_low"],
            ba["loa_high_ci_high"],
            method="Bland-Altman 1986 approx. SE",
            note=ba["note"],
        ),
        row(
            "icc2_1",
            icc_values["icc2_1"],
            icc_values["icc2_1_ci_low"],
            icc_values["icc2_1_ci_high"],
            method="ICC(2,1) absolute agreement",
            note=icc_values["note"],
        ),
        row(
            "icc3_1",
            icc_values["icc3_1"],
            icc_values["icc3_1_ci_low"],
            icc_values["icc3_1_ci_high"],
            method="ICC(3,1) consistency",
            note=icc_values["note"],
        ),
    ]
    if level == "slice":
        clusters = part["subject"].to_numpy()
        boot_r = clustered_pearson_ci(ref, tst, clusters, n_boot, seed, ci_level)
        boot_bias = clustered_bias_ci(ref, tst, clusters, n_boot, seed, ci_level)
        slope = clustered_ols_slope(ref, tst, clusters, ci_level)
        rm = bland_altman_repeated(ref, tst, clusters, ci_level)
        rm_method = "Bland-Altman repeated measures (2007), Zou 2013 CIs"
        rows += [
            row(
                "ols_slope_clustered",
                slope["slope"],
                slope["ci_low"],
                slope["ci_high"],
                slope["p"],
                "OLS with subject-cluster-robust SE (t, G-1 df)",
                slope["note"],
            ),
            row(
                "pearson_r_clustered",
                r["r"],
                boot_r["ci_low"],
                boot_r["ci_high"],
                method=boot_r["method_text"],
                note=join_notes(r["note"], boot_r["note"]),
            ),
            row(
                "ba_bias_clustered",
                ba["bias"],
                boot_bias["ci_low"],
                boot_bias["ci_high"],
                method=boot_bias["method_text"],
                note=join_notes(ba["note"], boot_bias["note"]),
            ),
            row(
                "ba_bias_rm",
                rm["bias"],
                rm["bias_ci_low"],
                rm["bias_ci_high"],
                method=rm_method + " (mean of subject means, t G-1 df)",
                note=rm["note"],
            ),
            *(
                row(
                    f"ba_{limit}_rm",
                    rm[limit],
                    rm[f"{limit}_ci_low"],
                    rm[f"{limit}_ci_high"],
                    method=rm_method + " (MOVER)",
                    note=rm["note"],
                )
                for limit in ("loa_low", "loa_high")
            ),
        ]
    return rows
