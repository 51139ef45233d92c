"""Summary table layout and the table index."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cine2lge.report import tables
from cine2lge.stats import agreement, roc


def test_format_estimate():
    assert tables.format_estimate(0.7321, 0.6, 0.81) == "0.732 [0.600, 0.810]"
    assert tables.format_estimate(0.5) == "0.500"
    assert tables.format_estimate(np.nan, 0, 1) == "n/a"


def toy_inputs():
    rng = np.random.default_rng(0)
    split_of = {f"s{i}": tables.SPLITS[i % 2] for i in range(8)}
    rows = []
    for subject in split_of:
        for lesion_class in ("hyperintense", "intermediate", "total"):
            real = rng.gamma(1.0, 2.0, 6)
            fake = real + rng.normal(0, 0.5, 6)
            for source, values in (("lge", real), ("lgelike", fake)):
                rows += [
                    (subject, source, lesion_class, "slice", s, v, v) for s, v in enumerate(values)
                ]
                rows.append(
                    (subject, source, lesion_class, "subject", -1, values.sum(), values.mean())
                )
    lesions = pd.DataFrame(
        rows,
        columns=["subject", "source", "class", "region", "region_id", "volume_ml", "percent_lv"],
    )
    probs = pd.DataFrame(
        [(s, k, rng.random()) for s in split_of for k in range(6)],
        columns=["subject", "slice", "probability"],
    )
    agree = agreement.agreement_table(lesions, split_of, n_boot=100)
    cases = roc.probability_cases(probs, lesions, split_of, lesion_present_ml=1.0)
    roc_summary, _, _ = roc.roc_table(cases, n_boot=100)
    similarity = pd.DataFrame(
        {
            "split": list(tables.SPLITS),
            "level": "subject",
            "metric": "ssim_crop",
            "n": [4, 4],
            "mean": [0.8, 0.7],
            "sd": [0.05, np.nan],
            "median": [0.8, 0.7],
        }
    )
    return agree, roc_summary, similarity


def test_summary_table_sits_beside_paper_numbers():
    agree, roc_summary, similarity = toy_inputs()
    summary = tables.summary_table(agree, roc_summary, similarity)
    hyper = summary[
        (summary["result"] == "Pearson r, hyperintense burden") & (summary["level"] == "subject")
    ].iloc[0]
    assert hyper["internal_test_paper"] == "0.732" and hyper["external_test_paper"] == "0.833"
    ours = agree.query(
        "split == 'internal_test' and level == 'subject' and "
        "statistic == 'pearson_r' and `class` == 'hyperintense'"
    ).iloc[0]
    assert hyper["internal_test"] == tables.format_estimate(
        ours["estimate"], ours["ci_low"], ours["ci_high"]
    )
    assert hyper["internal_test_n"] == "4 (4 subjects)"
    auc = summary[summary["result"] == "AUC, enhancement probability"]
    assert auc["internal_test_paper"].tolist() == ["0.906", "0.906"]
    assert auc["external_test_paper"].tolist() == ["0.895", "0.895"]
    intermediate = summary[summary["result"] == "Pearson r, intermediate burden"]
    assert intermediate["external_test_paper"].tolist() == ["0.712", "0.712"]
    ssim = summary[summary["result"].str.startswith("SSIM (crop)")].iloc[0]
    assert ssim["internal_test"] == "0.800 (0.050)" and ssim["external_test"] == "0.700"
    assert list(summary.columns[:4]) == ["result", "level", "internal_test", "internal_test_paper"]


def test_summary_adds_the_auc_against_labels_when_the_roc_table_has_it():
    agree, roc_summary, similarity = toy_inputs()
    assert (
        not tables.summary_table(agree, roc_summary, similarity)["result"]
        .str.contains("vs labels")
        .any()
    )
    by_labels = roc_summary.assign(truth="truth", estimate=0.97)
    both = pd.concat([roc_summary, by_labels], ignore_index=True)
    summary = tables.summary_table(agree, both, similarity)
    labels = summary[summary["result"] == "AUC vs labels, enhancement probability"]
    assert labels["level"].tolist() == ["slice", "subject"]
    assert labels["internal_test"].str.startswith("0.970").all()
    lge = summary[summary["result"] == "AUC, enhancement probability"]
    assert not lge["internal_test"].str.startswith("0.970").any()


def test_summary_without_data_says_na():
    empty_agreement = pd.DataFrame(
        columns=[
            "split",
            "class",
            "level",
            "statistic",
            "estimate",
            "ci_low",
            "ci_high",
            "n",
            "n_subjects",
            "note",
        ]
    )
    empty_roc = empty_agreement.drop(columns="class").assign(truth=[])
    summary = tables.summary_table(empty_agreement, empty_roc, pd.DataFrame())
    assert (summary["internal_test"] == "n/a").all()


def test_table_index(tmp_path):
    path = tmp_path / "agreement.tsv"
    tables.write_tsv(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), path)
    index = tables.table_index([path])
    assert index.iloc[0][["table", "rows", "columns"]].tolist() == ["agreement", 2, 2]
    assert "Pearson" in index.iloc[0]["description"]


def test_summary_flags_small_n_and_gives_no_ci_with_one_case_in_a_class():
    agree, roc_summary, similarity = toy_inputs()
    summary = tables.summary_table(agree, roc_summary, similarity).set_index("result")
    # 4 subjects per split: every value with a CI says so in its note
    for split in tables.SPLITS:
        with_ci = summary[summary[split].astype(str).str.contains(r"\[", regex=True)]
        assert len(with_ci) and with_ci[f"{split}_note"].str.contains("small n").all()
    # subject-level AUC with a single lesion-free subject: the estimate, no CI (not 0.5 [0.5, 0.5])
    cases = pd.DataFrame(
        {
            "subject": ["a", "b", "c", "d"],
            "split": "internal_test",
            "truth": "lge",
            "level": "subject",
            "region_id": -1,
            "score": [0.9, 0.4, 0.7, 0.2],
            "lesion": [True, True, True, False],
            "volume_ml": [1.0, 2.0, 3.0, 0.0],
        }
    )
    one_negative, _, _ = roc.roc_table(cases, splits=("internal_test",), n_boot=50)
    auc = one_negative.query("statistic == 'auc'").iloc[0]
    assert auc["estimate"] == 1.0 and np.isnan(auc["ci_low"]) and "fewer than 2" in auc["note"]
    assert not auc["small_n"]
    row = tables.summary_table(agree, one_negative, similarity, splits=("internal_test",))
    row = row.set_index("result").loc["AUC, enhancement probability"]
    row = row[row["level"] == "subject"].iloc[0]
    assert row["internal_test"] == "1.000" and "no CI" in row["internal_test_note"]
