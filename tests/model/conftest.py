"""Tiny models and data so that every model test runs in seconds on 2 CPU cores."""

from __future__ import annotations

import pytest
import torch

from cine2lge.model.data import load_split
from cine2lge.model.net import ModelSpec
from cine2lge.model.synthetic import write_synthetic_split
from cine2lge.model.train import TrainSettings

LABEL_SCHEMES = {
    "demo": {"blood_pool": [1], "myocardium": [2, 4, 5], "intermediate": [4], "hyperintense": [5]},
}
ENHANCEMENT_CLASSES = ["hyperintense", "intermediate"]


@pytest.fixture
def label_schemes() -> dict:
    return LABEL_SCHEMES


@pytest.fixture
def enhancement_classes() -> list[str]:
    return ENHANCEMENT_CLASSES


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models are dominated by per-op overhead; extra threads on shared cores only thrash.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_spec() -> ModelSpec:
    return ModelSpec(
        condition_channels=3,
        channels=(16, 32),
        attention_levels=(False, True),
        num_res_blocks=1,
        norm_num_groups=16,
        num_head_channels=16,
        num_train_timesteps=100,
        image_size=(16, 16),
    )


@pytest.fixture
def tiny_settings() -> TrainSettings:
    return TrainSettings(
        steps=6,
        batch_size=4,
        warmup_steps=2,
        log_every=2,
        val_every=3,
        val_sample_steps=2,
        checkpoint_every=3,
        seed=7,
    )


@pytest.fixture
def tiny_dataset(tmp_path):
    train = write_synthetic_split(tmp_path / "dataset" / "train", n=12, frames=3, size=16, seed=1)
    val = write_synthetic_split(tmp_path / "dataset" / "val", n=4, frames=3, size=16, seed=2)
    return (
        load_split(train, LABEL_SCHEMES, ENHANCEMENT_CLASSES),
        load_split(val, LABEL_SCHEMES, ENHANCEMENT_CLASSES),
    )
