"""Reader study: a blinded, randomised reading package and the analysis of returned score sheets.

Package: every selected slice is shown twice, once as real LGE and once as LGE-like, as a
de-identified PNG (pixels only, no metadata) named by a random case code; the answer key (code ->
subject, slice, source) is written apart from the package so readers never see it.

Analysis: per reader and pooled, LGE-like vs real LGE scores of the same slice are compared with
the Wilcoxon signed-rank test. Pooled = the mean score of all readers per image, so each slice
counts once (pooling every reader x slice pair would treat one reader's repeated ratings as
independent). Inter-reader agreement: quadratic weighted Cohen's kappa for every reader pair and
ICC(2,1) over all readers.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from cine2lge.stats.agreement import NAN, icc

LIKERT = (1, 2, 3, 4, 5)
SOURCES = ("lge", "lgelike")


# --- package ------------------------------------------------------------------------------------


def central_slices(n_slices: int, count: int) -> list[int]:
    """`count` slice indices spread over the middle of the stack (apex and base excluded when
    there are enough slices: they are often partial-volume and unreadable)."""
    if n_slices <= 0:
        return []
    count = min(count, n_slices)
    inner = np.arange(1, n_slices - 1) if n_slices > count + 1 else np.arange(n_slices)
    picks = (
        np.linspace(0, len(inner) - 1, count + 2)[1:-1]
        if count < len(inner)
        else np.arange(len(inner))
    )
    return sorted({int(inner[int(round(p))]) for p in picks})


def display_uint8(image_yx: np.ndarray, zoom: int = 4) -> np.ndarray:
    """Window to the 1st-99th percentile, scale to 0-255 and enlarge by `zoom` (nearest)."""
    image = np.asarray(image_yx, dtype=float)
    low, high = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
    scaled = np.clip((image - low) / (high - low), 0, 1) if high > low else np.zeros_like(image)
    return np.kron((scaled * 255).round().astype(np.uint8), np.ones((zoom, zoom), np.uint8))


def reading_cases(subject: str, paired_npz, prediction_npz, slices_per_subject: int):
    """(subject, slice, source, image_yx) for the central slices of one subject."""
    with np.load(paired_npz) as paired, np.load(prediction_npz) as prediction:
        if "lge_syx" not in paired:
            raise ValueError(
                f"{subject}: {paired_npz} has no lge_syx; a reading case needs the real LGE"
            )
        lge, lgelike = paired["lge_syx"], prediction["lgelike_syx"]
        paired_s = paired["paired"] if "paired" in paired else np.ones(len(lge), bool)
    if lge.shape != lgelike.shape:
        raise ValueError(f"{subject}: real LGE {lge.shape} and LGE-like {lgelike.shape} differ")
    # only slices with a real LGE partner (preprocess zeroes the others)
    candidates = np.flatnonzero(paired_s)
    return [
        (subject, int(candidates[k]), source, image[candidates[k]])
        for k in central_slices(len(candidates), slices_per_subject)
        for source, image in (("lge", lge), ("lgelike", lgelike))
    ]


def build_reading_package(cases, package_dir, key_path, items, seed: int = 0, zoom: int = 4):
    """Write images/<code>.png, score_sheet_template.tsv and README.txt to `package_dir`, and the
    answer key (code, subject, slice, source) to `key_path`. Returns the key."""
    from PIL import Image

    package_dir = Path(package_dir)
    (package_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(cases))
    # Codes are drawn at random too, so neither code nor file order tells subject or source.
    numbers = rng.choice(np.arange(1000, 10000), size=len(cases), replace=False)
    key_rows = []
    for code_number, index in zip(numbers, order, strict=True):
        subject, slice_index, source, image = cases[index]
        code = f"C{code_number}"
        Image.fromarray(display_uint8(image, zoom)).save(package_dir / "images" / f"{code}.png")
        key_rows.append(
            {"case_code": code, "subject": subject, "slice": slice_index, "source": source}
        )
    key = pd.DataFrame(key_rows, columns=["case_code", "subject", "slice", "source"])
    template = pd.DataFrame(
        {"reader": "", "case_code": key["case_code"], **{item: "" for item in items}, "comment": ""}
    )
    template.to_csv(package_dir / "score_sheet_template.tsv", sep="\t", index=False)
    (package_dir / "README.txt").write_text(
        "Blinded reading package. For each image in images/, fill one row of\n"
        "score_sheet_template.tsv: your reader id, and a score 1-5 for each item\n"
        "(1 = very poor / severe / not confident ... 5 = excellent / none / fully confident):\n"
        + "".join(f"  - {item}\n" for item in items)
        + "Return the sheet as TSV; do not rename case codes.\n"
    )
    key.to_csv(key_path, sep="\t", index=False)
    return key


# --- analysis -----------------------------------------------------------------------------------


def read_sheets(paths, items) -> pd.DataFrame:
    """Long table reader, case_code, item, score from returned sheets; scores must be 1-5."""
    frames = []
    for path in paths:
        sheet = pd.read_csv(path, sep="\t", dtype={"reader": str, "case_code": str})
        missing = {"case_code", *items} - set(sheet.columns)
        if missing:
            raise ValueError(f"reader sheet {path}: missing column(s) {sorted(missing)}")
        if "reader" not in sheet.columns or sheet["reader"].isna().all():
            sheet["reader"] = Path(path).stem
        for item in items:
            values = pd.to_numeric(sheet[item], errors="coerce")
            bad = sheet.index[values.notna() & ~values.isin(LIKERT)]
            if len(bad):
                raise ValueError(
                    f"reader sheet {path}: row {bad[0] + 2}, column {item!r}: "
                    f"{sheet.loc[bad[0], item]} is not a score 1-5"
                )
            sheet[item] = values
        frames.append(
            sheet.melt(
                id_vars=["reader", "case_code"],
                value_vars=list(items),
                var_name="item",
                value_name="score",
            ).dropna(subset=["score"])
        )
    if not frames:
        return pd.DataFrame(columns=["reader", "case_code", "item", "score"])
    return pd.concat(frames, ignore_index=True)


def _wilcoxon(lgelike: np.ndarray, lge: np.ndarray) -> tuple[float, float, str, str]:
    """(statistic, p, method, note) of the two-sided Wilcoxon signed-rank test."""
    diff = lgelike - lge
    if len(diff) == 0:
        return NAN, NAN, "", "no paired ratings"
    if np.all(diff == 0):
        return NAN, 1.0, "", "all paired differences zero"
    # Exact null distribution without ties or zero differences; otherwise the normal
    # approximation with tie correction (scipy's permutation fallback takes seconds per call).
    nonzero = np.abs(diff[diff != 0])
    exact = len(np.unique(nonzero)) == len(diff) and len(diff) <= 50
    result = stats.wilcoxon(lgelike, lge, method="exact" if exact else "approx")
    method = "exact" if exact else "normal approximation, tie-corrected, zeros dropped"
    return float(result.statistic), float(result.pvalue), method, ""


def compare_sources(scores: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """Per reader and pooled (mean of readers per image): Wilcoxon signed-rank of LGE-like vs
    real LGE scores of the same slice, per item."""
    table = scores.merge(key, on="case_code", how="inner")
    pooled = (
        table.groupby(["case_code", "subject", "slice", "source", "item"], as_index=False)["score"]
        .mean()
        .assign(reader="pooled")
    )
    rows = []
    for reader, by_reader in pd.concat([table, pooled]).groupby("reader", sort=False):
        for item, part in by_reader.groupby("item", sort=False):
            wide = (
                part.pivot_table(index=["subject", "slice"], columns="source", values="score")
                .reindex(columns=list(SOURCES))
                .dropna()
            )
            statistic, p, method, note = _wilcoxon(
                wide["lgelike"].to_numpy(), wide["lge"].to_numpy()
            )
            rows.append(
                {
                    "reader": reader,
                    "item": item,
                    "n_pairs": len(wide),
                    "median_lgelike": wide["lgelike"].median(),
                    "median_lge": wide["lge"].median(),
                    "mean_difference": (wide["lgelike"] - wide["lge"]).mean(),
                    "wilcoxon_statistic": statistic,
                    "p": p,
                    "method": method,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def weighted_kappa(a, b) -> float:
    """Quadratic weighted Cohen's kappa on the 1-5 scale; NaN when undefined (no variation)."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0 or (len(np.unique(a)) == 1 and len(np.unique(b)) == 1):
        return NAN
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(cohen_kappa_score(a, b, labels=list(LIKERT), weights="quadratic"))


