"""Coverage simulations of the slice-level CIs (bench/ci_coverage.py, tests/stats/test_coverage.py).

Slices are clustered in subjects the way lesion burdens and enhancement probabilities are: a
subject effect shared by all its slices. The population values are known in closed form:

- r: x = a_i + e_ij, y = b_i + f_ij, var(a) = var(e) = var(b) = var(f) = 1/2 (an intra-subject
  correlation of 0.5), corr(a, b) = `rho_between`, corr(e, f) = `rho_within`; the slice-level
  (marginal) Pearson correlation is (rho_between + rho_within) / 2.
- AUC: a subject has lesions with probability `p_subject`, then each of its slices is positive with
  probability `p_slice`; score = beta * lesion + c_i + e_ij, var(c) + var(e) = 1, so the AUC of two
  slices of different subjects is Phi(beta / sqrt(2)).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from cine2lge.stats import clustered

SLICES = (6, 10)  # slices per subject, uniform (the demo has 8-9, MyoPS 2-5, clinical 8-14)
R_DESIGN = {"rho_between": 0.9, "rho_within": 0.6}  # r = 0.75, near the paper's 0.73 / 0.83
AUC_DESIGN = {"beta": 1.5, "subject_sd": 0.5, "p_subject": 0.6, "p_slice": 0.5}


def true_r(rho_between=R_DESIGN["rho_between"], rho_within=R_DESIGN["rho_within"]) -> float:
    return (rho_between + rho_within) / 2


def true_auc(beta=AUC_DESIGN["beta"]) -> float:
    return float(stats.norm.cdf(beta / np.sqrt(2)))


def _slices(n_subjects, rng):
    counts = rng.integers(SLICES[0], SLICES[1] + 1, n_subjects)
    return np.repeat(np.arange(n_subjects), counts), counts


def simulate_r(n_subjects: int, rng, rho_between=None, rho_within=None):
    """(x, y, clusters) of one simulated study."""
    rb = R_DESIGN["rho_between"] if rho_between is None else rho_between
    rw = R_DESIGN["rho_within"] if rho_within is None else rho_within
    clusters, counts = _slices(n_subjects, rng)
    half = np.sqrt(0.5)
    subject = rng.multivariate_normal([0, 0], [[1, rb], [rb, 1]], n_subjects) * half
    noise = rng.multivariate_normal([0, 0], [[1, rw], [rw, 1]], counts.sum()) * half
    xy = subject[clusters] + noise
    return xy[:, 0], xy[:, 1], clusters


def simulate_auc(n_subjects: int, rng, beta=None):
    """(labels, scores, clusters) of one simulated study (both classes present)."""
    beta = AUC_DESIGN["beta"] if beta is None else beta
    sd = AUC_DESIGN["subject_sd"]
    while True:
        clusters, counts = _slices(n_subjects, rng)
        lesioned = rng.random(n_subjects) < AUC_DESIGN["p_subject"]
        labels = lesioned[clusters] & (rng.random(counts.sum()) < AUC_DESIGN["p_slice"])
        if 0 < labels.sum() < len(labels):
            break
    scores = (
        beta * labels
        + rng.normal(0, sd, n_subjects)[clusters]
        + rng.normal(0, np.sqrt(1 - sd**2), len(labels))
    )
    return labels, scores, clusters


def naive_r_ci(x, y, ci_level=0.95):
    """Fisher-z CI treating slices as independent."""
    r = float(np.corrcoef(x, y)[0, 1])
    half = stats.norm.ppf(0.5 + ci_level / 2) / np.sqrt(len(x) - 3)
    return np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)


def naive_auc_ci(labels, scores, ci_level=0.95):
    from cine2lge.stats.roc import delong

    result = delong(labels, scores, ci_level)
    return result["ci_low"], result["ci_high"]


def coverage_table(
    n_subjects=(4, 8, 12, 25),
    statistics=("r", "auc"),
    methods=("naive", "percentile", "bca", "bca_t", "jackknife"),
    n_rep: int = 1000,
    n_boot: int = 1000,
    seed: int = 2026,
    ci_level: float = 0.95,
):
    """Coverage and median width per statistic x method x n subjects (`naive`: slices as
    independent, Fisher z for r, DeLong for the AUC; the others: cine2lge.stats.clustered). One
    bootstrap per simulated study serves all bootstrap methods (they differ only in the
    interval). Coverage counts the studies where the method gave a CI (`n_defined`)."""
    import pandas as pd

    rows = []
    for statistic in statistics:
        truth = true_r() if statistic == "r" else true_auc()
        for n in n_subjects:
            rng = np.random.default_rng([seed, n, statistic == "auc"])
            hits = {m: [] for m in methods}
            widths = {m: [] for m in methods}
            for rep in range(n_rep):
                if statistic == "r":
                    x, y, clusters = simulate_r(n, rng)
                    stat = clustered.pearson_statistic(x, y, clusters, n)
                    naive = naive_r_ci(x, y, ci_level)
                    transform, margin = "fisher_z", 1e-6
                else:
                    labels, scores, clusters = simulate_auc(n, rng)
                    stat = clustered.auc_statistic(labels, scores, clusters, n)
                    naive = naive_auc_ci(labels, scores, ci_level)
                    transform, margin = "logit", 0.5 / (labels.sum() * (~labels).sum())
                estimate = float(stat(np.ones((1, n)))[0])
                boot = stat(clustered.cluster_counts(n, n_boot, rep).astype(float))
                boot = boot[np.isfinite(boot)]
                jack = stat(1.0 - np.eye(n))
                for method in methods:
                    if method == "naive":
                        low, high = naive
                    elif method == "jackknife":
                        ci = clustered.jackknife_ci(n, stat, transform, ci_level, margin)
                        low, high = ci["ci_low"], ci["ci_high"]
                    else:
                        low, high, _ = clustered.interval(boot, estimate, jack, ci_level, method, n)
                    if np.isfinite(low) and np.isfinite(high):
                        hits[method].append(low <= truth <= high)
                        widths[method].append(high - low)
            for method in methods:
                rows.append(
                    {
                        "statistic": statistic,
                        "method": method,
                        "n_subjects": n,
                        "coverage": float(np.mean(hits[method])) if hits[method] else np.nan,
                        "median_width": float(np.median(widths[method]))
                        if widths[method]
                        else np.nan,
                        "n_defined": len(hits[method]),
                        "n_rep": n_rep,
                    }
                )
    return pd.DataFrame(rows)


BA_DESIGN = {"bias": 0.5, "sd_between": 1.0, "sd_within": 1.0}


def true_loa(design=None) -> tuple[float, float]:
    d = design or BA_DESIGN
    sd = np.hypot(d["sd_between"], d["sd_within"])
    return d["bias"] - 1.96 * sd, d["bias"] + 1.96 * sd


def simulate_differences(n_subjects: int, rng, design=None):
    """(reference, test, clusters): test - reference = bias + subject effect + slice noise."""
    d = design or BA_DESIGN
    clusters, counts = _slices(n_subjects, rng)
    reference = rng.uniform(0, 10, counts.sum())
    diff = (
        d["bias"]
        + rng.normal(0, d["sd_between"], n_subjects)[clusters]
        + rng.normal(0, d["sd_within"], counts.sum())
    )
    return reference, reference + diff, clusters


def loa_coverage_table(n_subjects=(4, 8, 12, 25), n_rep: int = 1000, seed: int = 2026):
    """Coverage of the 95 % CIs of the upper and lower limits of agreement: Bland-Altman 1986
    with slices as independent against the repeated-measures limits (2007, Zou 2013)."""
    import pandas as pd

    from cine2lge.stats.agreement import bland_altman, bland_altman_repeated

    low_true, high_true = true_loa()
    rows = []
    for n in n_subjects:
        rng = np.random.default_rng([seed, n, 2])
        hits = {"naive": [], "repeated": []}
        for _ in range(n_rep):
            reference, test, clusters = simulate_differences(n, rng)
            for method, result in (
                ("naive", bland_altman(reference, test)),
                ("repeated", bland_altman_repeated(reference, test, clusters)),
            ):
                hits[method].append(
                    (
                        result["loa_low_ci_low"] <= low_true <= result["loa_low_ci_high"],
                        result["loa_high_ci_low"] <= high_true <= result["loa_high_ci_high"],
                    )
                )
        for method, values in hits.items():
            values = np.array(values)
            rows.append(
                {
                    "statistic": "limits of agreement",
                    "method": method,
                    "n_subjects": n,
                    "coverage_low": float(values[:, 0].mean()),
                    "coverage_high": float(values[:, 1].mean()),
                    "n_rep": n_rep,
                }
            )
    return pd.DataFrame(rows)
