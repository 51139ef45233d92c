"""Image panels a reader can check: the slices of a split with the most true enhancement and one
without, each as cine frame 0, real LGE, LGE-like on the real LGE's intensity window, and the
enhancement probability as a coloured overlay (colour bar, p = 0.5 contour) on the LGE-like image.

True enhancement of a slice (`slice_enhancement`): the lesion volume (class `total`) of the
expert / ground-truth labels (`truth` source of the lesion table) where the cohort has them, else
of the real-LGE quantification (`lge`); without a lesion table, the count of enhancement-label
pixels in the preprocessed labels. Only slices with a real LGE partner are shown.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colors  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402

from cine2lge.report.figures import _no_data, save  # noqa: E402

COLUMNS = (
    "cine (frame 0)",
    "real LGE",
    "LGE-like (same window)",
    "LGE-like + enhancement probability (0-1)",
)
TRUTH_SOURCES = {  # preferred first
    "truth": "expert / ground-truth labels, lesion mL",
    "lge": "real-LGE quantification, lesion mL",
}
PROBABILITY_CMAP = "turbo"
SHOW_FROM = 0.05  # probabilities below this are not drawn


def slice_enhancement(
    paired_paths: dict,
    lesions: pd.DataFrame | None = None,
    enhancement_labels: dict | None = None,
) -> pd.DataFrame:
    """Per slice position (the `_syx` index) of every subject with a real LGE partner: subject,
    slice, enhancement (mL from the lesion table, or labelled pixels), truth (what it counts)."""
    from cine2lge.stats.agreement import lesion_regions

    regions = None
    if lesions is not None and len(lesions):
        regions = lesion_regions(lesions)
        regions = regions[(regions["region"] == "slice") & (regions["class"] == "total")]
    rows = []
    for subject, path in paired_paths.items():
        with np.load(path) as paired:
            if "lge_syx" not in paired:
                continue
            n = len(paired["lge_syx"])
            has_lge = paired["paired"] if "paired" in paired else np.ones(n, bool)
            labels = paired["labels_syx"] if "labels_syx" in paired else None
        values, truth = np.full(n, np.nan), ""
        if regions is not None:
            for source in TRUTH_SOURCES:
                part = regions[(regions["subject"] == subject) & (regions["source"] == source)]
                part = part[(part["region_id"] >= 0) & (part["region_id"] < n)]
                if len(part):
                    values[part["region_id"].to_numpy(int)] = part["volume_ml"].to_numpy(float)
                    truth = TRUTH_SOURCES[source]
                    break
        if not truth and labels is not None and enhancement_labels:
            wanted = enhancement_labels.get(subject, [])
            if len(wanted):
                values = np.isin(labels, wanted).sum(axis=(1, 2)).astype(float)
                truth = "labelled enhancement (pixels)"
        for s in np.flatnonzero(has_lge):
            rows.append(
                {"subject": subject, "slice": int(s), "enhancement": values[s], "truth": truth}
            )
    return pd.DataFrame(rows, columns=["subject", "slice", "enhancement", "truth"])


def pick_cases(per_slice: pd.DataFrame, n_enhanced: int = 3) -> pd.DataFrame:
    """The `n_enhanced` slices with the most true enhancement (one per subject first, then the
    next largest) and one slice without: rows of `per_slice` with a `case` column.

    The slice without enhancement is the one with the median slice probability among them
    (column `probability`, if given: a typical, not the best or worst, lesion-free slice), else
    the middle one. Ties break on subject and slice, so the pick is deterministic.
    """
    known = per_slice[np.isfinite(per_slice["enhancement"].astype(float))]
    known = known.sort_values(["subject", "slice"], ignore_index=True)
    enhanced = known[known["enhancement"] > 0].sort_values(
        "enhancement", ascending=False, kind="stable"
    )
    first = enhanced.drop_duplicates("subject")
    order = pd.concat([first, enhanced.drop(first.index)])
    picks = [
        row | {"case": f"most enhancement #{k + 1}"}
        for k, row in enumerate(order.head(n_enhanced).to_dict("records"))
    ]
    clean = known[known["enhancement"] == 0]
    if len(clean):
        if "probability" in clean and clean["probability"].notna().any():
            clean = clean.dropna(subset=["probability"]).sort_values(
                "probability", kind="stable", ignore_index=True
            )
        picks.append(clean.iloc[(len(clean) - 1) // 2].to_dict() | {"case": "no enhancement"})
    return pd.DataFrame(picks, columns=[*per_slice.columns, "case"])


def window(image_yx) -> dict:
    """Grey window from the 1st to the 99.5th percentile of `image_yx`."""
    low, high = np.percentile(image_yx, [1, 99.5])
    return {
        "vmin": float(low),
        "vmax": float(high) if high > low else float(low) + 1,
        "cmap": "gray",
    }


def probability_rgba(probability_yx, cmap=PROBABILITY_CMAP) -> np.ndarray:
    """Colour overlay: colour = probability, opacity rising to 0.8 at p >= 0.5, none below
    SHOW_FROM."""
    p = np.clip(np.nan_to_num(np.asarray(probability_yx, float)), 0, 1)
    rgba = plt.get_cmap(cmap)(p)
    rgba[..., 3] = np.where(p < SHOW_FROM, 0.0, 0.8 * np.clip(p / 0.5, 0.35, 1.0))
    return rgba


def panel_figure(
    cases: pd.DataFrame,
    paired_paths: dict,
    prediction_paths: dict,
    path,
    title: str,
    enhancement_labels: dict | None = None,
) -> None:
    """One row per picked case: cine frame 0, real LGE, LGE-like on the real LGE's window, and
    the probability over the LGE-like image with a colour bar. With `enhancement_labels`
    ({subject: label values}) the labelled enhancement is outlined on the real LGE."""
    n_rows = max(len(cases), 1)
    fig, axes = plt.subplots(
        n_rows, len(COLUMNS), figsize=(2.6 * len(COLUMNS) + 0.6, 2.6 * n_rows), squeeze=False
    )
    if cases.empty:
        _no_data(axes[0, 0], "no slices with real LGE and a known enhancement")
    norm = colors.Normalize(0, 1)
    for row, case in zip(axes, cases.itertuples(index=False), strict=False):
        s = int(case.slice)
        with (
            np.load(paired_paths[case.subject]) as paired,
            np.load(prediction_paths[case.subject]) as prediction,
        ):
            cine_yx = paired["cine_styx"][s, 0]
            lge_yx = paired["lge_syx"][s]
            labels_yx = paired["labels_syx"][s] if "labels_syx" in paired else None
            lgelike_yx = prediction["lgelike_syx"][s]
            probability_yx = prediction["enhancement_prob_syx"][s]
        shared = window(lge_yx)
        row[0].imshow(cine_yx, **window(cine_yx))
        row[1].imshow(lge_yx, **shared)
        row[2].imshow(lgelike_yx, **shared)
        row[3].imshow(lgelike_yx, **shared)
        row[3].imshow(probability_rgba(probability_yx), interpolation="nearest")
        if np.nanmax(probability_yx) >= 0.5 > np.nanmin(probability_yx):
            row[3].contour(probability_yx, levels=[0.5], colors="white", linewidths=0.6)
        wanted = (enhancement_labels or {}).get(case.subject)
        if labels_yx is not None and wanted is not None and len(wanted):
            mask = np.isin(labels_yx, wanted)
            if mask.any() and not mask.all():
                row[1].contour(mask, levels=[0.5], colors="cyan", linewidths=0.6)
        amount = float(case.enhancement)
        unit = "mL" if "mL" in str(getattr(case, "truth", "")) else "px"
        label = f"{case.case}\n{case.subject} slice {s}\ntrue enhancement {amount:.2f} {unit}"
        probability = getattr(case, "probability", np.nan)
        if probability is not None and np.isfinite(probability):
            label += f"\nslice probability {probability:.2f}"
        ssim = getattr(case, "ssim_crop", np.nan)
        if ssim is not None and np.isfinite(ssim):
            label += f"\nSSIM {ssim:.2f}"
        row[0].set_ylabel(label, fontsize=7)
        fig.colorbar(
            ScalarMappable(norm, PROBABILITY_CMAP),
            ax=row[3],
            fraction=0.046,
            pad=0.02,
        ).ax.tick_params(labelsize=6)
    for j, name in enumerate(COLUMNS):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    truth = ""
    if "truth" in cases and len(cases):
        truth = f" (true enhancement: {cases['truth'].iloc[0]})"
    fig.suptitle(title + truth, fontsize=9)
    fig.tight_layout()
    save(fig, path)
