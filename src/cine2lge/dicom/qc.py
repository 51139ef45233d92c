"""QC records: one JSON per subject (merged from the cine, LGE, T2 and label parts) and the
cohort table results/ingest/qc.tsv (one row per subject, columns prefixed by role)."""

from __future__ import annotations

import json
from pathlib import Path

from cine2lge.io import atomic_path


def write_json(record: dict, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")


def merge_parts(subject: str, part_paths: list[str | Path]) -> dict:
    """qc.json of a subject: its parts keyed by role (cine, lge, t2, labels), and all warnings."""
    record = {"subject": subject, "warnings": []}
    for path in part_paths:
        part = json.loads(Path(path).read_text())
        record[part["role"]] = part
        record["warnings"] += part.get("warnings", [])
    record["n_warnings"] = len(record["warnings"])
    return record


def _flat(record: dict) -> dict:
    row = {"subject": record["subject"], "n_warnings": record.get("n_warnings", 0)}
    # t2 columns only for subjects with a T2 (the optional role is rare; see qc_table).
    for role in ("cine", "lge", "t2", "labels") if "t2" in record else ("cine", "lge", "labels"):
        part = record.get(role)
        row[f"{role}_present"] = part is not None
        for key, value in (part or {}).items():
            if key in ("role", "warnings"):
                continue
            row[f"{role}_{key}"] = (
                "x".join(map(str, value))
                if key == "shape"
                else json.dumps(value)
                if isinstance(value, list | dict)
                else value
            )
    row["warnings"] = " | ".join(record.get("warnings", []))
    return row


def qc_table(qc_paths: list[str | Path]):
    """pandas DataFrame, one row per subject (pandas imported here: it costs ~1 s at start-up
    of every conversion job otherwise)."""
    import pandas as pd

    table = pd.DataFrame([_flat(json.loads(Path(p).read_text())) for p in qc_paths])
    if "t2_present" in table:
        table["t2_present"] = table["t2_present"].astype("boolean").fillna(False).astype(bool)
    return table


def write_qc_table(qc_paths: list[str | Path], path: str | Path):
    table = qc_table(qc_paths)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table
