"""The network and noise schedules: a MONAI DiffusionModelUNet conditioned by concatenation.

Channels of the denoised target (TARGET_CHANNELS): 0 = LGE image scaled to [-1, 1],
1 = enhancement mask in {-1, +1}. The condition (cine frames, optionally extra contrasts) is
concatenated after the noisy target, so in_channels = 2 + condition_channels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import torch
from monai.networks.nets import DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

TARGET_CHANNELS = ("lge", "enhancement")
PREDICTION_TYPES = ("sample", "v_prediction", "epsilon")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a trained model; stored in the weights file's metadata."""

    condition_channels: int
    channels: tuple[int, ...] = (32, 64, 128)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = 1
    norm_num_groups: int = 32
    num_head_channels: int = 32
    num_train_timesteps: int = 1000
    schedule: str = "linear_beta"
    prediction_type: str = "sample"
    image_size: tuple[int, int] = (64, 64)
    # Contrasts conditioning the model after the cine frames (e.g. ("t2",)); the last
    # len(extra_conditions) of the condition_channels. Older weights have none.
    extra_conditions: tuple[str, ...] = ()

    def __post_init__(self):
        # Tuples whatever the source (YAML lists, JSON lists), so specs compare equal.
        for name in ("channels", "attention_levels", "image_size", "extra_conditions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if len(self.channels) != len(self.attention_levels):
            problems.append(
                f"channels {self.channels} and attention_levels {self.attention_levels}"
                " must have the same length"
            )
        if any(c % self.norm_num_groups for c in self.channels):
            problems.append(
                f"every channel count {self.channels} must be divisible by norm_num_groups"
                f" {self.norm_num_groups}"
            )
        factor = 2 ** (len(self.channels) - 1)
        if any(s % factor for s in self.image_size):
            problems.append(f"image_size {self.image_size} must be divisible by {factor}")
        if self.prediction_type not in PREDICTION_TYPES:
            problems.append(f"prediction_type {self.prediction_type!r} not in {PREDICTION_TYPES}")
        if self.condition_channels < 1 + len(self.extra_conditions):
            problems.append(
                f"condition_channels {self.condition_channels} must be >= 1 + the"
                f" {len(self.extra_conditions)} extra conditions (at least one cine frame)"
            )
        if problems:
            raise ValueError("invalid model spec: " + "; ".join(problems))

    @classmethod
    def from_config(
        cls, net: dict, diffusion: dict, condition_channels: int, image_size, extra_conditions=()
    ):
        """Build from the config's `model.net` and `model.diffusion` sections."""
        return cls(
            condition_channels=int(condition_channels),
            image_size=tuple(image_size),
            extra_conditions=tuple(extra_conditions),
            **net,
            **diffusion,
        )

    @property
    def frames(self) -> int:
        """Cine frames of the condition."""
        return self.condition_channels - len(self.extra_conditions)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        values = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"model spec has unknown fields {sorted(unknown)}")
        return cls(**values)


def build_unet(spec: ModelSpec) -> DiffusionModelUNet:
    return DiffusionModelUNet(
        spatial_dims=2,
        in_channels=len(TARGET_CHANNELS) + spec.condition_channels,
        out_channels=len(TARGET_CHANNELS),
        channels=spec.channels,
        attention_levels=spec.attention_levels,
        num_res_blocks=spec.num_res_blocks,
        norm_num_groups=spec.norm_num_groups,
        num_head_channels=spec.num_head_channels,
    )


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_train_scheduler(spec: ModelSpec) -> DDPMScheduler:
    """Forward (noising) process used in training; clip_sample keeps x0 in [-1, 1]."""
    return DDPMScheduler(
        num_train_timesteps=spec.num_train_timesteps,
        schedule=spec.schedule,
        prediction_type=spec.prediction_type,
        clip_sample=True,
    )


def build_sampler(spec: ModelSpec, steps: int) -> DDIMScheduler:
    """Deterministic DDIM sampler (eta = 0) with `steps` network evaluations."""
    sampler = DDIMScheduler(
        num_train_timesteps=spec.num_train_timesteps,
        schedule=spec.schedule,
        prediction_type=spec.prediction_type,
        clip_sample=True,
    )
    sampler.set_timesteps(steps)
    return sampler


def training_target(
    scheduler: DDPMScheduler, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the network must output for the configured prediction type."""
    if scheduler.prediction_type == "sample":
        return clean
    if scheduler.prediction_type == "v_prediction":
        return scheduler.get_velocity(clean, noise, timesteps)
    return noise
