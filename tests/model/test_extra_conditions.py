"""T2 (an extra contrast) as conditioning channels after the cine frames: dataset, dropout,
weights metadata, and inference that uses the channel (or zeros it, with a warning)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
import yaml

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.data import BatchSource, load_split
from cine2lge.model.net import ModelSpec
from cine2lge.model.predict import predict_chunk, read_paired
from cine2lge.model.stage import train_model
from cine2lge.model.synthetic import write_synthetic_split

from .conftest import ENHANCEMENT_CLASSES, LABEL_SCHEMES


@pytest.fixture
def t2_split(tmp_path):
    folder = write_synthetic_split(tmp_path / "train", n=12, frames=3, size=16, seed=1, t2=True)
    return load_split(folder, LABEL_SCHEMES, ENHANCEMENT_CLASSES, extra_conditions=["t2"])


def test_t2_follows_the_cine_frames(t2_split):
    condition, _, _ = t2_split.take(np.arange(4))
    assert condition.shape == (4, 4, 16, 16) and t2_split.condition_channels == 4
    np.testing.assert_array_equal(condition[:, :3], t2_split.cine_styx[:4])
    np.testing.assert_array_equal(condition[:, 3], t2_split.extras["t2"][:4])


def test_extra_dropout_zeroes_only_the_extra_channel_reproducibly(t2_split):
    source = BatchSource(t2_split, batch_size=12, seed=3, augment=None, extra_dropout=0.5)
    condition, _ = source.batch(0)
    again, _ = source.batch(0)
    assert torch.equal(condition, again)
    expected, _, _ = t2_split.take(np.sort(source.indices(0)))
    dropped = condition[:, 3].flatten(1).abs().sum(1) == 0
    assert 0 < int(dropped.sum()) < 12  # some samples lose their T2, not all
    np.testing.assert_array_equal(condition[:, :3].numpy(), expected[:, :3])
    np.testing.assert_array_equal(condition[~dropped, 3].numpy(), expected[~dropped.numpy(), 3])
    no_dropout, _ = BatchSource(t2_split, 12, 3, None, extra_dropout=0.0).batch(0)
    np.testing.assert_array_equal(no_dropout.numpy(), expected)


def test_weights_without_extra_conditions_still_load(tiny_spec):
    """Weights written before extra conditions existed have no such field: cine only."""
    old = json.loads(tiny_spec.to_json())
    del old["extra_conditions"]
    spec = ModelSpec.from_json(json.dumps(old))
    assert spec.extra_conditions == () and spec.frames == 3
    with pytest.raises(ValueError, match="at least one cine frame"):
        ModelSpec(condition_channels=1, extra_conditions=("t2",))


def test_trained_with_t2_then_inference_uses_it(tmp_path, repo, caplog):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())["model"]
    config["extra_conditions"] = ["t2"]
    config["net"] = {
        "channels": [16, 32],
        "attention_levels": [False, True],
        "num_res_blocks": 1,
        "norm_num_groups": 16,
        "num_head_channels": 16,
    }
    config["train"] |= {"steps": 4, "log_every": 2, "val_every": 4, "checkpoint_every": 4}
    config["train"]["warmup_steps"] = 2
    train_dir = write_synthetic_split(tmp_path / "train", n=8, frames=3, size=16, t2=True)
    weights = tmp_path / "model.safetensors"
    train_model(
        train_dir,
        None,
        weights,
        tmp_path / "metrics.tsv",
        tmp_path / "ckpt",
        config,
        LABEL_SCHEMES,
        prefer_gpu=False,
        threads=1,
        progress=False,
    )
    spec = ModelSpec.from_json(ckpt.load_weights(weights)[1]["spec"])
    assert spec.extra_conditions == ("t2",) and spec.condition_channels == 4

    rng = np.random.default_rng(0)
    cine = rng.uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
    t2 = rng.uniform(0, 1, (2, 16, 16)).astype(np.float32)
    paths = {"with_t2": tmp_path / "a.npz", "without_t2": tmp_path / "b.npz"}
    np.savez(paths["with_t2"], cine_styx=cine, t2_syx=t2, t2_paired=np.ones(2, bool))
    np.savez(paths["without_t2"], cine_styx=cine)
    np.testing.assert_array_equal(
        read_paired("with_t2", paths["with_t2"], ("t2",))["condition_scyx"][:, 3], t2
    )
    with caplog.at_level(logging.WARNING, logger="cine2lge.model.predict"):
        predict_chunk(
            list(paths),
            list(paths.values()),
            weights,
            tmp_path / "chunk.npz",
            torch.device("cpu"),
            n_samples=1,
            steps=2,
            progress=False,
            configured_extra=["t2"],
        )
    assert "subject without_t2: the model is conditioned on t2" in caplog.text
    assert "subject with_t2" not in caplog.text and "follows the weights" not in caplog.text
    with np.load(tmp_path / "chunk.npz") as chunk:
        # Same cine, T2 present vs zero: the T2 channel changes the prediction.
        difference = np.abs(chunk["with_t2.lgelike_syx"] - chunk["without_t2.lgelike_syx"])
        assert difference.max() > 1e-4
    # A config that forgot extra_conditions: the weights decide, and the log says so.
    with caplog.at_level(logging.WARNING, logger="cine2lge.model.predict"):
        predict_chunk(
            ["with_t2"],
            [paths["with_t2"]],
            weights,
            tmp_path / "chunk2.npz",
            torch.device("cpu"),
            n_samples=1,
            steps=1,
            progress=False,
            configured_extra=[],
        )
    assert "model.extra_conditions is [] but the weights" in caplog.text
