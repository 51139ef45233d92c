import copy
import json

import numpy as np
import pandas as pd
import torch
import yaml

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.stage import predict_subjects, train_model
from cine2lge.model.synthetic import synthetic_slices, write_synthetic_split


def test_config_section_trains_and_predicts(tmp_path, repo):
    """The shipped config's model section drives both entry points (with a tiny network)."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    model = copy.deepcopy(config["model"])
    model["net"] = {
        "channels": [16, 32],
        "attention_levels": [False, True],
        "num_res_blocks": 1,
        "norm_num_groups": 16,
        "num_head_channels": 16,
    }
    model["train"].update(steps=3, log_every=1, val_every=3, checkpoint_every=2, val_sample_steps=2)
    model["predict"].update(n_samples=2, steps=2)
    train_dir = write_synthetic_split(tmp_path / "train", n=8, frames=2, size=16, seed=1)
    val_dir = write_synthetic_split(tmp_path / "val", n=4, frames=2, size=16, seed=2)
    weights = tmp_path / "out" / "model.safetensors"
    train_model(
        train_dir,
        val_dir,
        weights,
        tmp_path / "out" / "metrics.tsv",
        tmp_path / "out" / "checkpoints",
        model,
        config["label_schemes"],
        threads=1,
        progress=False,
    )
    assert ckpt.verify_sha256(weights)
    metrics = pd.read_csv(tmp_path / "out" / "metrics.tsv", sep="\t")
    assert metrics["step"].max() == 3 and (metrics["split"] == "val").any()

    # Fine-tuning (config train.init_weights -> the rule's input): a run that cannot move the
    # weights (learning rate ~0) exports the weights it started from.
    frozen = copy.deepcopy(model)
    frozen["train"].update(steps=1, learning_rate=1e-30, warmup_steps=1)
    tuned = tmp_path / "tuned" / "model.safetensors"
    train_model(
        train_dir,
        None,
        tuned,
        tmp_path / "tuned" / "metrics.tsv",
        tmp_path / "tuned" / "checkpoints",
        frozen,
        config["label_schemes"],
        threads=1,
        progress=False,
        init_weights=weights,
    )
    start, end = ckpt.load_weights(weights)[0], ckpt.load_weights(tuned)[0]
    assert start.keys() == end.keys()
    assert all(np.allclose(start[k].numpy(), end[k].numpy(), atol=1e-6) for k in start)

    paired = tmp_path / "s1" / "paired.npz"
    paired.parent.mkdir()
    np.savez(
        paired, cine_styx=synthetic_slices(3, frames=2, size=16)["cine"], slice_index=np.arange(3)
    )
    chunk = tmp_path / "chunk0000.npz"
    predict_subjects(["s1"], [paired], weights, chunk, model, threads=1, progress=False)
    with np.load(chunk) as arrays:
        probability = arrays["s1.enhancement_prob_syx"]
        assert probability.shape == (3, 16, 16)
        assert set(np.unique(probability)) <= {0.0, 0.5, 1.0}  # K = 2 samples


def test_reruns_resume_the_same_data_and_settings_only(tmp_path, repo, caplog):
    """A resources-only change keeps the fingerprint (resumed at the last step, same weights);
    new training subjects do not (the checkpoints are set aside, training restarts)."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    model = copy.deepcopy(config["model"])
    model["net"] = {
        "channels": [16],
        "attention_levels": [False],
        "num_res_blocks": 1,
        "norm_num_groups": 16,
        "num_head_channels": 16,
    }
    model["train"].update(steps=2, log_every=1, val_every=2, checkpoint_every=2)
    preprocess = {**config["preprocess"], "grid_size": 16, "frames": 2}
    out = tmp_path / "out"

    def run(section, train_dir):
        train_model(
            train_dir,
            None,
            out / "model.safetensors",
            out / "metrics.tsv",
            out / "checkpoints",
            section,
            config["label_schemes"],
            threads=1,
            progress=False,
            preprocess=preprocess,
        )
        return ckpt.load_weights(out / "model.safetensors")

    train_dir = write_synthetic_split(tmp_path / "train", n=6, frames=2, size=16, seed=1)
    weights, metadata = run(model, train_dir)
    inputs = json.loads(metadata["inputs"])
    assert inputs["preprocess.grid_size"] == 16 and inputs["preprocess.fov_mm"] == 128
    assert inputs["model.enhancement_classes"] == sorted(model["enhancement_classes"])
    assert list(inputs["label_schemes"]) == ["demo"]

    resources = copy.deepcopy(model)
    resources["train"].update(threads=8, mem_mb=64000, runtime_min=1, log_every=2)
    with caplog.at_level("INFO"):
        again, metadata_again = run(resources, train_dir)
    assert "resumed from" in caplog.text and not (out / "checkpoints.stale").exists()
    assert metadata_again["fingerprint"] == metadata["fingerprint"]
    assert all(torch.equal(weights[k], again[k]) for k in weights)

    more = write_synthetic_split(tmp_path / "more", n=8, frames=2, size=16, seed=1)
    caplog.clear()
    with caplog.at_level("INFO"):
        _, metadata_more = run(model, more)
    assert "train_data:" in caplog.text and (out / "checkpoints.stale").is_dir()
    assert metadata_more["fingerprint"] != metadata["fingerprint"]
