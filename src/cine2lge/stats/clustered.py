"""Subject-clustered CIs: slices (or pixels) of one subject are resampled or left out together.

Every statistic here is written as a function of *cluster weights*: a (k, G) array whose row says
how often each of the G clusters (subjects) counts in one replicate (a bootstrap draw: counts
summing to G; the full sample: all ones; a jackknife replicate: ones with one zero). A 2,000-draw
bootstrap of a Pearson r or an AUC is then one matrix product, and the jackknife comes for free.

Intervals (`method`):
- `jackknife` (default): the delete-one-subject jackknife standard error on a normalising scale
  (Fisher z for r, logit for an AUC, none for a mean) with Student's t on G - 1 degrees of
  freedom (the cluster jackknife "CV3" that MacKinnon, Nielsen & Webb 2023 recommend for few
  clusters). Coverage 0.93-0.96 for a slice-level r and AUC from 4 to 50 subjects
  (bench/ci_coverage.py). Undefined, with a note, when a left-out subject leaves the statistic
  undefined (e.g. the only subject with lesions) or the estimate is on the boundary (AUC 1, r 1).
- `percentile`: quantiles of the cluster-bootstrap estimates (the pre-#15 method: coverage 0.74-0.88
  from 4-12 subjects).
- `bca`: bias-corrected and accelerated bootstrap (Efron 1987), acceleration from the jackknife.
- `bca_t`: BCa with the normal quantile replaced by t_(G-1).

Whatever the method, a CI from fewer than SMALL_N_SUBJECTS subjects carries `small_n_note`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

NAN = float("nan")
BOOTSTRAP_METHODS = ("percentile", "bca", "bca_t")
METHODS = ("jackknife", *BOOTSTRAP_METHODS)
DEFAULT_METHOD = "jackknife"
# Fewer analysed subjects than this: every CI is flagged (coverage not assured; #15).
SMALL_N_SUBJECTS = 12


def small_n_note(n_subjects: int) -> str:
    """The flag every CI from fewer than SMALL_N_SUBJECTS subjects carries ('' otherwise)."""
    if n_subjects >= SMALL_N_SUBJECTS:
        return ""
    return f"small n: CI from {n_subjects} subjects (< {SMALL_N_SUBJECTS}), coverage not assured"


def join_notes(*notes) -> str:
    return "; ".join(dict.fromkeys(n for n in notes if isinstance(n, str) and n))


def finite_clustered(clusters, *arrays):
    """Keep the rows where every array is finite and the cluster label is present (not None/NaN/
    empty): returns (cluster index 0..G-1 per row, G, filtered arrays...)."""
    labels = np.asarray(clusters, dtype=object)
    arrays = [np.asarray(a, dtype=float) for a in arrays]
    for a in arrays:
        if a.shape != labels.shape or a.ndim != 1:
            raise ValueError(f"clustered data need equal 1-D shapes, got {a.shape}, {labels.shape}")
    import pandas as pd

    keep = ~pd.isna(labels) & (labels != "")
    for a in arrays:
        keep &= np.isfinite(a)
    kept = labels[keep]
    if len(kept):
        _, inverse = np.unique(kept.astype(str), return_inverse=True)
    else:
        inverse = np.zeros(0, int)
    n_clusters = int(inverse.max()) + 1 if len(inverse) else 0
    return (inverse.astype(int), n_clusters, *[a[keep] for a in arrays])


def cluster_counts(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, G) resampling counts: G clusters drawn with replacement per row."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, n_clusters, (n_boot, n_clusters))
    flat = drawn + n_clusters * np.arange(n_boot)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_clusters).reshape(n_boot, n_clusters)


def _quantile_level(z0: float, accel: float, q: float) -> float:
    shifted = z0 + q
    denominator = 1 - accel * shifted
    if denominator <= 0:
        return NAN
    return float(stats.norm.cdf(z0 + shifted / denominator))


def interval(
    boot: np.ndarray,
    estimate: float,
    jackknife: np.ndarray | None,
    ci_level: float = 0.95,
    method: str = DEFAULT_METHOD,
    n_clusters: int | None = None,
) -> tuple[float, float, str]:
    """CI from resampled estimates `boot` (NaN = undefined resample, skipped by the caller)."""
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    alpha = 1 - ci_level
    if method == "percentile":
        return float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)), ""
    if not np.isfinite(estimate):
        return NAN, NAN, "estimate undefined: no BCa interval"
    below = np.mean(boot < estimate) + 0.5 * np.mean(boot == estimate)
    below = float(np.clip(below, 0.5 / len(boot), 1 - 0.5 / len(boot)))
    z0 = float(stats.norm.ppf(below))
    accel, note = 0.0, ""
    jack = jackknife[np.isfinite(jackknife)] if jackknife is not None else np.array([])
    if len(jack) >= 3:
        dev = jack.mean() - jack
        denominator = 6 * float((dev**2).sum()) ** 1.5
        accel = float((dev**3).sum()) / denominator if denominator > 0 else 0.0
    else:
        note = "jackknife undefined: bias-corrected percentile without acceleration"
    if method == "bca_t":
        df = max((n_clusters or len(jack) or 2) - 1, 1)
        q_low = float(stats.t.ppf(alpha / 2, df))  # t_(G-1) quantile in place of z
    else:
        q_low = float(stats.norm.ppf(alpha / 2))
    levels = [_quantile_level(z0, accel, q_low), _quantile_level(z0, accel, -q_low)]
    if not all(np.isfinite(levels)):
        return NAN, NAN, join_notes(note, "BCa levels undefined (extreme acceleration)")
    low, high = np.quantile(boot, levels)
    return float(low), float(high), note


TRANSFORMS = {
    # name: (forward, inverse, open interval of defined estimates)
    "fisher_z": (np.arctanh, np.tanh, (-1.0, 1.0)),
    "logit": (lambda p: np.log(p / (1 - p)), lambda z: 1 / (1 + np.exp(-z)), (0.0, 1.0)),
    "identity": (lambda v: v, lambda v: v, (-np.inf, np.inf)),
}


def _empty(n_clusters, method, n_boot=0) -> dict:
    return {
        "n_clusters": n_clusters,
        "n_boot": n_boot,
        "n_valid": 0,
        "estimate": NAN,
        "ci_low": NAN,
        "ci_high": NAN,
        "se": NAN,
        "method": method,
        "note": "",
    }


def jackknife_ci(
    n_clusters: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    transform: str = "identity",
    ci_level: float = 0.95,
    margin: float = 1e-6,
) -> dict:
    """Delete-one-cluster jackknife CI on the `transform` scale with t on G - 1 df
    (`se` is on that scale). Replicates on the boundary of the transform's range are moved
    `margin` inside it (for an AUC: half a case pair)."""
    out = _empty(n_clusters, "jackknife")
    forward, inverse, (low_bound, high_bound) = TRANSFORMS[transform]
    if n_clusters < 3:
        out["note"] = f"{n_clusters} subject(s) < 3: no jackknife CI"
        if n_clusters:
            out["estimate"] = float(statistic(np.ones((1, n_clusters)))[0])
        return out
    estimate = float(statistic(np.ones((1, n_clusters)))[0])
    replicates = np.asarray(statistic(1.0 - np.eye(n_clusters)), float)
    out.update(estimate=estimate, n_valid=int(np.isfinite(replicates).sum()))
    if not np.isfinite(estimate):
        out["note"] = "estimate undefined: no CI"
        return out
    if not np.isfinite(replicates).all():
        out["note"] = (
            f"undefined without {n_clusters - out['n_valid']} of {n_clusters} subjects "
            "(e.g. the only subject with lesions): no clustered CI"
        )
        return out
    if not (low_bound < estimate < high_bound):
        out["note"] = f"estimate {estimate:.3f} at the boundary of its range: no jackknife CI"
        return out
    # a replicate on the boundary (e.g. AUC 1 without one subject) is pulled `margin` inside
    pseudo = forward(np.clip(replicates, low_bound + margin, high_bound - margin))
    g = n_clusters
    se = float(np.sqrt((g - 1) / g * ((pseudo - pseudo.mean()) ** 2).sum()))
    half = float(stats.t.ppf(0.5 + ci_level / 2, g - 1)) * se
    center = float(forward(estimate))
    out.update(ci_low=float(inverse(center - half)), ci_high=float(inverse(center + half)), se=se)
    if se == 0:
        out["note"] = "no variation between subjects: zero-width CI"
    return out


def weighted_bootstrap(
    n_clusters: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    method: str = "bca",
) -> dict:
    """Cluster bootstrap of a statistic of cluster weights (see the module docstring):
    `statistic(W)` maps a (k, G) weight array to k estimates (NaN where undefined)."""
    out = _empty(n_clusters, method, n_boot)
    if n_clusters < 2:
        out["note"] = f"{n_clusters} subject(s): no bootstrap CI"
        return out
    estimate = float(statistic(np.ones((1, n_clusters)))[0])
    boot = np.asarray(statistic(cluster_counts(n_clusters, n_boot, seed).astype(float)), float)
    valid = boot[np.isfinite(boot)]
    out.update(estimate=estimate, n_valid=len(valid))
    if len(valid) < max(20, n_boot // 2):
        out["note"] = f"only {len(valid)}/{n_boot} bootstrap resamples defined"
        return out
    jackknife = None
    if method != "percentile":
        jackknife = np.asarray(statistic(1.0 - np.eye(n_clusters)), float)
    low, high, note = interval(valid, estimate, jackknife, ci_level, method, n_clusters)
    skipped = f"{n_boot - len(valid)} undefined resamples skipped" if len(valid) < n_boot else ""
    out.update(
        ci_low=low, ci_high=high, se=float(valid.std(ddof=1)), note=join_notes(note, skipped)
    )
    return out


def clustered_ci(
    n_clusters: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    transform: str = "identity",
    method: str = DEFAULT_METHOD,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    margin: float = 1e-6,
) -> dict:
    """CI of a cluster-weight statistic by `method` (module docstring), with the small-n flag
    in `note` and a human-readable `method_text`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "jackknife":
        out = jackknife_ci(n_clusters, statistic, transform, ci_level, margin)
        scale = {"fisher_z": "Fisher z", "logit": "logit"}.get(transform, "")
        out["method_text"] = (
            f"subject-clustered jackknife{f' ({scale})' if scale else ''}, t with G-1 df"
        )
    else:
        out = weighted_bootstrap(n_clusters, statistic, n_boot, seed, ci_level, method)
        out["method_text"] = f"subject-clustered bootstrap ({n_boot}, seed {seed}), {method}"
    if np.isfinite(out["ci_low"]):
        out["note"] = join_notes(out["note"], small_n_note(n_clusters))
    return out


