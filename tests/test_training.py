"""The shared trainer mechanics on a toy trainer: fit a line y = x1 + x2."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.training import ResumableTrainer, TrainingPreempted, array_digest


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

    def __init__(self, folder, spec: Spec = Spec(), offset: float = 0.0, **settings):
        overridden = Settings()
        for name, value in settings.items():
            setattr(overridden, name, value)
        super().__init__(spec, overridden, folder, torch.device("cpu"))
        self.offset = offset  # the "data": targets are x1 + x2 + offset
        self.start_optimiser(torch.nn.Linear(spec.width, 1))

    def data_fingerprint(self) -> dict[str, str]:
        return {"train_data": array_digest({"offset": np.array([self.offset])})}

    def metadata(self) -> dict[str, str]:
        return {"spec": self.spec.to_json(), "step": str(self.step)}

    def train_step(self) -> float:
        x = torch.randn(8, self.spec.width, generator=torch.Generator().manual_seed(self.step))
        self.set_learning_rate()
        loss = ((self.model(x).squeeze(1) - x.sum(1) - self.offset) ** 2).mean()
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
    assert {k: metadata[k] for k in ("spec", "step")} == {"spec": '{"width": 2}', "step": "6"}
    fingerprint = json.loads(metadata["fingerprint"])
    assert fingerprint["spec"] == {"width": 2} and fingerprint["settings"]["steps"] == 6
    assert "log_every" not in fingerprint["settings"]  # cadence does not change the weights
    assert set(json.loads(metadata["versions"])) == {"torch", "monai", "cine2lge"}
    assert "inputs" not in metadata  # no input record given
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


def _checkpoint_after_two_steps(folder) -> LineFit:
    first = LineFit(folder)
    first.train_step()
    first.train_step()
    first._append_metrics([{"step": 2, "split": "train", "metric": "loss", "value": 1.0}])
    first.save_checkpoint()
    return first


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"spec": Spec(width=3)}, "spec.width: 2 -> 3"),
        ({"offset": 1.0}, "train_data: "),  # other data
        ({"learning_rate": 0.2}, "settings.learning_rate: 0.1 -> 0.2"),
        ({"steps": 8}, "settings.steps: 6 -> 8"),  # the LR schedule spans `steps`
    ],
)
def test_a_checkpoint_of_other_data_or_settings_is_set_aside(tmp_path, caplog, changed, named):
    _checkpoint_after_two_steps(tmp_path / "ckpt")
    other = LineFit(tmp_path / "ckpt", **changed)
    with caplog.at_level("WARNING"):
        assert not other.resume()
    assert other.step == 0
    assert named in caplog.text and "training starts at step 0" in caplog.text
    stale = tmp_path / "ckpt.stale"
    assert (stale / "step-00000002").is_dir() and (stale / "metrics.tsv").is_file()
    assert not (tmp_path / "ckpt").exists()  # the new run logs and checkpoints afresh
    other.run(progress=False)
    table, steps = _metrics(tmp_path / "ckpt"), other.settings.steps
    assert set(table["step"]) == {*range(2, steps + 1, 2), *range(3, steps + 1, 3)}
    assert not ((table["metric"] == "loss") & (table["value"] == 1.0)).any()  # old row gone


def test_the_same_data_and_settings_resume_also_with_another_cadence(tmp_path):
    first = _checkpoint_after_two_steps(tmp_path / "ckpt")
    again = LineFit(tmp_path / "ckpt", log_every=1, val_every=5, checkpoint_every=1)
    assert again.resume() and again.step == 2
    assert again.fingerprint() == first.fingerprint()
    assert not (tmp_path / "ckpt.stale").exists()


def test_a_checkpoint_without_fingerprint_is_not_resumed(tmp_path):
    trainer = LineFit(tmp_path / "ckpt")
    trainer.train_step()
    ckpt.save_checkpoint(
        tmp_path / "ckpt", 1, trainer.model, trainer.ema, trainer.optimizer, trainer.metadata()
    )
    assert not LineFit(tmp_path / "ckpt").resume()
    assert (tmp_path / "ckpt.stale" / "step-00000001").is_dir()


def test_array_digest_sees_values_rows_and_dtype():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert array_digest({"a": a}) == array_digest({"a": a.copy()})
    assert array_digest({"a": a}, np.array([0, 2])) == array_digest({"a": a[[0, 2]]})
    assert array_digest({"a": a}) != array_digest({"a": a.astype(np.float64)})
    changed = a.copy()
    changed[2, 3] += 1
    assert array_digest({"a": a}) != array_digest({"a": changed})
