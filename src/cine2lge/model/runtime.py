"""Device, precision and thread settings shared by training, sampling and the benchmark."""

from __future__ import annotations

import contextlib

import torch


def pick_device(prefer_gpu: bool = True) -> torch.device:
    """CUDA when present (and wanted), else CPU; nothing ever requires a GPU."""
    return torch.device("cuda" if prefer_gpu and torch.cuda.is_available() else "cpu")


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on the given device type, or a no-op (old CPUs lack fast bf16)."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last helps convolutions on tensor-core GPUs; contiguous is best on CPU."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def set_threads(threads: int | None) -> None:
    """Limit intra-op CPU threads to what the scheduler gave the job."""
    if threads:
        torch.set_num_threads(int(threads))


def resolve_bf16(setting: bool | str, device: torch.device) -> bool:
    """Config value `auto` | true | false -> whether to autocast to bf16 on `device`.

    auto = CUDA only: CPUs without avx512_bf16/AMX emulate bf16 (measured ~20x slower here).
    """
    if setting == "auto":
        return device.type == "cuda"
    return bool(setting)
