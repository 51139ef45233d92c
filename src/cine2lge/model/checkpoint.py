"""Weights without pickle (safetensors + sha256) and resumable training checkpoints.

A training checkpoint is a folder `step-NNNNNNNN/` holding `model.safetensors` (raw weights),
`ema.safetensors` (EMA weights) and `state.pt` (optimiser state, step, RNG states: tensors and
plain Python values only, read back with torch.load(weights_only=True)). The file `latest`
names the newest complete checkpoint; it is replaced atomically after the folder is complete,
so a job killed while saving resumes from the previous one.

Weights (and checkpoints) describe their inputs: metadata `inputs` holds the config values the
training data were made with (`preprocess.fov_mm`, ..., label scheme and enhancement classes;
input_record) and `versions` the torch/monai/cine2lge versions. Inference calls check_inputs
with the config values its inputs depend on and refuses a mismatch, naming the key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cine2lge.io import atomic_path

LATEST = "latest"
log = logging.getLogger("cine2lge.model.checkpoint")


class WeightsChecksumError(ValueError):
    """A weights file does not match its recorded sha256."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(weights: str | Path) -> Path:
    return Path(f"{weights}.sha256")


def write_sha256(weights: str | Path) -> str:
    """Write `<weights>.sha256` in `sha256sum` format (checkable with `sha256sum -c`)."""
    weights = Path(weights)
    digest = sha256_of(weights)
    with atomic_path(sha256_path(weights)) as tmp:
        tmp.write_text(f"{digest}  {weights.name}\n")
    return digest


def verify_sha256(weights: str | Path) -> str:
    """Check a weights file against its `.sha256` sidecar; raise WeightsChecksumError if not."""
    weights, sidecar = Path(weights), sha256_path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"model weights {weights}: file not found")
    if not sidecar.is_file():
        raise WeightsChecksumError(f"model weights {weights}: checksum file {sidecar} not found")
    expected = sidecar.read_text().split()[0].lower()
    actual = sha256_of(weights)
    if actual != expected:
        raise WeightsChecksumError(
            f"model weights {weights}: sha256 {actual} does not match {expected} recorded in"
            f" {sidecar} (corrupt or replaced file; re-fetch it, or retrain with"
            " model.weights: train)"
        )
    return actual


def save_weights(path: str | Path, state_dict: dict, metadata: dict[str, str]) -> None:
    """Write a state dict as safetensors (atomically) with string metadata."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})


def load_weights(path: str | Path) -> tuple[dict, dict[str, str]]:
    """(state dict, metadata) of a safetensors file."""
    with safe_open(str(path), framework="pt", device="cpu") as stream:
        metadata = dict(stream.metadata() or {})
        tensors = {key: stream.get_tensor(key) for key in stream.keys()}  # noqa: SIM118
    return tensors, metadata


def rng_states() -> dict:
    """Global RNG states of torch, numpy and python as tensors and plain values."""
    np_state = np.random.get_state()  # noqa: NPY002 (saving the global state is the point)
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))  # noqa: NPY002
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    folder: str | Path,
    step: int,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    metadata: dict[str, str],
    keep: int = 2,
) -> Path:
    """Save a complete training state after `step` optimiser steps; keep the newest `keep`."""
    folder = Path(folder)
    target = folder / f"step-{step:08d}"
    partial = folder / f".partial-step-{step:08d}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_weights(partial / "model.safetensors", model.state_dict(), metadata)
    save_weights(partial / "ema.safetensors", ema.state_dict(), metadata)
    torch.save(
        {"step": step, "optimizer": optimizer.state_dict(), "rng": rng_states()},
        partial / "state.pt",
    )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    with atomic_path(folder / LATEST) as tmp:
        tmp.write_text(target.name + "\n")
    for old in sorted(folder.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or None when training has not saved one yet."""
    pointer = Path(folder) / LATEST
    if not pointer.is_file():
        return None
    target = Path(folder) / pointer.read_text().strip()
    if not (target / "state.pt").is_file():
        raise FileNotFoundError(f"checkpoint {pointer} names {target}, which is incomplete")
    return target


