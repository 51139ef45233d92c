"""Bull's-eye plot of the AHA 16-segment model (base outside, apex inside, anterior on top)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402


def segment_wedges() -> dict[int, tuple[float, float, float, float]]:
    """Segment -> (inner radius, outer radius, start angle, end angle) of the standard display:
    anterior (1, 7, 13) on top, septum on the left, numbering counterclockwise."""
    wedges = {}
    for level, (inner, outer) in enumerate([(2.0, 3.0), (1.0, 2.0)]):  # base ring, mid ring
        for k in range(6):
            start = 60.0 + 60.0 * k  # segment 1 spans 60..120 degrees
            wedges[1 + 6 * level + k] = (inner, outer, start, start + 60.0)
    for k in range(4):
        start = 45.0 + 90.0 * k  # 13 spans 45..135
        wedges[13 + k] = (0.0, 1.0, start, start + 90.0)
    return wedges


def plot_bullseye(
    panels: dict[str, np.ndarray], path, title: str = "", vmax: float = 100.0, label: str = ""
) -> None:
    """One bull's-eye per panel; values (16,) for segments 1..16 (NaN drawn grey)."""
    n = max(len(panels), 1)
    figure, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    colormap = plt.get_cmap("magma_r")
    wedges = segment_wedges()
    for axis, (name, values) in zip(axes[0], panels.items(), strict=False):
        for segment, (inner, outer, start, end) in wedges.items():
            value = values[segment - 1]
            colour = "0.85" if not np.isfinite(value) else colormap(min(value / vmax, 1.0))
            axis.add_patch(
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
            middle = np.radians((start + end) / 2)
            radius = (inner + outer) / 2 if inner else 0.55
            text = "" if not np.isfinite(value) else f"{value:.0f}"
            axis.text(
                radius * np.cos(middle),
                radius * np.sin(middle),
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="black" if value < vmax / 2 else "white",
            )
        axis.set_xlim(-3.1, 3.1)
        axis.set_ylim(-3.1, 3.1)
        axis.set_aspect("equal")
        axis.axis("off")
        axis.set_title(name, fontsize=9)
    mappable = plt.cm.ScalarMappable(cmap=colormap, norm=plt.Normalize(0, vmax))
    figure.colorbar(mappable, ax=axes[0].tolist(), shrink=0.7, label=label)
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=120)
    plt.close(figure)
