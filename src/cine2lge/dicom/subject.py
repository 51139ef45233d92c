"""All roles of one subject in one job (rules ingest_<roles>): cine, LGE, T2 and labels as the
sheet gives them, then the merged qc.json. One job per subject keeps the DAG of large cohorts
small, and the cine, LGE and T2 of one DICOM folder share a single scan of it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cine2lge.dicom.ingest import ingest_labels, ingest_qc, ingest_series
from cine2lge.dicom.outputs import IMAGE_ROLES


def ingest_subject(
    subject: str,
    sources: dict,
    outputs: dict,
    config: dict | None = None,
    series_uids: dict | None = None,
    labels_tolerance_mm: float = 0.1,
    threads: int = 1,
) -> dict:
    """Ingest the roles in `sources` (cine required; lge, t2, labels optional) to the paths of
    `outputs` (names of cine2lge.dicom.outputs.output_patterns). Labels must lie on the LGE
    grid, or on the cine grid for a subject without LGE. Returns the merged QC record."""
    if "cine" not in sources:
        raise ValueError(f"subject {subject}: ingest needs a cine source")
    series_uids = series_uids or {}
    with tempfile.TemporaryDirectory(prefix=f"ingest_{subject}_") as parts_dir:
        parts = []
        for role in IMAGE_ROLES:
            if role in sources:
                parts.append(Path(parts_dir) / f"qc_{role}.json")
                ingest_series(
                    sources[role],
                    subject,
                    role,
                    outputs[role],
                    outputs[f"{role}_json"],
                    parts[-1],
                    config,
                    series_uids.get(role),
                    threads,
                )
        if "labels" in sources:
            parts.append(Path(parts_dir) / "qc_labels.json")
            grid = outputs["lge"] if "lge" in sources else outputs["cine"]
            ingest_labels(
                sources["labels"], grid, subject, outputs["labels"], parts[-1], labels_tolerance_mm
            )
        return ingest_qc(subject, parts, outputs["qc"])
