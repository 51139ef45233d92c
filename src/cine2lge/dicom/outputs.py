"""Which ingest outputs a subject has: it depends on its sheet row (`lge`, `t2`, `myo` optional).

Used by workflow/rules/ingest.smk (one rule per role set, see `subjects_by_roles`) and by
downstream stages through the Snakemake helper `ingest_outputs(subject)`, so that subjects
without LGE, T2 or labels never request them.
"""

from __future__ import annotations

import re

ROOT = "results/ingest"
# Sheet column of each ingest role; `cine` is required (sheet schema), the others optional.
# Role order (cine, lge, t2, labels) names the rules: ingest_cine_lge_t2_labels.
ROLE_COLUMNS = {"cine": "cine", "lge": "lge", "t2": "t2", "labels": "myo"}
# Roles converted from images (a NIfTI or a series of a DICOM study), each with a sidecar.
IMAGE_ROLES = ("cine", "lge", "t2")


def subject_roles(row: dict) -> tuple[str, ...]:
    """The roles a sheet row gives: cine always, lge with `lge`, t2 with `t2`, labels with
    `myo`."""
    return tuple(role for role, column in ROLE_COLUMNS.items() if role == "cine" or row.get(column))


def output_patterns(roles: tuple[str, ...], subject: str = "{subject}", root: str = ROOT) -> dict:
    """Output paths by name for a subject with these roles: cine, cine_json; lge, lge_json;
    t2, t2_json; labels; qc (the merged QC record). With the default `subject` they are rule
    patterns."""
    base = f"{root}/{subject}"
    paths = {}
    for role in IMAGE_ROLES:
        if role in roles:
            paths |= {role: f"{base}/{role}.nii.gz", f"{role}_json": f"{base}/{role}.json"}
    if "labels" in roles:
        paths["labels"] = f"{base}/labels.nii.gz"
    paths["qc"] = f"{base}/qc.json"
    return paths


def ingest_paths(row: dict, subject: str, root: str = ROOT) -> dict[str, str]:
    """Output paths by name: cine, cine_json, qc; lge, lge_json when the row has `lge`;
    t2, t2_json when it has `t2`; labels when it has `myo`."""
    return output_patterns(subject_roles(row), subject, root)


def ingest_sources(row: dict) -> dict[str, str]:
    """Input paths by role (cine; lge, t2, labels where the row gives them) of the ingest job."""
    return {role: row[ROLE_COLUMNS[role]] for role in subject_roles(row)}


def series_uids(row: dict) -> dict[str, str]:
    """Explicit SeriesInstanceUIDs by role (optional sheet columns cine_series, lge_series,
    t2_series)."""
    return {role: row.get(f"{role}_series", "") or "" for role in IMAGE_ROLES}


def subjects_by_roles(rows: dict[str, dict]) -> dict[tuple[str, ...], list[str]]:
    """Subjects grouped by role set, in sheet order: one ingest rule per role set, because a
    Snakemake rule has a fixed list of outputs."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for subject, row in rows.items():
        groups.setdefault(subject_roles(row), []).append(subject)
    return groups


def subjects_regex(subjects: list[str]) -> str:
    """A wildcard constraint matching exactly these subject ids."""
    return "|".join(re.escape(s) for s in subjects) if subjects else "(?!)"
