"""Excluded subjects: expected data problems end a subject's analysis, not the cohort's.

A per-subject stage (ingest, preprocess, segment, model, quantify) that meets an *expected* data
problem (an `ExpectedDataProblem`: a series that cannot be read, too few slices, no myocardium,
...; the list is in docs/architecture.md) does not fail its job. `run_stage` catches it and

- writes the stage's `status.json` (atomically): status "excluded", with the subject, split,
  stage, reason (the exception's message) and the stage's log;
- makes every other declared output of the job an *empty* file (an empty folder for folder
  outputs; a PNG that states the reason for `.png` outputs, which the HTML report shows), so
  Snakemake sees a finished job. No consumer reads these: every consumer reads the status first.

Each downstream per-subject stage gets its upstream `status.json` files: an excluded upstream is
passed on (same record, the stage of origin kept) without running the stage. Cohort rules read
the statuses of their subjects and keep the analysed ones (`analysed`), and `write_exclusions`
lists the others in results/tables/exclusions.tsv. Any other exception still fails the job, so
Snakemake's retries and `--keep-going` keep their meaning.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger("cine2lge.exclusion")

ANALYSED, EXCLUDED = "analysed", "excluded"
EXCLUSION_COLUMNS = ["subject", "split", "stage", "reason", "log"]


class ExpectedDataProblem(Exception):
    """A subject's data cannot be analysed (not a bug, not the machine): the subject is excluded.

    The message names the subject, the file and the problem; it becomes the `reason` of
    results/tables/exclusions.tsv. Subclassed by cine2lge.dicom.IngestError,
    cine2lge.quantify.myocardium.MyocardiumUnavailable, LocalisationFailed and PairingFailed.
    """


class LocalisationFailed(ExpectedDataProblem, ValueError):
    """The LV cannot be found (no myocardium in the label map, no LV centre on any cine slice)."""


class PairingFailed(ExpectedDataProblem, ValueError):
    """No cine slice has an LGE slice close enough to pair (preprocess.pair_tolerance_mm)."""


def write_status(path: str | Path, record: dict) -> None:
    """Write a status record (JSON) atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as stream:
        json.dump(record, stream, indent=1)
        stream.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_status(path: str | Path) -> dict:
    record = json.loads(Path(path).read_text())
    if record.get("status") not in (ANALYSED, EXCLUDED):
        raise ValueError(f"{path}: not a stage status record (status {record.get('status')!r})")
    return record


def first_exclusion(status_paths: Iterable[str | Path]) -> dict | None:
    """The first excluded record among upstream status files, or None if all are analysed."""
    for path in status_paths:
        record = read_status(path)
        if record["status"] == EXCLUDED:
            return record
    return None


def _placeholder(path: Path, record: dict, directory: bool) -> None:
    """An excluded subject's output: empty folder, PNG stating the reason, or empty file."""
    if directory:
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.rmdir() if child.is_dir() else child.unlink()
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(4, 1.5))
        text = f"{record['subject']}: excluded at {record['stage']}\n{record['reason'][:200]}"
        figure.text(0.02, 0.5, text, va="center", wrap=True, fontsize=7)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return
    path.write_bytes(b"")


def run_stage(
    work: Callable[[], object],
    *,
    stage: str,
    subject: str,
    split: str,
    outputs: dict[str, str],
    status: str | Path,
    log_path: str,
    upstream: Sequence[str | Path] = (),
    directories: Sequence[str] = (),
) -> dict:
    """Run one subject's stage `work()` unless an upstream status excludes the subject.

    `outputs`: the job's declared outputs other than `status` (name -> path); `directories`:
    names of folder outputs. Returns the status record written to `status`.
    """
    record = first_exclusion(upstream)
    if record is not None:
        log.warning(
            "subject %s: excluded at stage %s (%s); %s passes it on",
            subject,
            record["stage"],
            record["reason"],
            stage,
        )
    else:
        try:
            work()
        except ExpectedDataProblem as problem:
            record = {
                "subject": subject,
                "split": split,
                "stage": stage,
                "status": EXCLUDED,
                "reason": " ".join(str(problem).split()),
                "error": type(problem).__name__,
                "log": log_path,
            }
            log.warning("subject %s: excluded at stage %s: %s", subject, stage, record["reason"])
    if record is None:
        record = {"subject": subject, "split": split, "stage": stage, "status": ANALYSED}
    else:
        for name, path in outputs.items():
            _placeholder(Path(path), record, name in directories)
    write_status(status, record)
    return record