def index_statistic(
    inverse: np.ndarray, statistic: Callable[[np.ndarray], float]
) -> Callable[[np.ndarray], np.ndarray]:
    """Adapt `statistic(row indices)` to cluster weights (integer weights repeat the rows)."""
    members = [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]

    def weighted(weights: np.ndarray) -> np.ndarray:
        values = np.full(len(weights), NAN)
        for k, row in enumerate(np.rint(weights).astype(int)):
            rows = [np.repeat(members[g], row[g]) for g in np.flatnonzero(row)]
            values[k] = statistic(np.concatenate(rows)) if rows else NAN
        return values

    return weighted


def cluster_sums(inverse: np.ndarray, n_clusters: int, columns: list[np.ndarray]) -> np.ndarray:
    """(G, len(columns)) per-cluster sums."""
    return np.stack(
        [np.bincount(inverse, weights=c, minlength=n_clusters) for c in columns], axis=1
    )


def pearson_statistic(x, y, inverse, n_clusters):
    """Pooled Pearson r of the weighted clusters (rows with < 3 slices or no spread: NaN)."""
    if len(x):
        x, y = x - x.mean(), y - y.mean()  # centring keeps the sums well conditioned
    sums = cluster_sums(inverse, n_clusters, [np.ones_like(x), x, y, x * x, y * y, x * y])

    def r(weights):
        n, sx, sy, sxx, syy, sxy = (weights @ sums).T
        with np.errstate(invalid="ignore", divide="ignore"):
            vx, vy = n * sxx - sx**2, n * syy - sy**2
            value = (n * sxy - sx * sy) / np.sqrt(vx * vy)
        bad = (n < 3) | (vx <= 1e-12 * n * sxx) | (vy <= 1e-12 * n * syy) | (sxx <= 0) | (syy <= 0)
        return np.where(bad, NAN, np.clip(value, -1.0, 1.0))

    return r


