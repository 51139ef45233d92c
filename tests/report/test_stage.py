"""Report-stage entry points on simulated upstream outputs, without Snakemake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from cine2lge.phantom.cohort import demo_sheet
from cine2lge.report import stage
from cine2lge.stats import readers


@pytest.fixture
def settings(repo):
    report = yaml.safe_load((repo / "config/config.yaml").read_text())["report"]
    report["n_bootstrap"] = 100
    return report


def test_agreement_and_roc_stages(simulated_results, settings):
    root = simulated_results
    sheet = demo_sheet(16)
    split_of = dict(zip(sheet["subject"], sheet["split"], strict=True))
    tests = [s for s, split in split_of.items() if split.endswith("_test")]
    agreement = stage.agreement_stage(
        root / "results/tables/lesions.tsv", root / "agree.tsv", split_of, settings
    )
    r = agreement.query(
        "split == 'internal_test' and level == 'subject' and "
        "`class` == 'hyperintense' and statistic == 'pearson_r'"
    ).iloc[0]
    assert r["n"] == 4 and np.isfinite(r["estimate"])
    out = {name: root / f"{name}.tsv" for name in ("roc", "roc_curve", "calibration")}
    stage.roc_stage(
        root / "results/tables/lesions.tsv",
        [root / f"results/model/{s}/slice_probability.tsv" for s in tests],
        out,
        split_of,
        settings,
        {s: root / f"results/preprocess/{s}/paired.npz" for s in tests},
    )
    roc = pd.read_csv(out["roc"], sep="\t")
    assert set(roc["truth"]) == {"lge", "truth"}  # real-LGE and expert-label ground truths
    auc = roc.query("truth == 'truth' and level == 'slice' and statistic == 'auc'")
    assert (auc["n"] == 4 * 8).all() and (auc["estimate"] > 0.8).all()


def test_lesion_table_without_required_column_is_a_clear_error(tmp_path):
    path = tmp_path / "lesions.tsv"
    pd.DataFrame({"subject": ["a"], "source": ["lge"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"lesions.tsv: missing column\(s\) \['class', 'region'\]"):
        stage.read_lesions(path)


def test_reader_package_and_analysis_stages(simulated_results, settings):
    root = simulated_results
    subjects = ["demo0002", "demo0004", "demo0006"]
    paired = {s: root / f"results/preprocess/{s}/paired.npz" for s in subjects}
    prediction = {s: root / f"results/model/{s}/prediction.npz" for s in subjects}
    readers_settings = settings["readers"]
    stage.reader_package_stage(
        paired, prediction, root / "package", root / "key.tsv", readers_settings
    )
    key = pd.read_csv(root / "key.tsv", sep="\t")
    assert len(key) == 3 * 2 * 2
    # three readers who prefer LGE-like by one point
    rng = np.random.default_rng(0)
    sheets = []
    for r in range(3):
        sheet = pd.read_csv(root / "package/score_sheet_template.tsv", sep="\t")
        sheet["reader"] = f"R{r}"
        merged = sheet.merge(key, on="case_code")
        for item in readers_settings["items"]:
            sheet[item] = np.clip(
                3
                + (merged["source"] == "lgelike").to_numpy()
                + rng.integers(-1, 2, len(sheet)) * (rng.random(len(sheet)) < 0.2),
                1,
                5,
            )
        path = root / f"sheet{r}.tsv"
        sheet.to_csv(path, sep="\t", index=False)
        sheets.append(path)
    out = {
        "reader_comparison": root / "cmp.tsv",
        "reader_agreement": root / "agr.tsv",
        "readers": root / "readers.png",
    }
    stage.reader_analysis_stage(sheets, root / "key.tsv", out, readers_settings)
    comparison = pd.read_csv(out["reader_comparison"], sep="\t")
    pooled = comparison[comparison["reader"] == "pooled"]
    assert len(pooled) == len(readers_settings["items"])
    assert (pooled["mean_difference"] > 0.5).all() and (pooled["p"] < 0.05).all()
    agreement = pd.read_csv(out["reader_agreement"], sep="\t")
    assert (agreement["statistic"] == "kappa_quadratic").sum() == 3 * len(readers_settings["items"])
    stage.reader_analysis_stage([], root / "key.tsv", out, readers_settings)
    assert pd.read_csv(out["reader_comparison"], sep="\t")["note"].tolist() == [readers.NO_SHEETS]


def test_model_slice_numbers_map_to_array_positions(tmp_path):
    # the model writes the source cine slice index; quantify counts positions in the arrays
    np.savez(tmp_path / "paired.npz", slice_index=np.array([2, 3, 5]), lge_syx=np.zeros((3, 4, 4)))
    probabilities = pd.DataFrame(
        {"subject": "a", "slice": [5, 2, 3], "probability": [0.9, 0.1, 0.2]}
    )
    mapped = stage.slices_to_positions(probabilities, {"a": tmp_path / "paired.npz"})
    assert mapped["slice"].tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match=r"a: slice_probability.tsv slices \[7\] are not in"):
        stage.slices_to_positions(
            probabilities.assign(slice=[7, 2, 3]), {"a": tmp_path / "paired.npz"}
        )


def test_similarity_of_a_chunk_keeps_each_subjects_labels(tmp_path):
    """One table for the subjects of an inference chunk; each subject's myocardium labels."""
    rng = np.random.default_rng(5)
    paths = {}
    for subject, myo_label in (("a", 2), ("b", 7)):
        lge = rng.random((2, 16, 16)).astype(np.float32)
        labels = np.zeros((2, 16, 16), np.int16)
        labels[:, 4:8, 4:8] = myo_label
        paths[subject] = (tmp_path / f"{subject}_paired.npz", tmp_path / f"{subject}_pred.npz")
        np.savez(paths[subject][0], lge_syx=lge, labels_syx=labels)
        np.savez(paths[subject][1], lgelike_syx=lge + 0.2)
    out = tmp_path / "chunk0000.tsv"
    stage.similarity_chunk_stage(
        ["a", "b"],
        [p for p, _ in paths.values()],
        [q for _, q in paths.values()],
        out,
        {"a": [2], "b": [7]},
        1.0,
    )
    table = pd.read_csv(out, sep="\t")
    assert table["subject"].tolist() == ["a", "a", "b", "b"]
    assert (table["myo_pixels"] == 16).all()  # b's myocardium found with b's own label value
    assert table["mae_myo"].to_numpy() == pytest.approx(0.2, abs=1e-6)
    summary = tmp_path / "summary.tsv"
    stage.similarity_stage(
        [out],
        {"similarity": summary, "similarity_slices": tmp_path / "s.tsv"},
        {"a": "internal_test", "b": "external_test"},
    )
    assert set(pd.read_csv(summary, sep="\t")["split"]) == {"internal_test", "external_test"}
