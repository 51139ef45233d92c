"""Which ingest outputs a subject has: it depends on its sheet row (`lge`, `myo` optional).

Used by workflow/rules/ingest.smk (rule inputs) and by downstream stages through the Snakemake
helper `ingest_outputs(subject)`, so that subjects without LGE or labels never request them.
"""

from __future__ import annotations

ROOT = "results/ingest"


def ingest_paths(row: dict, subject: str, root: str = ROOT) -> dict[str, str]:
    """Output paths by name: cine, cine_json, qc; lge, lge_json when the row has `lge`;
    labels when it has `myo`."""
    base = f"{root}/{subject}"
    paths = {"cine": f"{base}/cine.nii.gz", "cine_json": f"{base}/cine.json"}
    if row.get("lge"):
        paths |= {"lge": f"{base}/lge.nii.gz", "lge_json": f"{base}/lge.json"}
    if row.get("myo"):
        paths["labels"] = f"{base}/labels.nii.gz"
    paths["qc"] = f"{base}/qc.json"
    return paths


def qc_part_paths(row: dict, subject: str, root: str = ROOT) -> list[str]:
    """The per-role QC parts merged into qc.json."""
    roles = [role for role in ("cine", "lge", "labels") if role in ingest_paths(row, subject)]
    return [f"{root}/{subject}/qc_{role}.json" for role in roles]


def labels_grid_path(row: dict, subject: str, root: str = ROOT) -> str:
    """Labels lie on the LGE grid; a subject without LGE may give them on the cine grid."""
    return f"{root}/{subject}/{'lge' if row.get('lge') else 'cine'}.nii.gz"
