"""Sampling throughput of the diffusion model (a benchmark, not a test).

Prints slices/s (one slice = one sample of `--steps` network evaluations), time per network
evaluation and peak memory for fp32 vs bf16 autocast and a batch-size sweep; on CUDA also
channels_last and torch.compile, and the achieved fraction of the GPU's bf16 peak.

    python bench/model.py                       # architecture from config/config.yaml
    python bench/model.py --size 128 --batches 8 32 --steps 20 --frames 25
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch
import yaml

from cine2lge.model.net import ModelSpec, build_unet, count_parameters
from cine2lge.model.runtime import memory_format
from cine2lge.model.sample import sample_targets

H100_BF16_DENSE_TFLOPS = 989.0  # nominal dense bf16 tensor-core peak (SXM)


def forward_flops(model, spec, batch: int, device) -> float:
    """FLOPs of one network evaluation (torch's counter; multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(batch, 2 + spec.condition_channels, *spec.image_size, device=device)
    t = torch.zeros(batch, dtype=torch.long, device=device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, t)
    return float(counter.get_total_flops())


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS


def run(model, spec, device, batch, steps, bf16, repeats, compiled=False):
    cine = torch.rand(batch, spec.condition_channels, *spec.image_size)
    net = torch.compile(model) if compiled else model
    sample_targets(net, spec, cine, steps=min(steps, 2), device=device, bf16=bf16)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        sample_targets(net, spec, cine, steps=steps, device=device, bf16=bf16)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    return batch / seconds, seconds / steps, peak_memory_mb(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--size", type=int, help="crop pixels (default: preprocess.grid_size)")
    parser.add_argument("--frames", type=int, help="cine frames (default: preprocess.frames)")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: config)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["fp32", "bf16"],
        help="fp32 and/or bf16 (CUDA adds channels_last and compile variants)",
    )
    args = parser.parse_args()

    config = yaml.safe_load(Path(args.config).read_text())
    model_cfg, preprocess = config["model"], config.get("preprocess", {})
    size = args.size or preprocess.get("grid_size", 64)
    frames = args.frames or preprocess.get("frames", 8)
    steps = args.steps or model_cfg["predict"]["steps"]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    spec = ModelSpec.from_config(model_cfg["net"], model_cfg["diffusion"], frames, (size, size))
    model = build_unet(spec).to(device).eval()
    print(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'},"
        f" {torch.get_num_threads()} threads), {count_parameters(model) / 1e6:.2f} M params,"
        f" {size}x{size}, T={frames}, {steps} steps"
    )
    print(f"{'variant':<28}{'batch':>6}{'slices/s':>10}{'s/eval':>9}{'peak MB':>9}{'%peak':>7}")
    variants = [("fp32", False, False, False)] if "fp32" in args.variants else []
    if "bf16" in args.variants:
        variants.append(("bf16 autocast", True, False, False))
    if device.type == "cuda" and "bf16" in args.variants:
        variants += [
            ("bf16 channels_last", True, True, False),
            ("bf16 channels_last compile", True, True, True),
        ]
    for name, bf16, channels_last, compiled in variants:
        net = model.to(
            memory_format=torch.channels_last
            if channels_last
            else memory_format(torch.device("cpu"))
        )
        for batch in args.batches:
            slices_per_s, per_eval, peak = run(
                net, spec, device, batch, steps, bf16, args.repeats, compiled
            )
            fraction = ""
            if device.type == "cuda" and bf16:
                tflops = forward_flops(model, spec, batch, device) / per_eval / 1e12
                fraction = f"{100 * tflops / H100_BF16_DENSE_TFLOPS:.1f}"
            print(
                f"{name:<28}{batch:>6}{slices_per_s:>10.2f}{per_eval:>9.4f}{peak:>9.0f}"
                f"{fraction:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
