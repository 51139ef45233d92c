"""QC montage of one subject's crops: cine frame, LGE, T2, and the label outline on the LGE."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cine2lge.io import atomic_path  # noqa: E402


def qc_montage(
    arrays: dict,
    path: str | Path,
    title: str = "",
    myocardium_labels: list[int] | None = None,
    max_rows: int = 12,
) -> None:
    """One row per crop slice (at most `max_rows`, evenly spread): cine frame 0, LGE and T2 (if
    any), and the LGE (or the cine) with the myocardium outline (all labels > 0 if no scheme
    given)."""
    cine_styx = arrays["cine_styx"]
    lge_syx = arrays.get("lge_syx")
    t2_syx = arrays.get("t2_syx")
    labels_syx = arrays.get("labels_syx")
    n_slices = cine_styx.shape[0]
    rows = np.unique(np.linspace(0, n_slices - 1, min(n_slices, max_rows)).round().astype(int))
    columns = ["cine (frame 0)"]
    if lge_syx is not None:
        columns.append("LGE")
    if t2_syx is not None:
        columns.append("T2")
    if labels_syx is not None:
        columns.append("labels on " + ("LGE" if lge_syx is not None else "cine"))
    figure, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.2 * len(columns), 2.2 * len(rows)), squeeze=False
    )
    for i, s in enumerate(rows):
        panels = [cine_styx[s, 0]]
        if lge_syx is not None:
            panels.append(lge_syx[s])
        if t2_syx is not None:
            panels.append(t2_syx[s])
        if labels_syx is not None:
            panels.append(lge_syx[s] if lge_syx is not None else cine_styx[s, 0])
        for j, image in enumerate(panels):
            axis = axes[i, j]
            axis.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if i == 0:
                axis.set_title(columns[j], fontsize=8)
            if j == 0:
                label = f"slice {int(arrays['slice_index'][s])}"
                if "lge_slice_index" in arrays:
                    partner = int(arrays["lge_slice_index"][s])
                    label += f"\nLGE {partner}" if partner >= 0 else "\nunpaired"
                axis.set_ylabel(label, fontsize=7)
            if labels_syx is not None and columns[j].startswith("labels"):
                if myocardium_labels:
                    mask = np.isin(labels_syx[s], myocardium_labels)
                else:
                    mask = labels_syx[s] > 0
                if mask.any() and not mask.all():
                    axis.contour(mask, levels=[0.5], colors="yellow", linewidths=0.6)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.25 / len(rows)))  # room for the title
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=80, format="png")
    plt.close(figure)