def stage_arguments(smk, stage: str, directories: Sequence[str] = ()) -> dict:
    """run_stage's keyword arguments from a rule's `snakemake` object: outputs but `status`,
    input `upstream` (status files), params `split`, the first log."""
    upstream = smk.input.get("upstream", [])
    return {
        "stage": stage,
        "subject": smk.wildcards.subject,
        "split": smk.params.split,
        "outputs": {k: v for k, v in smk.output.items() if k != "status"},
        "status": smk.output.status,
        "log_path": smk.log[0],
        "upstream": [upstream] if isinstance(upstream, str) else list(upstream),
        "directories": directories,
    }


def status_records(subjects: Sequence[str], statuses) -> list[dict]:
    """Each subject's status record: `statuses` is either status files aligned with `subjects`
    or {subject: record} (from chunk records, cine2lge.chunks.final_statuses)."""
    if isinstance(statuses, Mapping):
        missing = [subject for subject in subjects if subject not in statuses]
        if missing:
            raise ValueError(f"no status record of {len(missing)} subject(s): {missing[:5]}")
        return [statuses[subject] for subject in subjects]
    if len(subjects) != len(statuses):
        raise ValueError(f"{len(subjects)} subjects but {len(statuses)} status files")
    return [read_status(path) for path in statuses]


def analysed(subjects: Sequence[str], statuses) -> list[str]:
    """The subjects (in order) whose status record says analysed (statuses: status_records)."""
    kept = [
        subject
        for subject, record in zip(subjects, status_records(subjects, statuses), strict=True)
        if record["status"] == ANALYSED
    ]
    if len(kept) < len(subjects):
        log.info("%d of %d subjects analysed; the others are excluded", len(kept), len(subjects))
    return kept


def keep_analysed(subjects: Sequence[str], statuses, *aligned: Sequence) -> tuple:
    """(analysed subjects, each of `aligned` limited to them): lists aligned with `subjects`
    (statuses: status_records)."""
    keep = set(analysed(subjects, statuses))
    mask = [s in keep for s in subjects]
    return ([s for s, m in zip(subjects, mask, strict=True) if m],) + tuple(
        [x for x, m in zip(values, mask, strict=True) if m] for values in aligned
    )


def exclusion_table(statuses: Iterable) -> pd.DataFrame:
    """One row per excluded subject (columns EXCLUSION_COLUMNS), in the order first met; a
    record passed on by later stages is listed once, at the stage that excluded it. `statuses`:
    status files or status records."""
    rows = {}
    for status in statuses:
        record = status if isinstance(status, Mapping) else read_status(status)
        if record["status"] == EXCLUDED:
            rows.setdefault(record["subject"], {c: record.get(c, "") for c in EXCLUSION_COLUMNS})
    return pd.DataFrame(list(rows.values()), columns=EXCLUSION_COLUMNS)


def write_exclusions(statuses: Iterable, out_path: str | Path) -> pd.DataFrame:
    """results/tables/exclusions.tsv (exclusion_table): header only when nobody is excluded."""
    from cine2lge.io import atomic_path

    table = exclusion_table(statuses)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    log.info("%d subject(s) excluded", len(table))
    return table


def split_counts(
    split_of: dict[str, str], statuses, splits: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """{split: (analysed, excluded)} over the subjects of `split_of` (statuses: status_records,
    files aligned with split_of's keys or {subject: record})."""
    counts = {split: [0, 0] for split in splits}
    subjects = list(split_of)
    for subject, record in zip(subjects, status_records(subjects, statuses), strict=True):
        split = split_of[subject]
        if split in counts:
            counts[split][record["status"] == EXCLUDED] += 1
    return {split: (a, e) for split, (a, e) in counts.items()}
