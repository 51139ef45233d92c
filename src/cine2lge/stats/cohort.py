"""Table 1: the cohort per split, site and vendor, from the ingest sidecars and the sheet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

NAN = float("nan")
_AGE_UNIT_YEARS = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def age_years(value) -> float:
    """DICOM Age String ('063Y', '006M', '010W', '005D') or a number, in years; NaN if absent.
    The de-identified '90+' (ages over 89, HIPAA) counts as 90."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return NAN
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*(\d{1,3})\s*([YMWD]?)\s*\+?\s*", str(value).upper())
    if not match:
        return NAN
    return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2) or "Y"]


def subject_record(subject: str, row: dict, sidecars: list, n_images: int) -> dict:
    """One subject's Table-1 fields; the first sidecar that has a field wins (cine, then LGE)."""

    def first(key):
        for sidecar in sidecars:
            if sidecar.get(key) not in (None, ""):
                return sidecar[key]
        return None

    # ingest writes PatientAgeYears (float); PatientAge ('063Y') is read for other sidecars
    ages = [age_years(s.get("PatientAgeYears", s.get("PatientAge"))) for s in sidecars]
    field = first("MagneticFieldStrength")
    sex = first("PatientSex")
    return {
        "subject": subject,
        "split": row.get("split", ""),
        "site": row.get("site", ""),
        "vendor": str(first("Manufacturer") or "unknown").strip() or "unknown",
        "field_strength_t": float(field) if field is not None else NAN,
        "age_years": next((age for age in ages if np.isfinite(age)), NAN),
        "sex": str(sex).upper()[:1] if sex else "",
        "n_images": int(n_images),
    }


def read_records(rows: dict, sidecar_paths: dict, paired_paths: dict) -> pd.DataFrame:
    """Subject records from `{subject: [cine.json, lge.json]}` and `{subject: paired.npz}`; the
    image count is the number of cine/LGE pairs (`paired` flags; all cine slices without LGE)."""
    records = []
    for subject, paths in sidecar_paths.items():
        sidecars = []
        for path in paths:
            try:
                sidecars.append(json.loads(Path(path).read_text()))
            except json.JSONDecodeError as error:
                raise ValueError(f"{subject}: sidecar {path} is not valid JSON: {error}") from error
        with np.load(paired_paths[subject]) as paired:
            if "paired" in paired:  # cine slices with an LGE partner
                n_images = int(np.count_nonzero(paired["paired"]))
            else:
                key = "slice_index" if "slice_index" in paired else "cine_styx"
                n_images = len(paired[key])
        records.append(subject_record(subject, rows[subject], sidecars, n_images))
    return pd.DataFrame(records)


def _describe(group: pd.DataFrame) -> dict:
    age = group["age_years"].dropna()
    sex_known = group["sex"].isin(["F", "M"])
    fields = group["field_strength_t"].dropna()
    return {
        "n_subjects": len(group),
        "n_images": int(group["n_images"].sum()),
        "age_mean": age.mean() if len(age) else NAN,
        "age_sd": age.std(ddof=1) if len(age) > 1 else NAN,
        "age_min": age.min() if len(age) else NAN,
        "age_max": age.max() if len(age) else NAN,
        "age_missing": int(group["age_years"].isna().sum()),
        "n_female": int((group["sex"] == "F").sum()),
        "pct_female": 100 * (group["sex"] == "F").sum() / sex_known.sum()
        if sex_known.any()
        else NAN,
        "sex_missing": int((~sex_known).sum()),
        "field_strength": "; ".join(
            f"{t:g} T: {n}" for t, n in fields.value_counts().sort_index().items()
        ),
        "vendors": "; ".join(f"{v}: {n}" for v, n in group["vendor"].value_counts().items()),
    }


def table1(records: pd.DataFrame, split_order=None) -> pd.DataFrame:
    """Table 1: per split, then per split x site and split x vendor (column `by` says which)."""
    columns = [
        "split",
        "by",
        "group",
        "n_subjects",
        "n_images",
        "age_mean",
        "age_sd",
        "age_min",
        "age_max",
        "age_missing",
        "n_female",
        "pct_female",
        "sex_missing",
        "field_strength",
        "vendors",
    ]
    if records.empty:
        return pd.DataFrame(columns=columns)
    order = list(split_order or []) + [
        s for s in records["split"].unique() if s not in (split_order or [])
    ]
    rows = []
    for split in order:
        part = records[records["split"] == split]
        if part.empty:
            continue
        rows.append({"split": split, "by": "all", "group": "all", **_describe(part)})
        for by in ("site", "vendor"):
            for group, sub in part.groupby(by, sort=True):
                rows.append({"split": split, "by": by, "group": group, **_describe(sub)})
    return pd.DataFrame(rows, columns=columns)
