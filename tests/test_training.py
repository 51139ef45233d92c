"""The shared trainer mechanics on a toy trainer: fit a line y = x1 + x2."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass

import pandas as pd
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.training import ResumableTrainer, TrainingPreempted


class Settings:
    """The settings ResumableTrainer reads."""

    steps, log_every, val_every, checkpoint_every, keep_checkpoints = 6, 2, 3, 2, 2
    seed, learning_rate, weight_decay, ema_decay = 3, 0.1, 0.0, 0.9

    def learning_rate_at(self, step: int) -> float:
        return self.learning_rate / (1 + step)


@dataclass(frozen=True)
class Spec:
    width: int = 2

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls(**json.loads(text))


class LineFit(ResumableTrainer):
    job, rule = "line fitting", "fit_line"

    def __init__(self, folder, spec: Spec = Spec()):
        super().__init__(spec, Settings(), folder, torch.device("cpu"))
        self.start_optimiser(torch.nn.Linear(spec.width, 1))

    def metadata(self) -> dict[str, str]:
        return {"spec": self.spec.to_json(), "step": str(self.step)}

    def train_step(self) -> float:
        x = torch.randn(8, self.spec.width, generator=torch.Generator().manual_seed(self.step))
        self.set_learning_rate()
        loss = ((self.model(x).squeeze(1) - x.sum(1)) ** 2).mean()
        self.optimise(loss)
        return float(loss.detach())

    def train_metrics(self, mean_loss: float) -> dict[str, float]:
        return {"loss": mean_loss}

    def validate(self) -> dict[str, float]:
        return {"weight_sum": float(self.ema.module.weight.detach().sum())}

    def describe(self) -> str:
        return "a line"


def _metrics(folder) -> pd.DataFrame:
    table = pd.read_csv(folder / "metrics.tsv", sep="\t")
    return table[table["metric"] != "seconds_per_step"].reset_index(drop=True)


def test_fit_logs_validates_checkpoints_and_exports(tmp_path):
    trainer = LineFit(tmp_path / "ckpt")
    trainer.fit(tmp_path / "line.safetensors", tmp_path / "metrics.tsv", progress=False)
    table = pd.read_csv(tmp_path / "metrics.tsv", sep="\t")
    train = table[table["split"] == "train"]
    assert sorted(set(train["step"])) == [2, 4, 6]
    assert list(train.loc[train["step"] == 2, "metric"]) == [
        "loss",
        "learning_rate",
        "seconds_per_step",
    ]
    assert train.loc[train["metric"] == "learning_rate", "value"].iloc[0] == pytest.approx(0.05)
    assert list(table.loc[table["split"] == "val", "step"]) == [3, 6]
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("step-*")) == [
        "step-00000004",
        "step-00000006",
    ]
    state, metadata = ckpt.load_weights(tmp_path / "line.safetensors")
    assert metadata == {"spec": '{"width": 2}', "step": "6"}
    assert torch.equal(state["weight"], trainer.ema.module.weight.detach())


def test_sigterm_saves_and_the_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = LineFit(tmp_path / "a")
    straight.run(progress=False)

    original = LineFit.train_step

    def step_then_signal(self):
        loss = original(self)
        if self.step == 4:  # on a log step, so the train-loss averages line up
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(LineFit, "train_step", step_then_signal)
    with pytest.raises(
        TrainingPreempted,
        match=r"line fitting stopped by SIGTERM after step 4 of 6;.* the fit_line rule",
    ):
        LineFit(tmp_path / "b").run(progress=False)
    monkeypatch.setattr(LineFit, "train_step", original)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    resumed = LineFit(tmp_path / "b")
    assert resumed.resume() and resumed.step == 4
    resumed.run(progress=False)
    for key, value in straight.ema.state_dict().items():
        assert torch.allclose(value.float(), resumed.ema.state_dict()[key].float()), key
    pd.testing.assert_frame_equal(_metrics(tmp_path / "a"), _metrics(tmp_path / "b"))


def test_resume_refuses_another_spec(tmp_path):
    LineFit(tmp_path).save_checkpoint()
    with pytest.raises(ValueError, match="differs from the configured"):
        LineFit(tmp_path, Spec(width=3)).resume()
