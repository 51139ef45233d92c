"""Report tables: the one-page summary beside the paper's numbers, and the index of all tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cine2lge.io import atomic_path

SPLITS = ("internal_test", "external_test")

# Cine2LGE (European Radiology 2026), headline results: LGE-like vs real LGE lesion
# quantification (Pearson r) and enhancement-probability AUC, internal / external test sets.
# These are published facts to compare against, not settings, hence not in the config.
PAPER = {
    ("pearson_r", "hyperintense"): {"internal_test": 0.732, "external_test": 0.833},
    ("pearson_r", "intermediate"): {"internal_test": 0.759, "external_test": 0.712},
    ("auc", "total"): {"internal_test": 0.906, "external_test": 0.895},
}
PAPER_NOTE = (
    "paper: 777 images / 129 subjects (internal), 1055 / 198 (external); the paper "
    "numbers are shown beside both of our levels"
)


def format_estimate(estimate, low=np.nan, high=np.nan, digits: int = 3) -> str:
    """'0.732 [0.650, 0.800]', '0.732' without CI, 'n/a' for NaN."""
    if estimate is None or not np.isfinite(estimate):
        return "n/a"
    text = f"{estimate:.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def write_tsv(table: pd.DataFrame, path) -> None:
    """TSV, atomically; floats with 6 significant digits so diffs stay readable."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def summary_table(
    agreement: pd.DataFrame,
    roc: pd.DataFrame,
    similarity: pd.DataFrame,
    splits=SPLITS,
    truth: str = "lge",
    subject_counts: dict | None = None,
) -> pd.DataFrame:
    """One row per headline result, columns per split: ours (with 95 % CI), the paper's, n.

    Slice-level Pearson r and AUC use their subject-clustered bootstrap CIs. With
    `subject_counts` ({split: (analysed, excluded)}) the first row counts the subjects analysed /
    excluded per split (excluded: results/tables/exclusions.tsv).
    """

    def pick(table, **where):
        mask = np.ones(len(table), bool)
        for column, value in where.items():
            mask &= (table[column] == value).to_numpy()
        return table[mask]

    # (result label, class, level, source table, statistic for CI, paper key, ROC truth)
    specs = []
    for lesion_class in ("hyperintense", "intermediate"):
        for level in ("slice", "subject"):
            ci_stat = "pearson_r_clustered" if level == "slice" else "pearson_r"
            specs.append(
                (
                    f"Pearson r, {lesion_class} burden",
                    lesion_class,
                    level,
                    "agreement",
                    ci_stat,
                    ("pearson_r", lesion_class),
                    None,
                )
            )
        specs += [
            (
                f"ICC(2,1), {lesion_class} burden",
                lesion_class,
                "subject",
                "agreement",
                "icc2_1",
                None,
                None,
            ),
            (
                f"OLS slope, {lesion_class} burden",
                lesion_class,
                "subject",
                "agreement",
                "ols_slope",
                None,
                None,
            ),
            (
                f"Bland-Altman bias, {lesion_class} burden",
                lesion_class,
                "subject",
                "agreement",
                "ba_bias",
                None,
                None,
            ),
        ]
    # The AUC against `truth` (default: real-LGE quantification), and against the expert or
    # ground-truth labels where the ROC table has them (the label test is free of the
    # quantification's own false positives).
    auc_truths = [(truth, "AUC, enhancement probability")]
    if truth != "truth" and "truth" in set(roc.get("truth", [])):
        auc_truths.append(("truth", "AUC vs labels, enhancement probability"))
    for auc_truth, label in auc_truths:
        for level in ("slice", "subject"):
            specs.append(
                (
                    label,
                    "total",
                    level,
                    "roc",
                    "auc_clustered" if level == "slice" else "auc",
                    ("auc", "total"),
                    auc_truth,
                )
            )
    rows = []
    if subject_counts is not None:
        row = {"result": "subjects analysed / excluded", "level": "subject"}
        for split in splits:
            analysed, excluded = subject_counts.get(split, (0, 0))
            row[split], row[f"{split}_n"] = f"{analysed} / {excluded}", f"{analysed} subjects"
            row[f"{split}_note"] = "excluded: see exclusions.tsv" if excluded else ""
            row[f"{split}_paper"] = ""
        rows.append(row)
    for label, lesion_class, level, source, statistic, paper_key, roc_truth in specs:
        row = {"result": label, "level": level}
        for split in splits:
            if source == "agreement":
                hit = pick(
                    agreement,
                    split=split,
                    level=level,
                    statistic=statistic,
                    **{"class": lesion_class},
                )
            else:
                hit = pick(roc, split=split, level=level, statistic=statistic, truth=roc_truth)
            if len(hit):
                h = hit.iloc[0]
                row[split] = format_estimate(h["estimate"], h["ci_low"], h["ci_high"])
                row[f"{split}_n"] = f"{int(h['n'])} ({int(h['n_subjects'])} subjects)"
                row[f"{split}_note"] = h["note"] if isinstance(h["note"], str) else ""
            else:
                row[split], row[f"{split}_n"], row[f"{split}_note"] = "n/a", "0", "no data"
            row[f"{split}_paper"] = f"{PAPER[paper_key][split]:.3f}" if paper_key in PAPER else ""
        rows.append(row)
    for metric in ("ssim_crop", "psnr_crop", "mae_crop", "ssim_myo"):
        row = {
            "result": f"{metric.split('_')[0].upper()} ({metric.split('_')[1]}), mean (SD)",
            "level": "subject",
        }
        for split in splits:
            hit = (
                pick(similarity, split=split, level="subject", metric=metric)
                if len(similarity)
                else similarity
            )
            if len(hit) and np.isfinite(hit.iloc[0]["mean"]):
                h = hit.iloc[0]
                sd = f" ({h['sd']:.3f})" if np.isfinite(h["sd"]) else ""
                row[split], row[f"{split}_n"] = f"{h['mean']:.3f}{sd}", f"{int(h['n'])} subjects"
            else:
                row[split], row[f"{split}_n"] = "n/a", "0"
            row[f"{split}_note"], row[f"{split}_paper"] = "", ""
        rows.append(row)
    columns = ["result", "level"] + [
        f"{s}{suffix}" for s in splits for suffix in ("", "_paper", "_n", "_note")
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


TABLE_DESCRIPTIONS = {
    "exclusions": "subjects excluded by an expected data problem: split, stage, reason, log",
    "lesions": "lesion burden per subject x source x class x region (quantify stage)",
    "agreement": "LGE-like vs real LGE: Pearson, OLS, Bland-Altman, ICC per split/class/level",
    "roc": "enhancement probability: AUC, sensitivity/specificity, Brier per split/level",
    "roc_curve": "ROC curve points per split/level",
    "calibration": "reliability diagram bins per split/level",
    "similarity": "SSIM/PSNR/MAE summary per split and level",
    "similarity_slices": "SSIM/PSNR/MAE per slice",
    "table1": "cohort characteristics per split/site/vendor",
    "summary": "one-page summary beside the paper's results",
    "reader_comparison": "reader study: Wilcoxon LGE-like vs real LGE per reader and pooled",
    "reader_agreement": "reader study: inter-reader weighted kappa and ICC",
}


def table_index(paths) -> pd.DataFrame:
    """Index of the result tables: name, path, rows, columns, description."""
    rows = []
    for path in map(Path, paths):
        table = pd.read_csv(path, sep="\t")
        name = path.name.removesuffix(".tsv")
        rows.append(
            {
                "table": name,
                "path": str(path),
                "rows": len(table),
                "columns": len(table.columns),
                "description": TABLE_DESCRIPTIONS.get(name, ""),
            }
        )
    return pd.DataFrame(rows, columns=["table", "path", "rows", "columns", "description"])
