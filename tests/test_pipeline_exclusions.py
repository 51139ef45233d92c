"""Issue 15: one failed subject must not cost the cohort its tables. A small demo cohort in which
one subject's cine is corrupt (excluded at ingest) and one subject's label map has no myocardium
(excluded at quantify) still gets every table, figure and the HTML report from the other four,
and both are listed in results/tables/exclusions.tsv with their stage and reason."""

from __future__ import annotations

import collections
import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml

from tests.test_workflow import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_exclusions")]

# demo0001 train, demo0002 internal_test, demo0003 train, demo0004 external_test, demo0005 val,
# demo0006 internal_test: each report split keeps an analysed subject.
N_SUBJECTS = 6
CORRUPT_CINE, NO_MYOCARDIUM = "demo0002", "demo0003"
ANALYSED = ["demo0001", "demo0004", "demo0005", "demo0006"]


def corrupt_cine(study):
    """Truncate the pixel data of every file of the largest series (the short-axis cine)."""
    series = collections.defaultdict(list)
    for path in study.glob("*.dcm"):
        series[pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID].append(path)
    for path in max(series.values(), key=len):
        path.write_bytes(path.read_bytes()[:-50])


def remove_myocardium(labels_path, myocardium):
    image = nib.load(labels_path)
    labels = np.asarray(image.dataobj)
    labels[np.isin(labels, myocardium)] = 0
    nib.save(nib.Nifti1Image(labels, image.affine, image.header), labels_path)


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline_exclusions")
    shutil.copytree(repo / "config", workdir / "config")
    overrides = {
        "subjects": "demo",
        "demo": {"n_subjects": N_SUBJECTS, "seed": 2026},
        "model": {"predict": {"n_samples": 2, "steps": 4}},
        # Localised from the cine, so that a label map without myocardium reaches quantify (the
        # stage of the report) instead of stopping preprocessing's label localisation.
        "preprocess": {"localise_from_labels": False},
    }
    (workdir / "small.yaml").write_text(yaml.safe_dump(overrides))
    configs = ["--configfile", str(workdir / "config" / "config.yaml"), str(workdir / "small.yaml")]
    demo = workdir / "results" / "demo"
    studies = [f"results/demo/{s}/truth/truth.json" for s in (CORRUPT_CINE, NO_MYOCARDIUM)]
    result = snakemake(repo, workdir, *studies, "--cores", "2", *configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    corrupt_cine(demo / CORRUPT_CINE / "dicom")
    myocardium = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["label_schemes"][
        "demo"
    ]["myocardium"]
    remove_myocardium(demo / NO_MYOCARDIUM / "truth" / "labels.nii.gz", myocardium)
    result = snakemake(repo, workdir, "--cores", "2", *configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, configs


def test_both_subjects_are_listed_with_stage_and_reason(run):
    workdir, _ = run
    table = pd.read_csv(workdir / "results/tables/exclusions.tsv", sep="\t")
    assert list(table.columns) == ["subject", "split", "stage", "reason", "log"]
    rows = table.set_index("subject").to_dict("index")
    assert sorted(rows) == [CORRUPT_CINE, NO_MYOCARDIUM]
    corrupt, unlabelled = rows[CORRUPT_CINE], rows[NO_MYOCARDIUM]
    assert (corrupt["split"], corrupt["stage"]) == ("internal_test", "ingest")
    assert "cannot read pixel data" in corrupt["reason"]
    assert corrupt["log"] == f"logs/ingest/{CORRUPT_CINE}.log"
    assert (unlabelled["split"], unlabelled["stage"]) == ("train", "quantify")
    assert "label map has no myocardium labels" in unlabelled["reason"]
    assert unlabelled["reason"] in (workdir / unlabelled["log"]).read_text()


def test_exclusion_is_passed_on_by_the_later_stages(run):
    workdir, _ = run
    for stage in ("preprocess", "segment", "model", "quantify"):
        record = json.loads((workdir / f"results/{stage}/{CORRUPT_CINE}/status.json").read_text())
        assert (record["status"], record["stage"]) == ("excluded", "ingest"), stage
    record = json.loads((workdir / f"results/preprocess/{ANALYSED[0]}/status.json").read_text())
    assert record["status"] == "analysed"


def test_cohort_tables_hold_the_analysed_subjects(run):
    workdir, _ = run
    tables = workdir / "results" / "tables"
    lesions = pd.read_csv(tables / "lesions.tsv", sep="\t")
    assert sorted(set(lesions["subject"])) == ANALYSED
    qc = pd.read_csv(workdir / "results/ingest/qc.tsv", sep="\t")
    assert CORRUPT_CINE not in set(qc["subject"]) and NO_MYOCARDIUM in set(qc["subject"])
    similarity = pd.read_csv(tables / "similarity_slices.tsv", sep="\t")
    assert sorted(set(similarity["subject"])) == ["demo0004", "demo0006"]
    index = pd.read_csv(tables / "all.tsv", sep="\t")
    assert {"exclusions", "lesions", "agreement", "roc", "summary", "table1"} <= set(index["table"])
    for path in index["path"]:
        assert (workdir / path).is_file(), path


def test_summary_counts_analysed_and_excluded_per_split(run):
    workdir, _ = run
    summary = pd.read_csv(workdir / "results/tables/summary.tsv", sep="\t")
    counts = summary.iloc[0]
    assert counts["result"] == "subjects analysed / excluded"
    assert (counts["internal_test"], counts["external_test"]) == ("1 / 1", "1 / 0")


def test_html_report_builds(run, repo):
    workdir, configs = run
    result = snakemake(repo, workdir, "--cores", "1", *configs, "--report", "report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "exclusions.tsv" in (workdir / "report.html").read_text(errors="replace")
