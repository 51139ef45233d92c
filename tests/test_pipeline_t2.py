"""T2 through the whole pipeline, as config/t2_demo.yaml runs it (on 4 subjects and a few
training steps): the phantom's T2-STIR is chosen as the T2 (not as the LGE), cropped on the
cine slices, stored in the dataset, and the fine-tuned model is conditioned on it."""

from __future__ import annotations

import json
import re
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import ModelSpec
from tests.test_workflow import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_t2")]

TRAIN_SUBJECTS, TEST_SUBJECTS = ("demo0001", "demo0003"), ("demo0002", "demo0004")


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline_t2")
    shutil.copytree(repo / "config", workdir / "config")
    overrides = {
        "demo": {"n_subjects": 4, "seed": 2026, "t2": True},
        "model": {
            "predict": {"n_samples": 2, "steps": 2},
            "train": {"steps": 4, "warmup_steps": 2, "log_every": 2, "checkpoint_every": 4},
        },
    }
    (workdir / "small.yaml").write_text(yaml.safe_dump(overrides))
    configs = [str(workdir / "config" / name) for name in ("config.yaml", "t2_demo.yaml")]
    result = snakemake(
        repo,
        workdir,
        "--cores",
        "2",
        "results/tables/lesions.tsv",
        "--configfile",
        *configs,
        str(workdir / "small.yaml"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def test_t2_is_ingested_apart_from_the_lge(run):
    """The T2-STIR has an InversionTime like the LGE: it must still not be taken as the LGE."""
    config = yaml.safe_load((run / "config/config.yaml").read_text())["ingest"]
    for subject in (*TRAIN_SUBJECTS, *TEST_SUBJECTS):
        t2 = json_of(run / f"results/ingest/{subject}/t2.json")
        lge = json_of(run / f"results/ingest/{subject}/lge.json")
        assert t2["SeriesInstanceUIDHash"] != lge["SeriesInstanceUIDHash"]
        assert re.search(config["t2_description"], t2["SeriesDescription"])
        assert re.search(config["lge_description"], lge["SeriesDescription"])
        assert nib.load(run / f"results/ingest/{subject}/t2.nii.gz").ndim == 3


def test_dataset_and_weights_carry_the_t2_channel(run):
    manifest = pd.read_csv(run / "results/dataset/train/manifest.tsv", sep="\t")
    assert set(manifest["subject"]) == set(TRAIN_SUBJECTS) and manifest["has_t2"].all()
    t2 = np.load(run / "results/dataset/train/t2_nyx.npy")
    assert t2.shape[0] == len(manifest) and 0 <= t2.min() and t2.max() <= 1 and t2.std() > 0.05
    spec = ModelSpec.from_json(
        ckpt.load_weights(run / "results/model/train/model.safetensors")[1]["spec"]
    )
    assert spec.extra_conditions == ("t2",) and spec.frames == 8


def test_inference_is_conditioned_on_t2(run):
    logs = "".join(p.read_text() for p in (run / "logs/model").glob("chunk*.log"))
    assert "condition cine x 8 + t2" in logs and "is zero" not in logs
    for subject in TEST_SUBJECTS:
        with np.load(run / f"results/preprocess/{subject}/paired.npz") as paired:
            assert paired["t2_paired"].sum() >= 0.5 * len(paired["t2_paired"])
        assert (run / f"results/model/{subject}/lgelike.nii.gz").is_file()


def json_of(path):
    return json.loads(path.read_text())
