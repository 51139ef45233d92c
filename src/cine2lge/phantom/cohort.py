"""The demo cohort's subject sheet: which subject is at which site and in which split."""

from __future__ import annotations

import pandas as pd

# Every 4th subject comes from the external site; the others cycle through this split pattern.
# Both depend on the subject index only, so a larger cohort keeps the smaller one's splits and
# shipped weights trained on a large cohort never saw the default cohort's test subjects.
EXTERNAL_SITE = "siteC"
INTERNAL_SITES = ("siteA", "siteB")
SPLIT_PATTERN = ("train", "internal_test", "train", "val", "internal_test", "train")


def demo_subject_id(index: int) -> str:
    return f"demo{index:04d}"


def site_of(index: int) -> str:
    """Site of the demo subject with 1-based index `index`."""
    if index % 4 == 0:
        return EXTERNAL_SITE
    return INTERNAL_SITES[_internal_rank(index) % 2]


def split_of(index: int) -> str:
    """Split of the demo subject with 1-based index `index`."""
    if index % 4 == 0:
        return "external_test"
    return SPLIT_PATTERN[_internal_rank(index) % len(SPLIT_PATTERN)]


def _internal_rank(index: int) -> int:
    """How many internal-site subjects come before `index` (every 4th index is external)."""
    if index < 1:
        raise ValueError(f"demo subject index must be >= 1, got {index}")
    return (index - 1) - (index - 1) // 4


def demo_sheet(n_subjects: int, root: str = "results/demo", t2: bool = False) -> pd.DataFrame:
    """Subject sheet of the synthetic cohort (1-based subject indices 1..n_subjects); with `t2`
    (config demo.t2) a `t2` column naming the study folder, whose T2 series rule demo_subject
    then writes."""
    rows = []
    for index in range(1, n_subjects + 1):
        subject = demo_subject_id(index)
        study = f"{root}/{subject}/dicom"
        rows.append(
            {
                "subject": subject,
                "split": split_of(index),
                "site": site_of(index),
                "cine": study,
                "lge": study,
                **({"t2": study} if t2 else {}),
                "myo": f"{root}/{subject}/truth/labels.nii.gz",
                "label_scheme": "demo",
            }
        )
    return pd.DataFrame(rows)


def demo_index(subject: str) -> int:
    """Inverse of demo_subject_id."""
    if not subject.startswith("demo") or not subject[4:].isdigit():
        raise ValueError(f"{subject!r} is not a demo subject id")
    return int(subject[4:])
