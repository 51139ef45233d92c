"""The whole pipeline on a small demo cohort, as a user runs it: every stage's outputs exist and
agree with each other, no fake PHI anywhere, the HTML report builds, and a single stage reruns
alone. One run (about 3-6 minutes on 2 cores) serves all tests of this module."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from cine2lge.phantom.plan import fake_phi_strings
from tests.phi import file_bytes, token_in
from tests.test_workflow import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]

# demo0001 train, demo0002 internal_test, demo0003 train, demo0004 external_test (siteC).
N_SUBJECTS, SEED = 4, 2026
TEST_SUBJECTS = ("demo0002", "demo0004")


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(repo / "config", workdir / "config")
    # Few diffusion samples and steps: this test is about the pipeline's plumbing, not image
    # quality (that is measured by the demo run and the model card).
    overrides = {
        "subjects": "demo",
        "demo": {"n_subjects": N_SUBJECTS, "seed": SEED},
        "model": {"predict": {"n_samples": 2, "steps": 4}},
    }
    (workdir / "small.yaml").write_text(yaml.safe_dump(overrides))
    # Absolute: Snakemake resolves --configfile against its own working directory, not -d.
    configs = ["--configfile", str(workdir / "config" / "config.yaml"), str(workdir / "small.yaml")]
    result = snakemake(repo, workdir, "--cores", "2", *configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, configs


def test_ingest_qc_lists_every_subject(run):
    workdir, _ = run
    qc = pd.read_csv(workdir / "results" / "ingest" / "qc.tsv", sep="\t")
    assert sorted(qc["subject"]) == [f"demo{i:04d}" for i in range(1, N_SUBJECTS + 1)]


@pytest.mark.parametrize("subject", TEST_SUBJECTS)
def test_predictions_are_on_the_cine_grid(run, subject):
    workdir, _ = run
    results = workdir / "results"
    cine = nib.load(results / "ingest" / subject / "cine.nii.gz")
    lgelike = nib.load(results / "model" / subject / "lgelike.nii.gz")
    probability = nib.load(results / "model" / subject / "enhancement_prob.nii.gz")
    for image in (lgelike, probability):
        assert image.shape == cine.shape[:3]
        np.testing.assert_allclose(image.affine, cine.affine, atol=1e-4)
    values = probability.get_fdata()
    assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
    assert np.isfinite(lgelike.get_fdata()).all()
    slices = pd.read_csv(results / "model" / subject / "slice_probability.tsv", sep="\t")
    assert len(slices) == cine.shape[2] and slices["probability"].between(0, 1).all()


def test_lesion_table_compares_all_sources(run):
    workdir, _ = run
    lesions = pd.read_csv(workdir / "results" / "tables" / "lesions.tsv", sep="\t")
    for subject in TEST_SUBJECTS:
        sources = set(lesions.loc[lesions["subject"] == subject, "source"])
        assert {"lge", "lgelike", "probability", "truth"} <= sources
    burden = lesions[(lesions["region"] == "subject") & (lesions["class"] == "total")]
    assert (burden["volume_ml"] >= 0).all() and burden["percent_lv"].between(0, 100).all()


def test_all_tables_are_indexed(run):
    workdir, _ = run
    index = pd.read_csv(workdir / "results" / "tables" / "all.tsv", sep="\t")
    assert {"lesions", "agreement", "roc", "summary", "table1"} <= set(index["table"])
    for path in index["path"]:
        assert (workdir / path).is_file(), path


def test_no_fake_phi_in_results_logs_or_exported_dicom(run):
    workdir, _ = run
    # results/demo holds the synthetic *source* studies, which carry the fake PHI on purpose.
    sources = workdir / "results" / "demo"
    files = [
        p
        for folder in ("results", "logs", "benchmarks")
        for p in (workdir / folder).rglob("*")
        if p.is_file() and sources not in p.parents
    ]
    assert any(p.suffix == ".dcm" or "dicom" in str(p) for p in files), "no exported DICOM"
    for subject in [f"demo{i:04d}" for i in range(1, N_SUBJECTS + 1)]:
        secrets = [s for s in fake_phi_strings(subject, SEED) if s.lower() != subject.lower()]
        for path in files:
            data = file_bytes(path)
            leaks = [s for s in secrets if token_in(s, data)]
            assert not leaks, f"{path.relative_to(workdir)} contains {leaks}"


def test_html_report_builds(run, repo):
    workdir, configs = run
    result = snakemake(repo, workdir, "--cores", "1", *configs, "--report", "report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert len(html) > 100_000 and "Bland" in html


def test_forcerun_of_one_stage_reruns_only_it_and_its_dependants(run, repo):
    workdir, configs = run
    target = "results/quantify/demo0002/lesions.tsv"
    # The target goes first: --configfile takes every following word.
    result = snakemake(
        repo, workdir, target, "-n", "--quiet", "rules", "--forcerun", "quantify_lesions", *configs
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "quantify_lesions" in output
    for upstream in ("demo_subject", "ingest_cine", "preprocess_subject", "predict_chunk"):
        assert upstream not in output