def inter_reader_agreement(scores: pd.DataFrame) -> pd.DataFrame:
    """Per item: quadratic weighted kappa for each reader pair, and ICC over all readers,
    on the images every reader scored (both sources together)."""
    rows = []
    for item, part in scores.groupby("item", sort=False):
        wide = part.pivot_table(index="case_code", columns="reader", values="score").dropna()
        readers = list(wide.columns)
        for first, second in itertools.combinations(readers, 2):
            rows.append(
                {
                    "item": item,
                    "readers": f"{first} vs {second}",
                    "n_images": len(wide),
                    "statistic": "kappa_quadratic",
                    "estimate": weighted_kappa(wide[first], wide[second]),
                    "ci_low": NAN,
                    "ci_high": NAN,
                    "note": "",
                }
            )
        values = icc(wide.to_numpy())
        for name in ("icc2_1", "icc3_1"):
            rows.append(
                {
                    "item": item,
                    "readers": "all",
                    "n_images": len(wide),
                    "statistic": name,
                    "estimate": values[name],
                    "ci_low": values[f"{name}_ci_low"],
                    "ci_high": values[f"{name}_ci_high"],
                    "note": values["note"],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "item",
            "readers",
            "n_images",
            "statistic",
            "estimate",
            "ci_low",
            "ci_high",
            "note",
        ],
    )


NO_SHEETS = "no reader sheets given"


def analyse_reader_study(sheet_paths, key: pd.DataFrame, items, min_readers: int = 3):
    """(comparison table, agreement table). Without sheets both tables hold one row whose note
    says so; with fewer than `min_readers` readers the analysis runs and says that too."""
    if not sheet_paths:
        return (
            pd.DataFrame([{"reader": "", "item": "", "note": NO_SHEETS}]),
            pd.DataFrame([{"item": "", "readers": "", "note": NO_SHEETS}]),
        )
    scores = read_sheets(sheet_paths, items)
    unknown = set(scores["case_code"]) - set(key["case_code"])
    if unknown:
        raise ValueError(
            f"reader sheets name case codes not in the answer key: {sorted(unknown)[:5]}"
        )
    comparison = compare_sources(scores, key)
    agreement = inter_reader_agreement(scores)
    n_readers = scores["reader"].nunique()
    if n_readers < min_readers:
        note = f"only {n_readers} reader(s); the study design asks for {min_readers}+"
        comparison["note"] = comparison["note"].where(comparison["note"] != "", note)
        agreement["note"] = agreement["note"].where(agreement["note"] != "", note)
    return comparison, agreement
