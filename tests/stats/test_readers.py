"""Reader study: package blinding and analysis of generated score sheets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from cine2lge.stats import readers

ITEMS = ["image_quality", "artefacts", "diagnostic_confidence"]


def make_cases(n_subjects=4, slices=3):
    rng = np.random.default_rng(0)
    return [
        (f"s{i}", s, source, rng.random((8, 8)))
        for i in range(n_subjects)
        for s in range(slices)
        for source in readers.SOURCES
    ]


def test_central_slices():
    assert readers.central_slices(10, 2) == [3, 6]
    assert readers.central_slices(10, 1) == [5]
    assert readers.central_slices(2, 3) == [0, 1]
    assert readers.central_slices(0, 2) == []


def test_package_is_blinded_and_key_is_complete(tmp_path):
    cases = make_cases()
    key = readers.build_reading_package(
        cases, tmp_path / "package", tmp_path / "key.tsv", ITEMS, seed=7, zoom=2
    )
    images = sorted((tmp_path / "package" / "images").glob("*.png"))
    assert len(images) == len(cases) == len(key)
    assert {p.stem for p in images} == set(key["case_code"])
    # the package holds no subject id or source anywhere
    package_text = "".join(p.read_text() for p in (tmp_path / "package").glob("*.*"))
    assert "s0" not in package_text and "lgelike" not in package_text
    png = Image.open(images[0])
    assert png.size == (16, 16) and not png.info  # zoomed, no metadata
    template = pd.read_csv(tmp_path / "package" / "score_sheet_template.tsv", sep="\t")
    assert list(template.columns) == ["reader", "case_code", *ITEMS, "comment"]
    # randomised: order of sources along the codes is not the generation order
    assert key["source"].tolist() != [c[2] for c in cases]
    again = readers.build_reading_package(
        cases, tmp_path / "p2", tmp_path / "k2.tsv", ITEMS, seed=7, zoom=2
    )
    assert again.equals(key)  # seeded


def generated_sheets(tmp_path, key, shift, n_readers=3, noise=0.4, seed=0):
    """Readers score a per-slice true quality (+ `shift` for LGE-like) plus rater noise."""
    rng = np.random.default_rng(seed)
    truth = {
        (s, sl): rng.integers(2, 5) for s, sl in key[["subject", "slice"]].itertuples(index=False)
    }
    paths = []
    for r in range(n_readers):
        rows = []
        for code, subject, sl, source in key.itertuples(index=False):
            base = truth[(subject, sl)] + (shift if source == "lgelike" else 0)
            rows.append(
                {
                    "reader": f"R{r + 1}",
                    "case_code": code,
                    **{
                        item: int(np.clip(round(base + rng.normal(0, noise)), 1, 5))
                        for item in ITEMS
                    },
                }
            )
        path = tmp_path / f"reader{r + 1}.tsv"
        pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
        paths.append(path)
    return paths


def test_analysis_detects_better_lgelike_and_reader_agreement(tmp_path):
    key = readers.build_reading_package(
        make_cases(10, 3), tmp_path / "pkg", tmp_path / "k.tsv", ITEMS, seed=1, zoom=1
    )
    paths = generated_sheets(tmp_path, key, shift=1)
    comparison, agreement = readers.analyse_reader_study(paths, key, ITEMS)
    assert set(comparison["reader"]) == {"R1", "R2", "R3", "pooled"}
    pooled = comparison.query("reader == 'pooled' and item == 'image_quality'").iloc[0]
    assert pooled["n_pairs"] == 30 and pooled["mean_difference"] > 0.5 and pooled["p"] < 1e-3
    # per-reader p equals scipy on the same pairs
    scores = readers.read_sheets(paths[:1], ITEMS).merge(key, on="case_code")
    wide = scores[scores["item"] == "artefacts"].pivot_table(
        index=["subject", "slice"], columns="source", values="score"
    )
    r1 = comparison.query("reader == 'R1' and item == 'artefacts'").iloc[0]
    assert r1["method"].startswith("normal approximation")  # integer scores: ties
    assert r1["p"] == pytest.approx(
        stats.wilcoxon(wide["lgelike"], wide["lge"], method="approx").pvalue
    )
    kappas = agreement.query("statistic == 'kappa_quadratic'")
    assert len(kappas) == 3 * 3  # 3 reader pairs x 3 items
    assert (kappas["estimate"] > 0.6).all()
    icc = agreement.query("statistic == 'icc2_1'")
    assert (icc["estimate"] > 0.7).all()


def test_no_shift_gives_no_difference(tmp_path):
    key = readers.build_reading_package(
        make_cases(10, 3), tmp_path / "pkg", tmp_path / "k.tsv", ITEMS, seed=1, zoom=1
    )
    comparison, _ = readers.analyse_reader_study(
        generated_sheets(tmp_path, key, shift=0, noise=0.0), key, ITEMS
    )
    assert (comparison["mean_difference"] == 0).all()
    assert comparison["note"].str.contains("all paired differences zero").all()


def test_weighted_kappa_hand_example():
    # 3 categories used out of 5; quadratic weights w_ij = (i - j)^2 / 16.
    a = np.array([1, 2, 3, 3, 2, 1])
    b = np.array([1, 2, 3, 2, 2, 1])
    observed = np.zeros((5, 5))
    for i, j in zip(a, b, strict=True):
        observed[i - 1, j - 1] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / len(a)
    w = (np.subtract.outer(np.arange(5), np.arange(5)) ** 2) / 16
    kappa = 1 - (w * observed).sum() / (w * expected).sum()
    assert readers.weighted_kappa(a, b) == pytest.approx(kappa)
    assert readers.weighted_kappa([3, 3], [3, 3]) != readers.weighted_kappa([3, 3], [3, 3])


def test_no_sheets_and_bad_sheet(tmp_path):
    comparison, agreement = readers.analyse_reader_study([], pd.DataFrame(), ITEMS)
    assert comparison["note"].iloc[0] == readers.NO_SHEETS == agreement["note"].iloc[0]
    bad = tmp_path / "bad.tsv"
    pd.DataFrame(
        {
            "reader": ["R1"],
            "case_code": ["C1000"],
            "image_quality": [7],
            "artefacts": [3],
            "diagnostic_confidence": [3],
        }
    ).to_csv(bad, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"bad.tsv: row 2, column 'image_quality': 7"):
        readers.read_sheets([bad], ITEMS)


def test_fewer_than_three_readers_is_noted(tmp_path):
    key = readers.build_reading_package(
        make_cases(6, 2), tmp_path / "pkg", tmp_path / "k.tsv", ITEMS, seed=1, zoom=1
    )
    comparison, _ = readers.analyse_reader_study(
        generated_sheets(tmp_path, key, shift=1, n_readers=2), key, ITEMS
    )
    assert comparison["note"].str.contains("only 2 reader").any()


def test_wilcoxon_exact_without_ties():
    # all 8 differences positive and distinct: exact two-sided p = 2 / 2^8
    statistic, p, method, _ = readers._wilcoxon(np.arange(1.0, 9.0) * 1.1, np.zeros(8))
    assert method == "exact" and p == pytest.approx(2 / 256)


def test_reading_cases_use_only_paired_slices(tmp_path):
    lge = np.random.default_rng(0).random((6, 8, 8))
    np.savez(tmp_path / "p.npz", lge_syx=lge, paired=np.array([0, 0, 0, 1, 1, 1], bool))
    np.savez(tmp_path / "m.npz", lgelike_syx=lge)
    cases = readers.reading_cases("s1", tmp_path / "p.npz", tmp_path / "m.npz", 1)
    assert [(c[1], c[2]) for c in cases] == [(4, "lge"), (4, "lgelike")]
    assert np.array_equal(cases[0][3], lge[4])
