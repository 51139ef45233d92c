"""Sampling: deterministic DDIM from noise to (LGE-like, enhancement), and K-sample ensembles.

Sample k of every slice starts from the same noise image (seeded by (seed, k)), so a slice's
prediction does not depend on which other slices share its batch or chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from cine2lge.model.net import ModelSpec, build_sampler
from cine2lge.model.runtime import autocast, memory_format


def initial_noise(spec: ModelSpec, seed: int) -> torch.Tensor:
    """(2, H, W) standard normal noise, a pure function of `seed`."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn((2, *spec.image_size), generator=generator)


def _predicted_clean(scheduler, output, sample, alpha_prod):
    """x0 from the network output for the scheduler's prediction type, clipped to [-1, 1]."""
    if scheduler.prediction_type == "sample":
        clean = output
    elif scheduler.prediction_type == "v_prediction":
        clean = alpha_prod.sqrt() * sample - (1 - alpha_prod).sqrt() * output
    else:
        clean = (sample - (1 - alpha_prod).sqrt() * output) / alpha_prod.sqrt()
    return clean.clamp(-1.0, 1.0)


@torch.no_grad()
def sample_targets(
    model: torch.nn.Module,
    spec: ModelSpec,
    cine_btyx: torch.Tensor,
    steps: int,
    noise_seed: int = 0,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    noise_bcyx: torch.Tensor | None = None,
) -> torch.Tensor:
    """DDIM (eta = 0) sampling of the (B, 2, H, W) target in [-1, 1] given cine (B, T, H, W).

    The update uses the scheduler's alphas at the actual next timestep: MONAI's DDIMScheduler.step
    assumes a spacing of num_train_timesteps // steps, which disagrees with its own rounded
    linspace of timesteps whenever the division is not exact.
    """
    device = torch.device(device)
    scheduler = build_sampler(spec, steps)
    alphas = scheduler.alphas_cumprod.to(torch.float32)
    if noise_bcyx is None:
        noise_bcyx = initial_noise(spec, noise_seed).expand(len(cine_btyx), -1, -1, -1)
    fmt = memory_format(device)
    sample = noise_bcyx.to(device, torch.float32).contiguous(memory_format=fmt)
    cine = cine_btyx.to(device, torch.float32).contiguous(memory_format=fmt)
    timesteps = [int(t) for t in scheduler.timesteps]
    for i, t in enumerate(timesteps):
        t_batch = torch.full((len(sample),), t, device=device, dtype=torch.long)
        with autocast(device, bf16):
            output = model(torch.cat([sample, cine], dim=1), t_batch)
        output = output.float()
        alpha = alphas[t].to(device)
        clean = _predicted_clean(scheduler, output, sample, alpha)
        if i + 1 == len(timesteps):
            sample = clean
            break
        alpha_next = alphas[timesteps[i + 1]].to(device)
        noise_estimate = (sample - alpha.sqrt() * clean) / (1 - alpha).sqrt()
        sample = alpha_next.sqrt() * clean + (1 - alpha_next).sqrt() * noise_estimate
    return sample.float().cpu()


@dataclass
class EnsemblePrediction:
    """Per-slice outputs of K samples, all in [0, 1] (axes: slice, y, x)."""

    lgelike_syx: np.ndarray  # mean LGE-like image over the K samples
    enhancement_prob_syx: np.ndarray  # fraction of samples with enhancement at the pixel
    slice_probability_s: np.ndarray  # fraction of samples with >= min_area_px enhanced pixels
    enhancement_area_ks: np.ndarray  # enhanced pixels of each sample (sample, slice)


def ensemble(
    model: torch.nn.Module,
    spec: ModelSpec,
    cine_styx: np.ndarray,
    n_samples: int = 4,
    steps: int = 20,
    seed: int = 0,
    batch_size: int = 32,
    min_area_px: int = 10,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    valid_syx: np.ndarray | None = None,
    progress: bool = True,
) -> EnsemblePrediction:
    """K deterministic samples per slice, batched over (sample, slice) pairs.

    `valid_syx` (optional, bool) marks pixels inside the source image; enhancement outside it
    (crop padding) does not count towards a slice's area.
    """
    cine_styx = np.asarray(cine_styx, dtype=np.float32)
    n_slices = len(cine_styx)
    if cine_styx.shape[1] != spec.condition_channels:
        raise ValueError(
            f"cine has {cine_styx.shape[1]} frames but the model was trained on"
            f" {spec.condition_channels}; set preprocess frames to match the weights"
        )
    if tuple(cine_styx.shape[2:]) != spec.image_size:
        raise ValueError(
            f"cine crop is {cine_styx.shape[2:]} pixels but the model expects {spec.image_size}"
        )
    pairs = [(k, s) for k in range(n_samples) for s in range(n_slices)]
    noises = torch.stack([initial_noise(spec, seed * 1000 + k) for k in range(n_samples)])
    cine = torch.from_numpy(cine_styx)
    samples = torch.empty((n_samples, n_slices, 2, *spec.image_size))
    batches = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    for batch in tqdm(batches, desc="sample", disable=not progress or not batches):
        k_index = torch.tensor([k for k, _ in batch])
        s_index = torch.tensor([s for _, s in batch])
        out = sample_targets(
            model, spec, cine[s_index], steps, device=device, bf16=bf16, noise_bcyx=noises[k_index]
        )
        samples[k_index, s_index] = out
    samples_np = samples.numpy()
    enhanced_ksyx = samples_np[:, :, 1] > 0
    valid = np.ones(enhanced_ksyx.shape[1:], bool) if valid_syx is None else valid_syx
    area_ks = (enhanced_ksyx & valid[None]).sum(axis=(2, 3))
    return EnsemblePrediction(
        lgelike_syx=np.clip((samples_np[:, :, 0].mean(axis=0) + 1) / 2, 0, 1).astype(np.float32),
        enhancement_prob_syx=enhanced_ksyx.mean(axis=0).astype(np.float32),
        slice_probability_s=(area_ks >= min_area_px).mean(axis=0).astype(np.float32),
        enhancement_area_ks=area_ks.astype(np.int32),
    )
