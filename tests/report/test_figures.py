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


def test_panels_pick_most_enhanced_per_subject_first_and_one_without():
    per_slice = pd.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "b", "c", "c", "c"],
            "slice": [0, 1, 2, 0, 1, 0, 1, 2],
            "enhancement": [3.0, 2.5, 0.0, 1.0, np.nan, 0.0, 0.0, 0.0],
            "probability": [0.9, 0.8, 0.1, 0.6, 0.5, 0.3, 0.05, 0.7],
        }
    )
    picked = panels.pick_cases(per_slice, n_enhanced=3)
    assert picked["case"].tolist() == [
        "most enhancement #1",
        "most enhancement #2",
        "most enhancement #3",
        "no enhancement",
    ]
    # one slice per subject first (a3.0, b1.0), then the next largest (a2.5); NaN never picked
    assert list(zip(picked["subject"], picked["slice"], strict=True))[:3] == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
    ]
    # without enhancement: the median predicted probability of a2 0.1, c0 0.3, c1 0.05, c2 0.7
    assert picked.iloc[3][["subject", "slice"]].tolist() == ["a", 2]
    assert len(panels.pick_cases(per_slice, n_enhanced=1)) == 2
    assert panels.pick_cases(per_slice.iloc[0:0]).empty


def write_npz_pair(tmp_path, subject, n=3, lesion_slice=1, rng=None):
    rng = rng or np.random.default_rng(0)
    labels = np.zeros((n, 16, 16), np.int16)
    labels[:, 4:12, 4:12] = 2
    labels[lesion_slice, 4:7, 4:12] = 5
    lge = rng.random((n, 16, 16)) * 0.3 + (labels == 5)
    np.savez(
        tmp_path / f"{subject}_p.npz",
        cine_styx=rng.random((n, 2, 16, 16)),
        lge_syx=lge,
        labels_syx=labels,
        paired=np.array([True] * (n - 1) + [False]),
    )
    probability = np.zeros((n, 16, 16))
    probability[lesion_slice, 4:8, 4:12] = np.linspace(0.2, 1, 8)
    np.savez(
        tmp_path / f"{subject}_m.npz",
        lgelike_syx=rng.random((n, 16, 16)),
        enhancement_prob_syx=probability,
        slice_probability_s=probability.max(axis=(1, 2)),
    )
    return tmp_path / f"{subject}_p.npz", tmp_path / f"{subject}_m.npz"


def test_slice_enhancement_prefers_truth_then_real_lge_then_labels(tmp_path):
    paired = {s: write_npz_pair(tmp_path, s)[0] for s in ("a", "b")}
    from_labels = panels.slice_enhancement(paired, None, {"a": [5], "b": [5]})
    # the unpaired last slice (no real LGE) is never a candidate
    assert from_labels.groupby("subject")["slice"].apply(list).to_dict() == {
        "a": [0, 1],
        "b": [0, 1],
    }
    assert from_labels["enhancement"].tolist() == [0.0, 24.0, 0.0, 24.0]
    lesions = pd.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "b"],
            "source": ["truth", "truth", "lge", "lge", "lge"],
            "class": ["total"] * 5,
            "region": ["slice"] * 5,
            "region_id": ["0", "1", "0", "0", "1"],
            "volume_ml": [0.0, 2.0, 9.0, 1.5, 0.0],
        }
    )
    table = panels.slice_enhancement(paired, lesions).set_index(["subject", "slice"])
    assert table.loc[("a", 1), "enhancement"] == 2.0 and "expert" in table.loc[("a", 1), "truth"]
    assert table.loc[("b", 0), "enhancement"] == 1.5 and "real-LGE" in table.loc[("b", 0), "truth"]
    assert panels.slice_enhancement(paired)["enhancement"].isna().all()


def test_panel_figure_shows_probability_in_colour(tmp_path):
    paths = {
        s: write_npz_pair(tmp_path, s, rng=np.random.default_rng(i)) for i, s in enumerate("ab")
    }
    per_slice = panels.slice_enhancement(
        {s: p[0] for s, p in paths.items()}, None, {"a": [5], "b": [5]}
    )
    cases = panels.pick_cases(per_slice, n_enhanced=2)
    assert cases["enhancement"].tolist() == [24.0, 24.0, 0.0]
    out = tmp_path / "panel.png"
    panels.panel_figure(
        cases,
        {s: p[0] for s, p in paths.items()},
        {s: p[1] for s, p in paths.items()},
        out,
        "internal_test",
        {"a": [5], "b": [5]},
    )
    image = mpimg.imread(out)[..., :3]
    assert ink(out) > 0.2
    # coloured (not grey) pixels: the probability overlay and its colour bar
    saturation = image.max(axis=2) - image.min(axis=2)
    assert (saturation > 0.3).mean() > 0.01
    rgba = panels.probability_rgba(np.array([[0.0, 0.04, 0.3, 1.0]]))
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 0 and 0 < rgba[0, 2, 3] < rgba[0, 3, 3]
    panels.panel_figure(panels.pick_cases(per_slice.iloc[0:0]), {}, {}, tmp_path / "e.png", "x")
    assert (tmp_path / "e.png").exists()


def test_panels_stage_with_and_without_truth(tmp_path):
    from cine2lge.report.stage import panels_stage

    paths = {
        s: write_npz_pair(tmp_path, s, rng=np.random.default_rng(i)) for i, s in enumerate("ab")
    }
    similarity = tmp_path / "similarity_slices.tsv"
    pd.DataFrame({"subject": ["a", "b"], "slice": [1, 1], "ssim_crop": [0.5, 0.6]}).to_csv(
        similarity, sep="\t", index=False
    )
    paired = {s: p[0] for s, p in paths.items()}
    prediction = {s: p[1] for s, p in paths.items()}
    for name, kwargs in (("labels", {"enhancement_labels": {"a": [5], "b": [5]}}), ("none", {})):
        out = tmp_path / f"{name}.png"
        panels_stage("internal_test", similarity, paired, prediction, out, **kwargs)
        assert ink(out) > 0.2


@pytest.fixture(autouse=True)
def _quiet_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