def read_metadata(path: str | Path) -> dict[str, str]:
    """Metadata of a safetensors file, or of a checkpoint folder's model weights."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    with safe_open(str(path), framework="pt", device="cpu") as stream:
        return dict(stream.metadata() or {})


def load_checkpoint(
    target: str | Path,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> tuple[int, dict[str, str]]:
    """Restore model, EMA, optimiser and RNG states in place; return (step, metadata)."""
    target = Path(target)
    weights, metadata = load_weights(target / "model.safetensors")
    model.load_state_dict(weights)
    ema.load_state_dict(load_weights(target / "ema.safetensors")[0])
    state = torch.load(target / "state.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_states(state["rng"])
    return int(state["step"]), metadata


def ema_weights_of_checkpoint(target: str | Path) -> tuple[dict, dict[str, str]]:
    """The EMA network weights of a checkpoint folder (or of the newest one in a checkpoint
    directory) as a plain state dict, ready for save_weights, and its metadata."""
    target = Path(target)
    if (target / LATEST).is_file():
        target = latest_checkpoint(target)
    state, metadata = load_weights(target / "ema.safetensors")
    prefix = "module."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return weights, read_metadata(target)


def resume_latest(
    folder, configured_spec, spec_from_json, model, ema, optimizer, metrics_path: str | Path
) -> tuple[Path, int] | None:
    """Load the newest checkpoint in `folder` into model, EMA and optimiser, after checking its
    stored spec equals `configured_spec`; drop rows of `metrics_path` logged after it (the resumed
    run logs them again). Returns (checkpoint, step), or None when there is no checkpoint."""
    import pandas as pd  # only here: keeps the checkpoint module light for inference imports

    target = latest_checkpoint(folder)
    if target is None:
        return None
    saved = spec_from_json(read_metadata(target)["spec"])
    if saved != configured_spec:
        raise ValueError(
            f"checkpoint {target}: spec {saved} differs from the configured {configured_spec};"
            f" delete {folder} to start again"
        )
    step, _ = load_checkpoint(target, model, ema, optimizer)
    metrics_path = Path(metrics_path)
    if metrics_path.is_file():
        table = pd.read_csv(metrics_path, sep="\t")
        with atomic_path(metrics_path) as tmp:
            table[table["step"] <= step].to_csv(tmp, sep="\t", index=False)
    return target, step


def library_versions() -> dict[str, str]:
    import monai

    import cine2lge

    return {
        "torch": torch.__version__,
        "monai": monai.__version__,
        "cine2lge": cine2lge.__version__,
    }


def input_record(preprocess: dict | None = None, **values) -> dict:
    """{dotted config key: value} of what the training data were made with: every key of the
    `preprocess` section (as `preprocess.<key>`) and `values` (e.g. model.enhancement_classes)."""
    record = {f"preprocess.{k}": v for k, v in (preprocess or {}).items()}
    record.update(values)
    return json.loads(json.dumps(record, sort_keys=True))  # plain JSON values (lists, not tuples)


def provenance(inputs: dict) -> dict[str, str]:
    """Metadata entries `inputs` (when known) and `versions` of weights being written."""
    entries = {"versions": json.dumps(library_versions(), sort_keys=True)}
    if inputs:
        entries["inputs"] = json.dumps(inputs, sort_keys=True)
    return entries


def check_inputs(weights: str | Path, metadata: dict[str, str], configured: dict) -> None:
    """Refuse a config whose `configured` values ({dotted key: value}, input_record form)
    differ from those the weights were trained with; weights without a record (trained before
    cine2lge recorded one) only get a warning."""
    if "inputs" not in metadata:
        log.warning(
            "weights %s do not record the preprocessing they were trained with (older weights):"
            " %s cannot be checked against the config",
            weights,
            ", ".join(sorted(configured)),
        )
        return
    recorded = json.loads(metadata["inputs"])
    configured = json.loads(json.dumps(configured))
    wrong = [
        key for key in sorted(configured) if key in recorded and recorded[key] != configured[key]
    ]
    if wrong:
        raise ValueError(
            f"weights {weights} were trained with "
            + "; ".join(f"{k}={recorded[k]} but the config has {configured[k]}" for k in wrong)
            + " (set the config to the weights' values, or retrain)"
        )
    unknown = [key for key in sorted(configured) if key not in recorded]
    if unknown:
        log.warning("weights %s do not record %s: not checked", weights, ", ".join(unknown))
