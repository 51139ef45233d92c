"""Mechanics shared by the diffusion and segmentation trainers: AdamW + EMA, resumable
checkpoints (cine2lge.model.checkpoint), the metrics.tsv log and the step loop that logs,
validates, checkpoints and saves on SIGTERM.

A subclass builds its network (after this class seeded torch), hands it to `start_optimiser`,
and supplies what is its own: metadata(), train_step() (one step, ending in `optimise`, returning
the loss to average), train_metrics() of that average, validate(), describe(), and the names
below.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from cine2lge.io import atomic_path
from cine2lge.model import checkpoint as ckpt

METRICS_COLUMNS = ["step", "split", "metric", "value"]


class TrainingPreempted(RuntimeError):
    """SIGTERM (e.g. SLURM preemption) arrived; a checkpoint was saved and the job should rerun."""


def ema_with_warmup(decay: float):
    """EMA update for AveragedModel with the usual warm-up: decay_n = min(decay, (1+n)/(10+n)).

    A fixed 0.999 would keep the exported weights close to the (zero-output) initial network for
    the first thousands of steps, which short CPU runs never get past.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged) -> None:
        n = float(n_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(averaged, current, weight)

    return update


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop checks it between steps and saves before exiting."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def metrics_row(step, split, metric, value) -> dict:
    return {"step": step, "split": split, "metric": metric, "value": value}


class ResumableTrainer:
    """`settings` needs steps, learning_rate(_at), weight_decay, ema_decay, log_every,
    val_every, checkpoint_every and keep_checkpoints; `spec` a from_json classmethod."""

    rule: str  # the workflow rule to rerun after preemption
    job = "training"  # what the preemption message says stopped
    progress_label = "train"
    val_digits = 4  # decimals of the val metrics in the log

    def __init__(self, spec, settings, checkpoint_dir: str | Path, device: torch.device):
        self.spec, self.settings, self.device = spec, settings, device
        self.checkpoint_dir = Path(checkpoint_dir)
        self.metrics_path = self.checkpoint_dir / "metrics.tsv"
        self.step = 0
        torch.manual_seed(settings.seed)  # the initial weights, which the subclass builds next

    @property
    def log(self) -> logging.Logger:
        # Each trainer logs under its own module's name, e.g. cine2lge.segment.train.
        return logging.getLogger(type(self).__module__)

    def start_optimiser(self, model: torch.nn.Module) -> None:
        """Train `model` (on its device, initial weights loaded) with AdamW and an EMA copy."""
        self.model = model
        self.ema = AveragedModel(
            model, multi_avg_fn=ema_with_warmup(self.settings.ema_decay), use_buffers=True
        )
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=self.settings.learning_rate,
            weight_decay=self.settings.weight_decay,
        )

    # -- what a subclass supplies ------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        raise NotImplementedError

    def train_step(self):
        raise NotImplementedError

    def train_metrics(self, mean_loss) -> dict[str, float]:
        """Train rows of the mean of train_step() results since the last log; "loss" first."""
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        raise NotImplementedError

    def describe(self) -> str:
        """What is trained on what, for the log line that starts a run."""
        raise NotImplementedError

    # -- one optimisation step ---------------------------------------------------------------
    def set_learning_rate(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.learning_rate_at(self.step)

    def optimise(self, loss: torch.Tensor, grad_clip: float = 0.0) -> None:
        """Backpropagate `loss`, step the optimiser and the EMA, count the step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.optimizer.step()
        self.ema.update_parameters(self.model)
        self.step += 1

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        return ckpt.save_checkpoint(
            self.checkpoint_dir,
            self.step,
            self.model,
            self.ema,
            self.optimizer,
            self.metadata(),
            keep=self.settings.keep_checkpoints,
        )

    def resume(self) -> bool:
        """Continue from the newest checkpoint in checkpoint_dir, if any."""
        resumed = ckpt.resume_latest(
            self.checkpoint_dir,
            self.spec,
            type(self.spec).from_json,
            self.model,
            self.ema,
            self.optimizer,
            self.metrics_path,
        )
        if resumed is None:
            return False
        target, self.step = resumed
        self.log.info("resumed from %s at step %d", target, self.step)
        return True

    def _append_metrics(self, rows: list[dict]) -> None:
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        header = not self.metrics_path.is_file()
        pd.DataFrame(rows, columns=METRICS_COLUMNS).to_csv(
            self.metrics_path, sep="\t", index=False, header=header, mode="a"
        )

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, weights_path: str | Path, metrics_path: str | Path | None, progress=True):
        """Train (resuming when checkpoint_dir holds a checkpoint) and export the EMA weights;
        returns what export returns."""
        self.resume()
        self.log.info("training %s, from step %d", self.describe(), self.step)
        self.run(progress=progress)
        return self.export(weights_path, metrics_path)

    def run(self, progress: bool = True) -> None:
        s = self.settings
        running, count, started = 0.0, 0, time.monotonic()
        with (
            StopFlag() as stop,
            tqdm(
                total=s.steps,
                initial=self.step,
                desc=self.progress_label,
                disable=not progress,
                mininterval=5,
            ) as bar,
        ):
            while self.step < s.steps:
                running += self.train_step()
                count += 1
                bar.update(1)
                rows = []
                if self.step % s.log_every == 0 or self.step == s.steps:
                    metrics = self.train_metrics(running / count)
                    rows += [metrics_row(self.step, "train", k, v) for k, v in metrics.items()]
                    rows += [
                        metrics_row(
                            self.step, "train", "learning_rate", s.learning_rate_at(self.step - 1)
                        ),
                        metrics_row(
                            self.step,
                            "train",
                            "seconds_per_step",
                            (time.monotonic() - started) / count,
                        ),
                    ]
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}")
                    running, count, started = 0.0, 0, time.monotonic()
                if self.step % s.val_every == 0 or self.step == s.steps:
                    metrics = self.validate()
                    rows += [metrics_row(self.step, "val", k, v) for k, v in metrics.items()]
                    if metrics:
                        self.log.info(
                            "step %d val %s",
                            self.step,
                            " ".join(f"{k}={v:.{self.val_digits}f}" for k, v in metrics.items()),
                        )
                if rows:
                    self._append_metrics(rows)
                saved = None
                if self.step % s.checkpoint_every == 0 or self.step == s.steps:
                    saved = self.save_checkpoint()
                if stop.signal_name:
                    where = saved or self.save_checkpoint()  # this step's, written once
                    raise TrainingPreempted(
                        f"{self.job} stopped by {stop.signal_name} after step {self.step} of"
                        f" {s.steps}; checkpoint saved to {where}; rerun the same command (or"
                        f" the {self.rule} rule) to resume from it"
                    )

    def export(self, weights_path: str | Path, metrics_path: str | Path | None = None) -> None:
        """Write the EMA weights (safetensors + metadata) and a copy of the metrics table."""
        ckpt.save_weights(weights_path, self.ema.module.state_dict(), self.metadata())
        if metrics_path is not None and self.metrics_path.is_file():
            with atomic_path(metrics_path) as tmp:
                tmp.write_bytes(self.metrics_path.read_bytes())
