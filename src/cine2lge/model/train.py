"""Training loop: DDPM on (LGE, enhancement) conditioned on cine, AdamW + EMA, resumable.

Reproducibility: the batch, augmentation, noise and timesteps of step n are pure functions of
(seed, n) (see data.step_seed), the learning rate is a function of n, and a checkpoint holds
weights, EMA, optimiser and RNG states. So N steps + resume + N steps equals 2N steps.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.data import BatchSource, PairedSlices, step_seed, to_target
from cine2lge.model.net import ModelSpec, build_train_scheduler, build_unet, training_target
from cine2lge.model.runtime import autocast, memory_format
from cine2lge.model.sample import sample_targets
from cine2lge.training import ResumableTrainer, array_digest

log = logging.getLogger("cine2lge.model.train")


@dataclass
class TrainSettings:
    """The config's `model.train` section (documented in config/config.yaml)."""

    steps: int = 4000
    batch_size: int = 8
    learning_rate: float = 4e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 2026
    bf16: bool = False
    log_every: int = 50
    val_every: int = 500
    val_sample_steps: int = 10
    val_max_slices: int = 64
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    extra_dropout: float = 0.3  # chance an extra contrast (T2) of a sample is zeroed
    augment: dict = field(
        default_factory=lambda: {
            "flip_prob": 0.5,
            "rotate90_prob": 0.5,
            "affine_prob": 0.5,
            "rotate_deg": 15.0,
            "scale": 0.1,
            "translate_px": 4.0,
            "noise_prob": 0.3,
            "noise_std": 0.03,
            "gamma_prob": 0.3,
            "gamma": [0.8, 1.25],
            "intensity_scale": 0.1,
        }
    )

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10 % at `steps`."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class Trainer(ResumableTrainer):
    """DDPM on (LGE, enhancement) given cine; the shared mechanics are in ResumableTrainer."""

    rule = "train_model"

    def __init__(
        self,
        spec: ModelSpec,
        settings: TrainSettings,
        train_data: PairedSlices,
        val_data: PairedSlices | None,
        checkpoint_dir: str | Path,
        device: torch.device,
        init_weights: str | Path | None = None,
    ):
        super().__init__(spec, settings, checkpoint_dir, device)
        self.train_data, self.val_data = train_data, val_data
        self.init_weights = init_weights
        model = build_unet(spec)
        if init_weights is not None:  # fine-tune; the EMA starts from these weights too
            load_initial_weights(model, spec, init_weights)
        self.start_optimiser(model.to(device, memory_format=memory_format(device)))
        self.scheduler = build_train_scheduler(spec)
        self.batches = BatchSource(
            train_data, settings.batch_size, settings.seed, settings.augment, settings.extra_dropout
        )

    def metadata(self) -> dict[str, str]:
        return {
            "format": "cine2lge-diffusion-v1",
            "spec": self.spec.to_json(),
            "train_settings": json.dumps(asdict(self.settings), sort_keys=True),
            "step": str(self.step),
        }

    def data_fingerprint(self) -> dict[str, str]:
        """Digests of the slices trained on (condition, LGE and enhancement target of the used
        rows, so label scheme and enhancement classes count too) and of the initial weights.
        The val split is left out: it changes the logged metrics, not the weights."""
        data = self.train_data
        arrays = {"cine": data.cine_styx, "lge": data.lge_syx, "enhancement": data.enhancement_syx}
        arrays.update({f"extra.{name}": image for name, image in data.extras.items()})
        return {
            "train_data": array_digest(arrays, data.rows),
            "init_weights": ckpt.sha256_of(self.init_weights) if self.init_weights else "none",
        }

    # -- one optimisation step ---------------------------------------------------------------
    def noisy_input(self, cine, target, seed):
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(target.shape, generator=generator)
        timesteps = torch.randint(
            0, self.spec.num_train_timesteps, (len(target),), generator=generator
        )
        noisy = self.scheduler.add_noise(target, noise, timesteps)
        wanted = training_target(self.scheduler, target, noise, timesteps)
        fmt = memory_format(self.device)
        network_input = torch.cat([noisy, cine], dim=1).to(self.device, memory_format=fmt)
        return network_input, timesteps.to(self.device), wanted.to(self.device)

    def loss(self, model, cine, target, seed) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and the per-channel MSE (lge, enhancement)."""
        network_input, timesteps, wanted = self.noisy_input(cine, target, seed)
        with autocast(self.device, self.settings.bf16):
            prediction = model(network_input, timesteps)
        per_channel = ((prediction.float() - wanted) ** 2).mean(dim=(0, 2, 3))
        return per_channel.mean(), per_channel.detach()

    def train_step(self) -> torch.Tensor:
        self.model.train()
        cine, target = self.batches.batch(self.step)
        self.set_learning_rate()
        loss, per_channel = self.loss(
            self.model, cine, target, step_seed(self.settings.seed, self.step, stream=3)
        )
        self.optimise(loss, self.settings.grad_clip)
        return per_channel

    def train_metrics(self, mean_loss: torch.Tensor) -> dict[str, float]:
        return {
            "loss": float(mean_loss.mean()),
            "loss_lge": float(mean_loss[0]),
            "loss_enhancement": float(mean_loss[1]),
        }

    def describe(self) -> str:
        val = 0 if self.val_data is None else len(self.val_data)
        params = sum(p.numel() for p in self.model.parameters())
        return (
            f"{self.spec.to_json()} on {len(self.train_data)} slices (val {val}),"
            f" {params} params, device {self.device}"
        )

    # -- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """EMA model on the val split: denoising loss at fixed noise, and sampled metrics."""
        data = self.val_data
        if data is None or len(data) == 0:
            return {}
        model = self.ema.module.eval()
        n = min(len(data), self.settings.val_max_slices)
        cine, lge, enhancement = data.take(np.linspace(0, len(data) - 1, n).round().astype(int))
        cine, target = torch.from_numpy(cine), torch.from_numpy(to_target(lge, enhancement))
        _, per_channel = self.loss(model, cine, target, seed=self.settings.seed)
        sampled = sample_targets(
            model,
            self.spec,
            cine,
            self.settings.val_sample_steps,
            noise_seed=self.settings.seed,
            device=self.device,
            bf16=self.settings.bf16,
        )
        return {
            "loss": float(per_channel.mean()),
            "loss_lge": float(per_channel[0]),
            "loss_enhancement": float(per_channel[1]),
            **sample_metrics(sampled.numpy(), target.numpy()),
        }


def load_initial_weights(model: torch.nn.Module, spec: ModelSpec, weights: str | Path) -> None:
    """Start from trained weights (sha256-checked) of the same architecture and image size.

    Weights trained with fewer conditioning channels (e.g. cine only, now cine + T2) load too:
    the new input channels of the first convolution start at zero, so the network initially
    ignores them and computes what the trained one did.
    """
    ckpt.verify_sha256(weights)
    state, metadata = ckpt.load_weights(weights)
    if "spec" not in metadata:
        raise ValueError(f"initial weights {weights}: no 'spec' metadata (not a cine2lge model)")
    theirs = ModelSpec.from_json(metadata["spec"])
    same_net = replace(
        theirs,
        condition_channels=spec.condition_channels,
        extra_conditions=spec.extra_conditions,
    )
    # New channels may only be appended: same cine frames, their extras a prefix of ours.
    appended = theirs.frames == spec.frames and (
        spec.extra_conditions[: len(theirs.extra_conditions)] == theirs.extra_conditions
    )
    if same_net != spec or not appended:
        raise ValueError(
            f"initial weights {weights}: network {theirs.to_json()} does not fit"
            f" the configured {spec.to_json()} (model.net, preprocess grid/frames)"
        )
    own = model.state_dict()
    for key, value in state.items():
        mine = own.get(key)
        if (
            mine is not None
            and value.ndim == 4
            and value.shape[1] < mine.shape[1]
            and (value.shape[0] == mine.shape[0] and value.shape[2:] == mine.shape[2:])
        ):
            padded = torch.zeros_like(mine)
            padded[:, : value.shape[1]] = value
            state[key] = padded
    model.load_state_dict(state)


def sample_metrics(sampled_bcyx: np.ndarray, target_bcyx: np.ndarray) -> dict[str, float]:
    """LGE mean absolute error (in [0, 1] units), enhancement Dice and slice-level AUC of the
    predicted enhancement area (NaN when the slices are all positive or all negative)."""
    lge_mae = float(np.abs(sampled_bcyx[:, 0] - target_bcyx[:, 0]).mean() / 2)
    predicted, truth = sampled_bcyx[:, 1] > 0, target_bcyx[:, 1] > 0
    overlap = 2 * np.logical_and(predicted, truth).sum()
    total = predicted.sum() + truth.sum()
    dice = float(overlap / total) if total else 1.0
    has_lesion = truth.reshape(len(truth), -1).any(axis=1)
    area = predicted.reshape(len(predicted), -1).sum(axis=1)
    return {"lge_mae": lge_mae, "enhancement_dice": dice, "slice_auc": roc_auc(has_lesion, area)}


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); NaN for one class."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train(
    spec: ModelSpec,
    settings: TrainSettings,
    train_data: PairedSlices,
    val_data: PairedSlices | None,
    checkpoint_dir: str | Path,
    weights_path: str | Path,
    metrics_path: str | Path,
    device: torch.device,
    progress: bool = True,
    init_weights: str | Path | None = None,
    inputs: dict | None = None,
) -> Trainer:
    """Train (resuming when checkpoint_dir holds a checkpoint of this run) and export the EMA
    weights; `init_weights` = fine-tune from these (a resumed run continues from its
    checkpoint); `inputs` = what the data were made with (checkpoint.input_record)."""
    trainer = Trainer(
        spec, settings, train_data, val_data, checkpoint_dir, device, init_weights=init_weights
    )
    trainer.inputs = inputs or {}
    trainer.fit(weights_path, metrics_path, progress=progress)
    return trainer
