"""Chunked per-subject stages (config `subjects_per_job`, cine2lge.chunks): the results do not
depend on the chunk size. The CPU stages and the cohort tables of a tiny demo cohort, run once
with one subject per job and once with three, are byte-identical."""

from __future__ import annotations

import gzip
import shutil

import pytest
import yaml

from tests.test_workflow import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_chunks")]

N_SUBJECTS, SEED = 3, 2026  # demo0001 train, demo0002 internal_test, demo0003 train
TARGETS = [
    "results/ingest/qc.tsv",
    "results/tables/lesions.tsv",
    "results/tables/similarity.tsv",
    "results/tables/similarity_slices.tsv",
    "results/tables/exclusions.tsv",
    "results/model/demo0002/slice_probability.tsv",
]
# Per-subject outputs compared byte for byte (all of them, for every subject of the run).
COMPARED = ("ingest", "preprocess", "model", "segment", "quantify")
# Exported DICOM series get fresh UIDs and dates per run; their pixels are in prediction.npz.
SKIPPED_PARTS = ("lgelike_dicom",)


def run_with_chunks(repo, root, subjects_per_job):
    workdir = root / f"per_job_{subjects_per_job}"
    shutil.copytree(repo / "config", workdir / "config")
    overrides = {
        "subjects": "demo",
        "demo": {"n_subjects": N_SUBJECTS, "seed": SEED},
        "model": {"predict": {"n_samples": 2, "steps": 2}},
        "subjects_per_job": subjects_per_job,
    }
    (workdir / "chunks.yaml").write_text(yaml.safe_dump(overrides))
    configs = [
        "--configfile",
        str(workdir / "config" / "config.yaml"),
        str(workdir / "chunks.yaml"),
    ]
    result = snakemake(repo, workdir, "--cores", "2", *TARGETS, *configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, result.stdout + result.stderr


@pytest.fixture(scope="module")
def runs(repo, tmp_path_factory):
    root = tmp_path_factory.mktemp("chunks")
    return {size: run_with_chunks(repo, root, size) for size in (1, 3)}


def result_files(workdir):
    files = {}
    for stage in COMPARED:
        for path in sorted((workdir / "results" / stage).rglob("*")):
            relative = path.relative_to(workdir)
            if path.is_file() and not set(SKIPPED_PARTS) & set(relative.parts):
                files[str(relative)] = content(path)
    for target in TARGETS:
        files[target] = content(workdir / target)
    return files


def content(path):
    """A file's bytes; for .gz files (NIfTI) the decompressed bytes, as the gzip header of
    labels.nii.gz (written by nibabel) holds the time of writing."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_one_job_per_chunk(runs):
    # Chunks of 3: one preprocess job for the three subjects; chunks of 1: one job each.
    assert runs[3][1].count("rule preprocess_subject_chunk") == 1
    assert runs[1][1].count("rule preprocess_subject_chunk") == N_SUBJECTS


def test_results_are_byte_identical_across_chunk_sizes(runs):
    one, three = result_files(runs[1][0]), result_files(runs[3][0])
    assert sorted(one) == sorted(three)
    assert any(name.endswith("lesions.tsv") for name in one)
    differing = [name for name in one if one[name] != three[name]]
    assert not differing, differing
