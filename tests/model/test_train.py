import os
import signal
from dataclasses import replace

import pandas as pd
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import ModelSpec
from cine2lge.model.runtime import pick_device
from cine2lge.model.train import Trainer, train
from cine2lge.training import TrainingPreempted


def _state(trainer):
    return {
        **{f"model.{k}": v for k, v in trainer.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in trainer.ema.state_dict().items()},
    }


def test_sigterm_saves_and_resume_matches_an_uninterrupted_run(
    tmp_path, tiny_spec, tiny_settings, tiny_dataset, monkeypatch
):
    train_data, val_data = tiny_dataset
    cpu = pick_device(prefer_gpu=False)
    straight = Trainer(tiny_spec, tiny_settings, train_data, val_data, tmp_path / "a", cpu)
    straight.run(progress=False)
    assert straight.step == 6

    # Interrupted run: a real SIGTERM arrives during step 4 (after the step-3 checkpoint).
    interrupted = Trainer(tiny_spec, tiny_settings, train_data, val_data, tmp_path / "b", cpu)
    original = Trainer.train_step

    def step_then_signal(self):
        result = original(self)
        if self.step == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    with pytest.raises(TrainingPreempted, match="SIGTERM after step 4 of 6; checkpoint saved"):
        interrupted.run(progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    assert ckpt.latest_checkpoint(tmp_path / "b").name == "step-00000004"

    resumed = Trainer(tiny_spec, tiny_settings, train_data, val_data, tmp_path / "b", cpu)
    assert resumed.resume() and resumed.step == 4
    resumed.run(progress=False)
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6, rtol=0), key
    # The metrics log has no duplicated rows and the same losses.
    log_a = pd.read_csv(tmp_path / "a" / "metrics.tsv", sep="\t")
    log_b = pd.read_csv(tmp_path / "b" / "metrics.tsv", sep="\t")
    keep = log_a["metric"] != "seconds_per_step"
    assert not log_b.duplicated(["step", "split", "metric"]).any()
    pd.testing.assert_frame_equal(
        log_a[keep].reset_index(drop=True),
        log_b[log_b["metric"] != "seconds_per_step"].reset_index(drop=True),
        atol=1e-6,
    )
    assert set(log_a["split"]) == {"train", "val"}
    assert {"loss", "lge_mae", "enhancement_dice", "slice_auc"} <= set(
        log_a.loc[log_a["split"] == "val", "metric"]
    )


def test_a_checkpoint_of_another_run_is_set_aside(
    tmp_path, tiny_spec, tiny_settings, tiny_dataset, caplog
):
    """Other architecture, other training data, other initial weights, other settings: the
    checkpoint is not resumed (it would export the old run's weights under the new settings)."""
    train_data, val_data = tiny_dataset
    cpu = pick_device(prefer_gpu=False)
    folder = tmp_path / "ckpt"

    def checkpoint_then(spec=tiny_spec, settings=tiny_settings, data=train_data, init=None):
        first = Trainer(tiny_spec, tiny_settings, train_data, None, folder, cpu)
        first.train_step()
        first.save_checkpoint()
        return Trainer(spec, settings, data, None, folder, cpu, init_weights=init)

    same = checkpoint_then()
    assert same.resume() and same.step == 1  # same data and settings: resumed
    init = tmp_path / "init.safetensors"
    ckpt.save_weights(init, same.model.state_dict(), same.weights_metadata())
    ckpt.write_sha256(init)
    for changed, named in [
        ({"spec": ModelSpec(**{**tiny_spec.__dict__, "channels": (16, 16)})}, "spec.channels"),
        ({"data": val_data}, "train_data"),
        ({"init": init}, "init_weights: none -> "),
        ({"settings": replace(tiny_settings, batch_size=2)}, "settings.batch_size: 4 -> 2"),
    ]:
        caplog.clear()
        other = checkpoint_then(**changed)
        assert not other.resume() and other.step == 0, named
        assert named in caplog.text
        assert (tmp_path / "ckpt.stale" / "step-00000001").is_dir() and not folder.exists()


def test_training_decreases_the_loss_and_exports_ema_weights(
    tmp_path, tiny_spec, tiny_settings, tiny_dataset
):
    train_data, val_data = tiny_dataset
    settings = tiny_settings
    settings.steps, settings.learning_rate, settings.log_every = 60, 2e-3, 10
    settings.val_every = settings.checkpoint_every = 60
    settings.augment = None
    weights, metrics = tmp_path / "model.safetensors", tmp_path / "metrics.tsv"
    trainer = train(
        tiny_spec,
        settings,
        train_data,
        val_data,
        tmp_path / "ckpt",
        weights,
        metrics,
        pick_device(prefer_gpu=False),
        progress=False,
    )
    table = pd.read_csv(metrics, sep="\t")
    loss = table[(table["split"] == "train") & (table["metric"] == "loss")]["value"].to_numpy()
    assert loss[-1] < 0.6 * loss[0]
    state, metadata = ckpt.load_weights(weights)
    assert ModelSpec.from_json(metadata["spec"]) == tiny_spec and metadata["step"] == "60"
    for key, value in trainer.ema.module.state_dict().items():
        assert torch.equal(state[key], value)


def test_a_stopped_run_can_be_shipped_from_its_checkpoint(
    tmp_path, tiny_spec, tiny_settings, tiny_dataset
):
    from cine2lge.model.card import ship_weights
    from cine2lge.model.predict import load_model

    train_data, _ = tiny_dataset
    cpu = pick_device(prefer_gpu=False)
    trainer = Trainer(tiny_spec, tiny_settings, train_data, None, tmp_path / "ckpt", cpu)
    trainer.train_step()
    trainer.train_step()
    trainer.save_checkpoint()
    shipped = tmp_path / "weights" / "demo.safetensors"
    ship_weights(tmp_path / "ckpt", shipped, note="stopped early")
    model, spec, metadata = load_model(shipped, torch.device("cpu"))
    assert spec == tiny_spec and metadata["step"] == "2"
    for key, value in trainer.ema.module.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
