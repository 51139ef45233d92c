"""Segmentation weights record their inputs; stale checkpoints are not resumed (issue 14)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.segment.net import SegmentSpec
from cine2lge.segment.predict import predict_subject
from cine2lge.segment.train import LabelledSlices, SegmentTrainer, SegmentTrainSettings

from .rings import ring_set

SPEC = SegmentSpec(
    channels=(8, 16), strides=(2,), num_res_units=1, dropout=0.0, image_size=(32, 32)
)
CPU = torch.device("cpu")
PREPROCESS = {"fov_mm": 128, "grid_size": 32, "frames": 4, "intensity_percentiles": [1, 99]}
POSTPROCESS = {"max_closing_px": 2, "min_cavity_px": 4, "max_wall_hole_px": 6}


def _data(n=8, seed=0) -> LabelledSlices:
    images, classes = ring_set(n, 32, seed)
    return LabelledSlices(images, classes, ["S"] * n, list(range(n)))


def _settings(**changes) -> SegmentTrainSettings:
    base = dict(steps=2, batch_size=4, log_every=1, val_every=2, checkpoint_every=1, augment=None)
    return SegmentTrainSettings(**(base | changes))


def test_segment_checkpoints_resume_only_the_same_data_and_settings(tmp_path, caplog):
    torch.set_num_threads(1)
    folder = tmp_path / "ckpt"
    first = SegmentTrainer(SPEC, _settings(), _data(), None, folder, CPU)
    first.train_step()
    first.save_checkpoint()
    cadence = SegmentTrainer(
        SPEC, _settings(log_every=2, keep_checkpoints=3), _data(), None, folder, CPU
    )
    assert cadence.resume() and cadence.step == 1
    other = SegmentTrainer(SPEC, _settings(), _data(seed=5), None, folder, CPU)
    with caplog.at_level("WARNING"):
        assert not other.resume() and other.step == 0
    assert "train_data:" in caplog.text and (tmp_path / "ckpt.stale" / "step-00000001").is_dir()


def test_segment_inference_refuses_weights_of_other_crops(tmp_path, caplog):
    torch.set_num_threads(1)
    trainer = SegmentTrainer(SPEC, _settings(), _data(), None, tmp_path / "ckpt", CPU)
    trainer.inputs = ckpt.input_record(PREPROCESS)
    weights = tmp_path / "segment.safetensors"
    trainer.export(weights)
    assert json.loads(ckpt.read_metadata(weights)["inputs"])["preprocess.fov_mm"] == 128
    paired = tmp_path / "paired.npz"
    np.savez(paired, cine_styx=np.zeros((2, 3, 32, 32), np.float32))

    def run(preprocess):
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        predict_subject(
            "S1",
            paired,
            weights,
            out / "masks.npz",
            out / "qc.tsv",
            0.5,
            POSTPROCESS,
            preprocess=preprocess,
        )

    run({**PREPROCESS, "frames": 3, "pair_tolerance_mm": 9})  # frames is free: one frame at a time
    with pytest.raises(
        ValueError, match=r"trained with preprocess.fov_mm=128 but the config has 96"
    ):
        run({**PREPROCESS, "fov_mm": 96})

    # Weights written before the record: a warning only.
    state, metadata = ckpt.load_weights(weights)
    del metadata["inputs"]
    ckpt.save_weights(weights, state, metadata)
    ckpt.write_sha256(weights)
    with caplog.at_level("WARNING"):
        run({**PREPROCESS, "fov_mm": 96})
    assert "do not record the preprocessing" in caplog.text
