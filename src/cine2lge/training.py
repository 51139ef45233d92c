"""Mechanics shared by the diffusion and segmentation trainers: AdamW + EMA, resumable
checkpoints (cine2lge.model.checkpoint), the metrics.tsv log and the step loop that logs,
validates, checkpoints and saves on SIGTERM.

A subclass builds its network (after this class seeded torch), hands it to `start_optimiser`,
and supplies what is its own: metadata(), train_step() (one step, ending in `optimise`, returning
the loss to average), train_metrics() of that average, validate(), describe(),
data_fingerprint() (digests of its training data and initial weights) and the names below.

Every checkpoint and the exported weights carry a fingerprint of what the weights are a function
of: spec, the settings that change them (not the logging/validation/checkpoint cadence, not job
resources, which are no settings at all) and the data digests. A checkpoint whose fingerprint
differs (new subjects, another learning rate, ...) is stale: resuming it would finish the old
run and export its weights under the new settings, so the checkpoint folder is moved aside and
training starts at step 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
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


# Settings that change only what is logged or kept, never the trained weights.
CADENCE_SETTINGS = frozenset(
    {
        "log_every",
        "val_every",
        "val_sample_steps",
        "val_max_slices",
        "checkpoint_every",
        "keep_checkpoints",
    }
)


def settings_dict(settings) -> dict:
    """A settings dataclass (or plain settings object) as a dict of its values."""
    if dataclasses.is_dataclass(settings):
        return dataclasses.asdict(settings)
    names = (n for n in dir(settings) if not n.startswith("_"))
    return {n: getattr(settings, n) for n in names if not callable(getattr(settings, n))}


def array_digest(arrays: dict[str, np.ndarray], rows: np.ndarray | None = None) -> str:
    """sha256 of named arrays (dtype, shape and values; `rows` of each, in order), read in blocks
    of about 64 MB so that a memory-mapped split of any size hashes in bounded memory."""
    digest = hashlib.sha256()
    for name, array in arrays.items():
        n = len(array) if rows is None else len(rows)
        digest.update(f"{name}:{np.dtype(array.dtype).str}:{n}:{array.shape[1:]};".encode())
        row_bytes = max(1, int(np.prod(array.shape[1:])) * np.dtype(array.dtype).itemsize)
        block = max(1, (64 << 20) // row_bytes)
        for start in range(0, n, block):
            part = (
                array[start : start + block] if rows is None else array[rows[start : start + block]]
            )
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def changes(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' of every differing entry (nested dicts by dotted key)."""
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, "absent"), current.get(key, "absent")
        if isinstance(old, dict) and isinstance(new, dict):
            out += changes(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key}: {old} -> {new}")
    return out


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
        # Config values the data were made with (cine2lge.model.checkpoint.input_record), set
        # by the stage entry; recorded in the weights so inference can check its config.
        self.inputs: dict = {}
        self._fingerprint: dict | None = None
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

    def data_fingerprint(self) -> dict[str, str]:
        """Digests of what else the weights depend on: training data, initial weights."""
        return {}

    # -- provenance --------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """What the trained weights are a function of (computed once: it hashes the data)."""
        if self._fingerprint is None:
            settings = settings_dict(self.settings)
            self._fingerprint = {
                "spec": json.loads(self.spec.to_json()),
                "settings": {k: v for k, v in settings.items() if k not in CADENCE_SETTINGS},
                **self.data_fingerprint(),
            }
        return self._fingerprint

    def weights_metadata(self) -> dict[str, str]:
        """The subclass's metadata plus fingerprint, input record and library versions."""
        return {
            **self.metadata(),
            "fingerprint": json.dumps(self.fingerprint(), sort_keys=True),
            **ckpt.provenance(self.inputs),
        }

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
            self.weights_metadata(),
            keep=self.settings.keep_checkpoints,
        )

    def stale_reasons(self, target: Path) -> list[str]:
        """Why checkpoint `target` is not a state of this run (empty: it is)."""
        text = ckpt.read_metadata(target).get("fingerprint")
        if text is None:
            return ["it has no fingerprint (written before cine2lge recorded one)"]
        return changes(json.loads(text), json.loads(json.dumps(self.fingerprint())))

    def set_aside(self, target: Path, reasons: list[str]) -> Path:
        """Move the whole checkpoint folder (checkpoints, metrics.tsv) to `<folder>.stale`,
        replacing an older one: kept for inspection, never resumed."""
        stale = self.checkpoint_dir.with_name(self.checkpoint_dir.name + ".stale")
        shutil.rmtree(stale, ignore_errors=True)
        self.checkpoint_dir.rename(stale)
        self.log.warning(
            "not resuming %s, its run differs from this one (%s); moved %s to %s, training"
            " starts at step 0",
            target,
            "; ".join(reasons),
            self.checkpoint_dir,
            stale,
        )
        return stale

    def resume(self) -> bool:
        """Continue from the newest checkpoint in checkpoint_dir if its fingerprint is this
        run's; a stale one is moved aside (set_aside) and training starts at step 0."""
        target = ckpt.latest_checkpoint(self.checkpoint_dir)
        if target is None:
            return False
        reasons = self.stale_reasons(target)
        if reasons:
            self.set_aside(target, reasons)
            return False
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
        ckpt.save_weights(weights_path, self.ema.module.state_dict(), self.weights_metadata())
        if metrics_path is not None and self.metrics_path.is_file():
            with atomic_path(metrics_path) as tmp:
                tmp.write_bytes(self.metrics_path.read_bytes())
