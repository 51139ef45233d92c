"""Demo subjects generated once per test session (8 slices to keep the suite fast)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from cine2lge.phantom.write import write_subject

SEED = 2026
N_SLICES = 8
# demo0001: siteA (Siemens), RCA infarct; demo0008: siteC (Philips, rescaled), LCx infarct.
SUBJECTS = ("demo0001", "demo0008")


def generate(root: Path, subject: str, seed: int = SEED, t2: bool = False) -> dict:
    folder = root / subject
    write_subject(
        subject,
        seed,
        folder / "dicom",
        folder / "truth" / "labels.nii.gz",
        folder / "truth" / "truth.json",
        cine_labels_path=folder / "truth" / "cine_labels.nii.gz",
        n_slices=N_SLICES,
        t2=t2,
    )
    series = defaultdict(list)
    for path in sorted((folder / "dicom").iterdir()):
        dataset = pydicom.dcmread(path)
        series[str(dataset.SeriesInstanceUID)].append((path, dataset))
    return {
        "subject": subject,
        "folder": folder,
        "truth": json.loads((folder / "truth" / "truth.json").read_text()),
        "series": dict(series),
    }


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="session")
def generated(demo_root) -> dict:
    """subject -> {folder, truth, series: SeriesInstanceUID -> [(path, dataset)]}."""
    return {subject: generate(demo_root, subject) for subject in SUBJECTS}


def series_of(record: dict, kind: str) -> list:
    """[(path, dataset)] of one series kind (cine, lge, t2, fourch, localiser) from truth's
    UIDs."""
    return record["series"][record["truth"]["series_instance_uids"][kind]]
