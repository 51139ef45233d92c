"""Per-subject stages in chunks: one job runs a stage for many subjects (config `subjects_per_job`).

Every per-subject stage (demo, ingest, preprocess, segment, per-subject model outputs, quantify)
runs one Snakemake job per *chunk* of subjects, so imports, model weights and settings are loaded
once per job and the DAG of a large cohort holds a fraction of a job per subject. Outputs stay per
subject (same paths and formats as with one job per subject).

- `chunk_subjects` assigns subjects to chunks: sorted by id, then `size` at a time, so chunk
  membership depends on the set of subjects only (not on the sheet's row order).
- A chunk rule declares each subject's files under indexed names, `<name>__<i>` for the i-th
  subject of `params.subjects` (`indexed` writes them, `subject_jobs` reads them back), so a stage
  script sees one `SubjectJob` per subject with the input, output and log names it had as a
  per-subject rule.
- `run_chunk` runs the stage for each subject in order, each with its own log and its own
  `status.json` (cine2lge.exclusion): an expected data problem excludes that subject only; any
  other exception fails the job with a message naming the subject (`SubjectFailed`).
- With `record`, `run_chunk` ends by writing the chunk's *record* (`write_record`): every
  subject's status record and outputs, written after all of them. Cohort rules take the records
  of their subjects' chunks as inputs, one file per chunk instead of several per subject (the DAG
  of a large cohort builds faster), and read the per-subject files from path patterns
  (`analysed_reads`: the analysed subjects and their files).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cine2lge.exclusion import analysed, run_stage, write_status

log = logging.getLogger("cine2lge.chunks")

INDEX_SEPARATOR = "__"
# The per-subject stages with status records, in pipeline order: a subject's record of the latest
# of them is its final status (each stage passes an upstream exclusion on).
STAGE_ORDER = ("ingest", "preprocess", "segment", "model", "quantify")
_INDEXED = re.compile(rf"^(?P<name>.+){INDEX_SEPARATOR}(?P<index>[0-9]+)$")


class SubjectFailed(RuntimeError):
    """An unexpected error while one subject of a chunk ran: the chunk's job fails."""


def chunk_subjects(
    subjects: Iterable[str], size: int, prefix: str = "chunk", sort: bool = True
) -> dict[str, list]:
    """{"chunk0000": the first `size` subjects in sorted order, "chunk0001": the next, ...}.

    Sorted, not sheet order: a chunk's members depend only on which subjects there are. Adding
    subjects moves the subjects sorted after them into other chunks (their jobs rerun). With
    sort=False the given order is kept (subjects added at the end keep earlier chunks)."""
    if size < 1:
        raise ValueError(f"subjects per job must be >= 1, not {size}")
    unique = dict.fromkeys(subjects)
    ordered = sorted(unique) if sort else list(unique)
    return {f"{prefix}{i // size:04d}": ordered[i : i + size] for i in range(0, len(ordered), size)}


