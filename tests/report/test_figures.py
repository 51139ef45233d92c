"""Figures are written, have content, and survive empty inputs."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from cine2lge.report import figures, panels


def ink(path) -> float:
    """Fraction of non-white pixels of a PNG."""
    image = mpimg.imread(path)[..., :3]
    return float((image.mean(axis=2) < 0.95).mean())


def wide_table(n=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for split in figures.SPLITS:
        for lesion_class in figures.CLASSES:
            ref = rng.gamma(1, 2, n)
            rows.append(
                pd.DataFrame(
                    {
                        "split": split,
                        "class": lesion_class,
                        "reference": ref,
                        "test": ref + rng.normal(0, 0.5, n),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_agreement_figures(tmp_path):
    wide = wide_table()
    figures.scatter_regression(wide, tmp_path / "scatter.png", "percent_lv", "subject")
    figures.bland_altman_plot(wide, tmp_path / "ba.png", "percent_lv", "subject")
    assert ink(tmp_path / "scatter.png") > 0.05 and ink(tmp_path / "ba.png") > 0.05
    # degenerate: one split missing, constant class -> still a figure
    degenerate = wide[wide["split"] == "internal_test"].assign(reference=0.0)
    figures.scatter_regression(degenerate, tmp_path / "s2.png", "percent_lv", "slice")
    figures.bland_altman_plot(degenerate.head(1), tmp_path / "b2.png", "percent_lv", "slice")
    assert (tmp_path / "s2.png").stat().st_size > 1000 and (tmp_path / "b2.png").exists()


def test_roc_and_calibration_figures(tmp_path):
    from cine2lge.stats import roc

    labels = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    scores = np.r_[np.linspace(0.3, 1, 30), np.linspace(0, 0.7, 30)]
    cases = pd.DataFrame(
        {
            "subject": np.repeat([f"s{i}" for i in range(6)], 10),
            "split": "internal_test",
            "truth": "lge",
            "level": "slice",
            "region_id": 0,
            "score": scores,
            "lesion": labels,
            "volume_ml": 0,
        }
    )
    summary, curves, bins = roc.roc_table(cases, splits=("internal_test",), n_boot=50)
    figures.roc_plot(curves, summary, tmp_path / "roc.png")
    figures.calibration_plot(bins, summary, tmp_path / "cal.png")
    assert ink(tmp_path / "roc.png") > 0.03 and ink(tmp_path / "cal.png") > 0.03
    figures.roc_plot(curves.iloc[0:0], summary.iloc[0:0], tmp_path / "empty.png")
    assert (tmp_path / "empty.png").exists()


def test_bullseye_colours_the_burdened_segment(tmp_path):
    segments = pd.DataFrame(
        {"split": "internal_test", "source": "lge", "region_id": np.arange(1, 17), "value": 0.0}
    )
    segments.loc[segments["region_id"] == 7, "value"] = 10.0
    figures.bullseye_plot(segments, tmp_path / "bullseye.png", "percent_lv")
    assert ink(tmp_path / "bullseye.png") > 0.05


def test_reader_plot_without_sheets(tmp_path):
    figures.reader_plot(
        pd.DataFrame([{"reader": "", "item": "", "note": "no reader sheets given"}]),
        tmp_path / "r.png",
    )
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_panels_pick_and_draw(tmp_path):
    per_slice = pd.DataFrame(
        {
            "subject": ["a", "a", "b", "b", "b"],
            "slice": [0, 1, 0, 1, 2],
            "ssim_crop": [0.9, 0.5, 0.7, np.nan, 0.2],
        }
    )
    picked = panels.pick_cases(per_slice)
    assert picked["case"].tolist() == ["best", "median", "worst"]
    assert picked["ssim_crop"].tolist() == [0.9, 0.7, 0.2]  # median of 4 ranked: 2nd best
    rng = np.random.default_rng(0)
    for subject in ("a", "b"):
        np.savez(
            tmp_path / f"{subject}_p.npz",
            cine_styx=rng.random((3, 2, 16, 16)),
            lge_syx=rng.random((3, 16, 16)),
        )
        np.savez(
            tmp_path / f"{subject}_m.npz",
            lgelike_syx=rng.random((3, 16, 16)),
            enhancement_prob_syx=rng.random((3, 16, 16)),
        )
    panels.panel_figure(
        picked,
        {s: tmp_path / f"{s}_p.npz" for s in "ab"},
        {s: tmp_path / f"{s}_m.npz" for s in "ab"},
        tmp_path / "panel.png",
        "internal_test",
    )
    assert ink(tmp_path / "panel.png") > 0.2
    panels.panel_figure(panels.pick_cases(per_slice.iloc[0:0]), {}, {}, tmp_path / "e.png", "x")
    assert (tmp_path / "e.png").exists()


@pytest.fixture(autouse=True)
def _quiet_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