def mean_statistic(values, inverse, n_clusters):
    """Mean over all rows of the weighted clusters."""
    sums = cluster_sums(inverse, n_clusters, [np.ones_like(values), values])

    def mean(weights):
        n, total = (weights @ sums).T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / n, NAN)

    return mean


def auc_pair_matrix(labels, scores, inverse, n_clusters):
    """P[g, h] = sum over positives of g and negatives of h of [s+ > s-] + 0.5 [s+ == s-];
    positive and negative counts per cluster. O(G * n log n): fine for pixels too."""
    labels = np.asarray(labels, bool)
    pairs = np.zeros((n_clusters, n_clusters))
    n_pos = np.bincount(inverse[labels], minlength=n_clusters).astype(float)
    n_neg = np.bincount(inverse[~labels], minlength=n_clusters).astype(float)
    for h in range(n_clusters):
        negatives = np.sort(scores[~labels & (inverse == h)])
        if not len(negatives):
            continue
        positives = scores[labels]
        below = np.searchsorted(negatives, positives, side="left")
        equal = np.searchsorted(negatives, positives, side="right") - below
        pairs[:, h] = np.bincount(
            inverse[labels], weights=below + 0.5 * equal, minlength=n_clusters
        )
    return pairs, n_pos, n_neg


def auc_statistic(labels, scores, inverse, n_clusters):
    """Mann-Whitney AUC of the weighted clusters (one class absent: NaN)."""
    pairs, n_pos, n_neg = auc_pair_matrix(labels, scores, inverse, n_clusters)

    def auc(weights):
        wins = np.einsum("kg,gh,kh->k", weights, pairs, weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = wins / ((weights @ n_pos) * (weights @ n_neg))
        return np.where(np.isfinite(value), value, NAN)

    return auc
