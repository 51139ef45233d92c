"""Report rules on simulated upstream outputs: tables, figures, reader study, HTML report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

TARGETS = [
    "tables",
    "results/figures/roc.png",
    "results/figures/panels_internal_test.png",
    "results/figures/panels_external_test.png",
    "results/readers/answer_key.tsv",
]


def workflow_dir(root, repo, readers_sheets=()):
    """A workdir running only common.smk + report.smk of the repo on simulated results."""
    (root / "config").mkdir(exist_ok=True)
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config["subjects"] = "demo"
    config["report"]["n_bootstrap"] = 200
    config["report"]["readers"]["sheets"] = [str(p) for p in readers_sheets]
    (root / "config/config.yaml").write_text(yaml.safe_dump(config))
    os.symlink(repo / "workflow", root / "workflow")
    (root / "Snakefile").write_text(
        'include: "workflow/rules/common.smk"\ninclude: "workflow/rules/report.smk"\n'
        + SIMULATED_CHUNK_RECORDS
    )
    return root


# The report rules' inputs: the chunk records of the per-subject stages (cine2lge.chunks), here
# made from the simulated status records (tests/report/conftest.py) by one more rule.
SIMULATED_CHUNK_RECORDS = """

rule simulated_chunk_records:
    output:
        ALL_RECORDS,
    run:
        from cine2lge.chunks import SubjectJob, write_record
        from cine2lge.exclusion import read_status

        for stage, chunks in STAGE_CHUNKS.items():
            for name, members in chunks.items():
                jobs = [
                    SubjectJob(subject=s, output={"status": status_of(stage, s)})
                    for s in members
                ]
                statuses = [read_status(job.output["status"]) for job in jobs]
                write_record(f"{CHUNK_RECORDS}/{name}.json", stage, jobs, statuses)
"""


def snakemake(root, *args):
    exe = shutil.which("snakemake", path=os.path.dirname(sys.executable)) or "snakemake"
    return subprocess.run(
        [exe, *args, "--cores", "2"], cwd=root, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_report_stage_end_to_end(simulated_results, repo):
    root = workflow_dir(simulated_results, repo)
    result = snakemake(root, *TARGETS)
    assert result.returncode == 0, result.stderr[-3000:]
    index = pd.read_csv(root / "results/tables/all.tsv", sep="\t")
    assert {"agreement", "roc", "summary", "table1", "similarity"} <= set(index["table"])
    summary = pd.read_csv(root / "results/tables/summary.tsv", sep="\t")
    auc = summary[summary["result"] == "AUC, enhancement probability"]
    assert auc["internal_test_paper"].tolist() == [0.906, 0.906]
    table1 = pd.read_csv(root / "results/tables/table1.tsv", sep="\t")
    overall = table1[table1["by"] == "all"].set_index("split")
    assert overall.loc["internal_test", "n_subjects"] == 4
    assert overall.loc["train", "n_images"] == 6 * 8
    readers = pd.read_csv(root / "results/tables/reader_comparison.tsv", sep="\t")
    assert readers["note"].tolist() == ["no reader sheets given"]
    key = pd.read_csv(root / "results/readers/answer_key.tsv", sep="\t")
    assert len(key) == 8 * 2 * 2  # 8 test subjects x 2 slices x (LGE, LGE-like)
    assert len(list((root / "results/readers/package/images").glob("*.png"))) == len(key)
    for name in ("scatter_subject", "bland_altman_slice", "roc", "calibration", "bullseye"):
        assert (root / f"results/figures/{name}.png").stat().st_size > 5000
    assert (root / "results/figures/readers.png").stat().st_size > 2000  # the note only
    report = snakemake(root, *TARGETS, "--report", str(root / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    assert (root / "report.html").stat().st_size > 100_000