def indexed(per_subject: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """{"<name>__<i>": value} for the i-th subject's {name: value} (a rule's named inputs,
    outputs or logs for a chunk; see `subject_jobs`)."""
    return {
        f"{name}{INDEX_SEPARATOR}{i}": value
        for i, items in enumerate(per_subject)
        for name, value in items.items()
    }


def by_index(items: Iterable[tuple[str, object]], n_subjects: int) -> list[dict[str, object]]:
    """Inverse of `indexed`: one {name: value} per subject; names without an index are ignored."""
    out: list[dict[str, object]] = [{} for _ in range(n_subjects)]
    for key, value in items:
        match = _INDEXED.match(key)
        if match is None:
            continue
        index = int(match["index"])
        if index >= n_subjects:
            raise ValueError(f"{key}: index beyond the chunk's {n_subjects} subjects")
        out[index][match["name"]] = value
    return out


@dataclass
class SubjectJob:
    """One subject's share of a chunk job, named as in a per-subject rule."""

    subject: str
    input: dict[str, object] = field(default_factory=dict)
    output: dict[str, object] = field(default_factory=dict)
    log: str = ""
    params: dict[str, object] = field(default_factory=dict)

    def stage_arguments(self, stage: str, directories: Sequence[str] = ()) -> dict:
        """run_stage's keyword arguments (like cine2lge.exclusion.stage_arguments)."""
        upstream = self.input.get("upstream", [])
        return {
            "stage": stage,
            "subject": self.subject,
            "split": self.params.get("split", ""),
            "outputs": {k: str(v) for k, v in self.output.items() if k != "status"},
            "status": str(self.output["status"]),
            "log_path": self.log,
            "upstream": [upstream] if isinstance(upstream, str) else list(upstream),
            "directories": directories,
        }


def resolve_reads(patterns: Mapping[str, str], subject: str, names=None) -> dict[str, str]:
    """{name: path} of the upstream files a subject's stage reads: `patterns` hold `{subject}`;
    `names` (default: all) are those this subject has."""
    names = list(patterns) if names is None else names
    return {name: patterns[name].replace("{subject}", subject) for name in names}


def subject_jobs(smk) -> list[SubjectJob]:
    """The SubjectJobs of a chunk rule's `snakemake` object: `params.subjects` (the chunk's
    subjects), `params.each` ({subject: per-subject params}), inputs, outputs and logs named
    `<name>__<i>`.

    A chunk rule declares the records of its subjects' upstream chunks as inputs (an upstream
    job writes its record after all of its other outputs, `write_record`), not every upstream
    file it reads: those come from `params.reads` ({name: path pattern with `{subject}`}),
    limited to the names in the subject's `each[subject]["reads"]` when given, and join the
    subject's `input`, as do its upstream status records `each[subject]["upstream"]` (input
    `upstream`, which `SubjectJob.stage_arguments` passes on). Fewer declared inputs keep the
    DAG of large cohorts quick to build."""
    subjects = list(smk.params.subjects)
    each = dict(smk.params.get("each", {}) or {})
    patterns = dict(smk.params.get("reads", {}) or {})
    inputs = by_index(smk.input.items(), len(subjects))
    outputs = by_index(smk.output.items(), len(subjects))
    logs = by_index(smk.log.items(), len(subjects))
    jobs = []
    for i, subject in enumerate(subjects):
        params = dict(each.get(subject, {}))
        reads = resolve_reads(patterns, subject, params.pop("reads", None))
        if "upstream" in params:
            reads["upstream"] = params.pop("upstream")
        jobs.append(
            SubjectJob(
                subject=subject,
                input=reads | inputs[i],
                output=outputs[i],
                log=str(logs[i].get("log", "")),
                params=params,
            )
        )
    return jobs


def run_chunk(
    jobs: Sequence[SubjectJob],
    work: Callable[[SubjectJob], object],
    *,
    stage: str | None = None,
    directories: Sequence[str] = (),
    record: str | Path | None = None,
) -> list[dict]:
    """Run `work(job)` for each subject of a chunk, in order, each logging to its own log.

    With `stage` (a stage with status records), each subject goes through
    cine2lge.exclusion.run_stage: an excluded upstream is passed on, an ExpectedDataProblem
    excludes the subject; the status records are returned, and written to the chunk's `record`
    when given (`write_record`, after every subject). Without, `work` just runs. Any other
    exception stops the chunk: SubjectFailed names the subject (the job fails, Snakemake retries
    it or, with --keep-going, continues with other chunks; no record is written)."""
    if record is not None and stage is None:
        raise ValueError("a chunk record needs the stage (status records)")
    from cine2lge.logs import to_file

    records = []
    for number, job in enumerate(jobs, 1):
        log.info("chunk subject %d/%d: %s", number, len(jobs), job.subject)
        try:
            with to_file(job.log):
                if stage is None:
                    work(job)
                    continue
                records.append(
                    run_stage(lambda job=job: work(job), **job.stage_arguments(stage, directories))
                )
        except Exception as error:
            where = f"stage {stage}" if stage else "chunk"
            raise SubjectFailed(
                f"subject {job.subject} ({where}, {number} of {len(jobs)} in this job; log "
                f"{job.log}): {type(error).__name__}: {error}"
            ) from error
    if record is not None:
        write_record(record, stage, jobs, records)
    return records


def write_record(
    path: str | Path, stage: str, jobs: Sequence[SubjectJob], statuses: Sequence[dict]
) -> None:
    """A chunk's record (JSON, atomic): the stage and, per subject in chunk order, its status
    record and its outputs ({name: path}). Written once every subject's outputs are."""
    if stage not in STAGE_ORDER:
        raise ValueError(f"{stage!r} is not a stage with status records {STAGE_ORDER}")
    subjects = {
        job.subject: {"status": status, "outputs": {k: str(v) for k, v in job.output.items()}}
        for job, status in zip(jobs, statuses, strict=True)
    }
    write_status(path, {"stage": stage, "subjects": subjects})


def read_records(paths: Iterable[str | Path]) -> dict[str, dict[str, dict]]:
    """{stage: {subject: status record}} of chunk records (`write_record`)."""
    by_stage: dict[str, dict[str, dict]] = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        if record.get("stage") not in STAGE_ORDER or not isinstance(record.get("subjects"), dict):
            raise ValueError(f"{path}: not a chunk record")
        statuses = by_stage.setdefault(record["stage"], {})
        for subject, entry in record["subjects"].items():
            statuses[subject] = entry["status"]
    return by_stage


def final_statuses(paths: Iterable[str | Path]) -> dict[str, dict]:
    """{subject: status record} from chunk records: each subject's record of the latest stage
    (STAGE_ORDER) among them. Given the records of each subject's last stage (and maybe of
    earlier ones), that is its final status, which carries any earlier exclusion; given the
    records of one stage, that stage's."""
    by_stage = read_records(paths)
    statuses: dict[str, dict] = {}
    for stage in STAGE_ORDER:
        statuses.update(by_stage.get(stage, {}))
    return statuses


def stage_statuses(subjects: Iterable[str], paths: Iterable[str | Path]) -> list[dict]:
    """Every status record of `subjects` in chunk records, subject by subject (in the given
    order), each subject's stages in STAGE_ORDER (cine2lge.exclusion.exclusion_table lists
    an excluded subject once, at the stage that excluded it)."""
    by_stage = read_records(paths)
    return [
        by_stage[stage][subject]
        for subject in subjects
        for stage in STAGE_ORDER
        if subject in by_stage.get(stage, {})
    ]


def analysed_reads(
    subjects: Sequence[str], record_paths: Iterable[str | Path], patterns: Mapping[str, str]
) -> tuple[list[str], dict[str, list[str]]]:
    """What a cohort rule reads: (its analysed subjects in the given order, {name: each analysed
    subject's path from `patterns`, {subject} filled in}). A subject's status is its final one
    among the chunk records (`final_statuses`)."""
    kept = analysed(subjects, final_statuses(record_paths))
    per_subject = [resolve_reads(patterns, s) for s in kept]
    return kept, {name: [paths[name] for paths in per_subject] for name in patterns}
