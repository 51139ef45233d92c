"""Image panels: cine frame, real LGE, LGE-like and probability overlay for the best, median
and worst slices of a split, ranked by SSIM of LGE-like to real LGE in the crop."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cine2lge.report.figures import _no_data, save  # noqa: E402

COLUMNS = ("cine (frame 0)", "real LGE", "LGE-like", "enhancement probability")


def pick_cases(per_slice: pd.DataFrame, metric: str = "ssim_crop") -> pd.DataFrame:
    """Best, median and worst slice by `metric` (higher = better): rows with a `case` column."""
    ranked = per_slice.dropna(subset=[metric]).sort_values(
        metric, ascending=False, ignore_index=True
    )
    if ranked.empty:
        return ranked.assign(case=[])
    picks = {"best": 0, "median": (len(ranked) - 1) // 2, "worst": len(ranked) - 1}
    rows = [ranked.iloc[index].to_dict() | {"case": case} for case, index in picks.items()]
    return pd.DataFrame(rows)


def _window(image):
    low, high = np.percentile(image, [1, 99])
    return {"vmin": low, "vmax": high if high > low else low + 1, "cmap": "gray"}


def panel_figure(
    cases: pd.DataFrame,
    paired_paths: dict,
    prediction_paths: dict,
    path,
    title: str,
    metric: str = "ssim_crop",
) -> None:
    """One row per picked case: cine frame 0, real LGE, LGE-like, probability over LGE-like."""
    n_rows = max(len(cases), 1)
    fig, axes = plt.subplots(
        n_rows, len(COLUMNS), figsize=(2.4 * len(COLUMNS), 2.5 * n_rows), squeeze=False
    )
    if cases.empty:
        _no_data(axes[0, 0], "no slices with real LGE")
    for row, case in zip(axes, cases.itertuples(index=False), strict=False):
        s = int(case.slice)
        with (
            np.load(paired_paths[case.subject]) as paired,
            np.load(prediction_paths[case.subject]) as prediction,
        ):
            cine_yx = paired["cine_styx"][s, 0]
            lge_yx = paired["lge_syx"][s]
            lgelike_yx = prediction["lgelike_syx"][s]
            probability_yx = prediction["enhancement_prob_syx"][s]
        row[0].imshow(cine_yx, **_window(cine_yx))
        row[1].imshow(lge_yx, **_window(lge_yx))
        row[2].imshow(lgelike_yx, **_window(lgelike_yx))
        row[3].imshow(lgelike_yx, **_window(lgelike_yx))
        overlay = np.ma.masked_less(probability_yx, 0.1)
        image = row[3].imshow(overlay, cmap="inferno", vmin=0, vmax=1, alpha=0.6)
        row[0].set_ylabel(
            f"{case.case}\n{case.subject} slice {s}\n{metric} {getattr(case, metric):.2f}",
            fontsize=7,
        )
        fig.colorbar(image, ax=row[3], fraction=0.046, pad=0.02)
    for j, name in enumerate(COLUMNS):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, path)
