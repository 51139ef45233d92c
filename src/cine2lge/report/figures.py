"""Report figures (matplotlib Agg + seaborn): agreement, ROC, calibration, bull's-eye.

Every function takes tidy tables, draws one figure and saves it atomically; an empty panel says
"no data" instead of failing, so a cohort without, e.g., external test subjects still reports.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from cine2lge.io import atomic_path  # noqa: E402
from cine2lge.stats.agreement import bland_altman_repeated  # noqa: E402

SPLITS = ("internal_test", "external_test")
CLASSES = ("hyperintense", "intermediate")
SPLIT_COLOURS = {"internal_test": "#1f77b4", "external_test": "#d62728"}


def save(fig, path, dpi: int = 120) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def _no_data(ax, text="no data"):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _grid(n_rows, n_cols, size=3.2):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    return fig, axes


def scatter_regression(
    wide: pd.DataFrame, path, measure: str, level: str, splits=SPLITS, classes=CLASSES
) -> None:
    """LGE-like vs real LGE burden with the OLS line (95 % band) and the identity line; one
    panel per class (rows) x split (columns). `wide`: split, class, reference, test."""
    fig, axes = _grid(len(classes), len(splits))
    for i, lesion_class in enumerate(classes):
        for j, split in enumerate(splits):
            ax = axes[i, j]
            part = wide[(wide["class"] == lesion_class) & (wide["split"] == split)]
            ax.set_title(f"{split}, {lesion_class}", fontsize=9)
            ax.set_xlabel(f"real LGE {measure}")
            ax.set_ylabel(f"LGE-like {measure}")
            if part.empty:
                _no_data(ax)
                continue
            varies = part["reference"].nunique() > 1
            sns.regplot(
                data=part,
                x="reference",
                y="test",
                ax=ax,
                fit_reg=varies,
                n_boot=200,
                seed=0,
                color=SPLIT_COLOURS.get(split),
                scatter_kws={"s": 12, "alpha": 0.7},
            )
            ax.set(xlabel=f"real LGE {measure}", ylabel=f"LGE-like {measure}")
            top = float(np.nanmax(part[["reference", "test"]].to_numpy())) or 1.0
            ax.plot([0, top], [0, top], ls="--", color="grey", lw=0.8)
            if varies and part["test"].nunique() > 1:
                r = np.corrcoef(part["reference"], part["test"])[0, 1]
                ax.text(
                    0.04, 0.92, f"r = {r:.2f}, n = {len(part)}", transform=ax.transAxes, fontsize=8
                )
    fig.suptitle(f"Lesion burden, {level} level", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def bland_altman_plot(
    wide: pd.DataFrame, path, measure: str, level: str, splits=SPLITS, classes=CLASSES
) -> None:
    """Difference (LGE-like - real LGE) against the mean, with bias and 95 % limits."""
    fig, axes = _grid(len(classes), len(splits))
    for i, lesion_class in enumerate(classes):
        for j, split in enumerate(splits):
            ax = axes[i, j]
            part = wide[(wide["class"] == lesion_class) & (wide["split"] == split)]
            ax.set_title(f"{split}, {lesion_class}", fontsize=9)
            ax.set_xlabel(f"mean {measure}")
            ax.set_ylabel(f"LGE-like - real LGE {measure}")
            if len(part) < 2:
                _no_data(ax)
                continue
            mean = (part["reference"] + part["test"]) / 2
            diff = part["test"] - part["reference"]
            ax.scatter(mean, diff, s=12, alpha=0.7, color=SPLIT_COLOURS.get(split))
            bias, sd = diff.mean(), diff.std(ddof=1)
            low, high, kind = bias - 1.96 * sd, bias + 1.96 * sd, ""
            if level == "slice" and "subject" in part:
                # several slices per subject: repeated-measures limits (Bland & Altman 2007)
                rm = bland_altman_repeated(part["reference"], part["test"], part["subject"])
                if np.isfinite(rm["loa_low"]):
                    bias, low, high = rm["bias"], rm["loa_low"], rm["loa_high"]
                    kind = "repeated-measures "
            for value, style in ((bias, "-"), (low, "--"), (high, "--")):
                ax.axhline(value, ls=style, color="black", lw=0.8)
            ax.text(
                0.98,
                0.04,
                f"bias {bias:.2f}, {kind}LoA [{low:.2f}, {high:.2f}]",
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
            )
    fig.suptitle(f"Bland-Altman, {level} level", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def roc_plot(curves: pd.DataFrame, summary: pd.DataFrame, path, truth: str = "lge") -> None:
    """ROC curves of the enhancement probability, slice and subject level, one line per split
    with AUC and its CI in the legend."""
    levels = ("slice", "subject")
    fig, axes = _grid(1, len(levels), size=3.8)
    for ax, level in zip(axes[0], levels, strict=True):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
        ax.set(
            title=f"{level} level",
            xlabel="1 - specificity",
            ylabel="sensitivity",
            xlim=(0, 1),
            ylim=(0, 1.01),
        )
        drawn = False
        for split, colour in SPLIT_COLOURS.items():
            part = curves[
                (curves["level"] == level) & (curves["split"] == split) & (curves["truth"] == truth)
            ]
            stat = "auc_clustered" if level == "slice" else "auc"
            auc = summary[
                (summary["level"] == level)
                & (summary["split"] == split)
                & (summary["truth"] == truth)
                & (summary["statistic"] == stat)
            ]
            if part.empty or auc.empty:
                continue
            a = auc.iloc[0]
            label = f"{split}: AUC {a['estimate']:.2f}"
            if np.isfinite(a["ci_low"]) and np.isfinite(a["ci_high"]):
                label += f" [{a['ci_low']:.2f}, {a['ci_high']:.2f}]"
                if str(a.get("small_n", False)) == "True":
                    label += f" (small n: {int(a['n_subjects'])} subjects)"
            else:
                label += " (no CI)"
            ax.plot(part["fpr"], part["tpr"], color=colour, label=label)
            drawn = True
        if drawn:
            ax.legend(fontsize=7, loc="lower right")
        else:
            _no_data(ax, "no data (one class only?)")
    fig.tight_layout()
    save(fig, path)


def calibration_plot(bins: pd.DataFrame, summary: pd.DataFrame, path, truth: str = "lge") -> None:
    """Reliability diagram: observed lesion fraction against mean predicted probability per
    bin (marker area ~ cases), with the Brier score in the legend."""
    levels = ("slice", "subject")
    fig, axes = _grid(1, len(levels), size=3.8)
    for ax, level in zip(axes[0], levels, strict=True):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
        ax.set(
            title=f"{level} level",
            xlabel="predicted probability",
            ylabel="observed fraction with lesion",
            xlim=(0, 1),
            ylim=(-0.02, 1.02),
        )
        drawn = False
        for split, colour in SPLIT_COLOURS.items():
            part = bins[
                (bins["level"] == level) & (bins["split"] == split) & (bins["truth"] == truth)
            ]
            if part.empty:
                continue
            brier = summary[
                (summary["level"] == level)
                & (summary["split"] == split)
                & (summary["truth"] == truth)
                & (summary["statistic"] == "brier")
            ]
            label = split + (f": Brier {brier['estimate'].iloc[0]:.3f}" if len(brier) else "")
            ax.plot(part["mean_predicted"], part["observed"], "-", color=colour, lw=0.8)
            ax.scatter(
                part["mean_predicted"],
                part["observed"],
                s=8 + 4 * part["n_bin"],
                color=colour,
                alpha=0.7,
                label=label,
            )
            drawn = True
        if drawn:
            ax.legend(fontsize=7, loc="upper left")
        else:
            _no_data(ax)
    fig.tight_layout()
    save(fig, path)


def bullseye_axes(ax, values: dict, vmax: float, cmap="magma_r", title=""):
    """One bull's-eye of `values` {AHA segment 1-16: value} on a Cartesian axis, in the same
    layout as the quantify stage's per-subject plot (its segment_wedges)."""
    from matplotlib.patches import Wedge

    from cine2lge.quantify.bullseye import segment_wedges

    colormap = plt.get_cmap(cmap)
    norm = matplotlib.colors.Normalize(0, vmax if vmax > 0 else 1)
    for segment, (inner, outer, start, end) in segment_wedges().items():
        value = values.get(segment, np.nan)
        colour = colormap(norm(value)) if np.isfinite(value) else "0.85"
        ax.add_patch(
            Wedge(
                (0, 0),
                outer,
                start,
                end,
                width=outer - inner,
                facecolor=colour,
                edgecolor="white",
                linewidth=1.0,
            )
        )
        middle = np.deg2rad((start + end) / 2)
        radius = (inner + outer) / 2 if inner > 0 else 0.6
        ax.text(
            radius * np.cos(middle),
            radius * np.sin(middle),
            str(segment),
            ha="center",
            va="center",
            fontsize=6,
            color="grey",
        )
    ax.set(xlim=(-3.1, 3.1), ylim=(-3.1, 3.1), aspect="equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)


def bullseye_plot(segments: pd.DataFrame, path, measure: str, splits=SPLITS) -> None:
    """Mean per-segment total lesion burden, real LGE and LGE-like, per split.
    `segments`: split, source, region_id (AHA segment), value."""
    sources = (("lge", "real LGE"), ("lgelike", "LGE-like"))
    fig = plt.figure(figsize=(3.0 * len(sources), 3.0 * len(splits)))
    vmax = float(segments["value"].max()) if len(segments) else 1.0
    mappable = None
    for i, split in enumerate(splits):
        for j, (source, label) in enumerate(sources):
            ax = fig.add_subplot(len(splits), len(sources), i * len(sources) + j + 1)
            part = segments[(segments["split"] == split) & (segments["source"] == source)]
            values = part.groupby("region_id")["value"].mean().to_dict()
            mappable = bullseye_axes(ax, values, vmax, title=f"{split}, {label}")
    if mappable is not None:
        fig.colorbar(mappable, ax=fig.axes, shrink=0.6, label=f"mean {measure} (total lesion)")
    save(fig, path)


def reader_plot(comparison: pd.DataFrame, path) -> None:
    """Median scores LGE-like vs real LGE per reader and item (or a note without sheets)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if "median_lge" not in comparison.columns or comparison["median_lge"].isna().all():
        _no_data(ax, str(comparison["note"].iloc[0]) if len(comparison) else "no data")
        ax.set_axis_off()
    else:
        long = comparison.melt(
            id_vars=["reader", "item"],
            value_vars=["median_lge", "median_lgelike"],
            var_name="source",
            value_name="median score",
        )
        long["source"] = long["source"].str.removeprefix("median_")
        sns.barplot(
            data=long, x="item", y="median score", hue="source", ax=ax, errorbar=("pi", 100)
        )
        ax.set_ylim(0, 5.2)
    fig.tight_layout()
    save(fig, path)
