"""Entry points of the model stage's rules: config section + paths in, files out."""

from __future__ import annotations

import logging
from pathlib import Path

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.data import load_split
from cine2lge.model.net import ModelSpec
from cine2lge.model.predict import bound_inputs, predict_chunk
from cine2lge.model.runtime import pick_device, resolve_bf16, set_threads
from cine2lge.model.train import TrainSettings, train

log = logging.getLogger("cine2lge.model")
RUNTIME_KEYS = ("threads", "mem_mb", "runtime_min", "bf16")


def train_settings(model_config: dict, device) -> TrainSettings:
    """TrainSettings from the config's `model` section (without job resources and the rule's
    `init_weights` input); bf16 resolved for `device`."""
    skip = (*RUNTIME_KEYS, "init_weights")
    train_cfg = {k: v for k, v in model_config["train"].items() if k not in skip}
    return TrainSettings(**train_cfg, bf16=resolve_bf16(model_config["train"]["bf16"], device))


def train_model(
    train_dir: str | Path,
    val_dir: str | Path | None,
    weights_path: str | Path,
    metrics_path: str | Path,
    checkpoint_dir: str | Path,
    model_config: dict,
    label_schemes: dict,
    prefer_gpu: bool = True,
    threads: int | None = None,
    progress: bool = True,
    init_weights: str | Path | None = None,
    preprocess: dict | None = None,
) -> None:
    """Train on a dataset split (resuming from checkpoint_dir) and write weights + .sha256;
    `preprocess` (config section the dataset was made with) is recorded in the weights."""
    set_threads(threads)
    device = pick_device(prefer_gpu)
    load = dict(
        label_schemes=label_schemes,
        enhancement_classes=model_config["enhancement_classes"],
        default_scheme=model_config["label_scheme"],
        extra_conditions=model_config.get("extra_conditions", []),
    )
    train_data = load_split(train_dir, **load)
    if len(train_data) == 0:
        raise ValueError(f"dataset split {train_dir}: no labelled paired slices to train on")
    val_data = load_split(val_dir, **load) if val_dir and Path(val_dir).is_dir() else None
    if val_data is None:
        log.warning("no val split at %s: validation metrics are skipped", val_dir)
    spec = ModelSpec.from_config(
        model_config["net"],
        model_config["diffusion"],
        train_data.condition_channels,
        train_data.image_size,
        extra_conditions=list(train_data.extras),
    )
    settings = train_settings(model_config, device)
    manifest = train_data.manifest
    schemes = (
        manifest["label_scheme"].replace("", model_config["label_scheme"])
        if "label_scheme" in manifest
        else [model_config["label_scheme"]]
    )
    inputs = ckpt.input_record(
        preprocess,
        **{
            "model.enhancement_classes": sorted(model_config["enhancement_classes"]),
            "model.label_scheme": model_config["label_scheme"],
            "label_schemes": {name: label_schemes[name] for name in sorted(set(schemes))},
        },
    )
    train(
        spec,
        settings,
        train_data,
        val_data,
        checkpoint_dir,
        weights_path,
        metrics_path,
        device,
        progress=progress,
        init_weights=init_weights,
        inputs=inputs,
    )
    ckpt.write_sha256(weights_path)


def predict_subjects(
    subjects: list[str],
    paired_paths: list[str | Path],
    weights: str | Path,
    out_path: str | Path,
    model_config: dict,
    prefer_gpu: bool = True,
    threads: int | None = None,
    progress: bool = True,
    preprocess: dict | None = None,
    probability_weights: str | Path | None = None,
) -> None:
    """One inference job: all slices of `subjects`, written to one chunk npz. With the config's
    `preprocess` section, weights trained with other preprocessing are refused.
    `probability_weights` (config model.probability_weights, the rule's input): the enhancement
    probability comes from this discriminative cine -> scar network instead of the generator."""
    if not subjects:  # every subject of the chunk excluded upstream (cine2lge.exclusion)
        from cine2lge.io import save_npz

        log.warning("no analysed subject in this chunk: %s is empty", out_path)
        save_npz(out_path)
        return
    set_threads(threads)
    device = pick_device(prefer_gpu)
    cfg = model_config["predict"]
    predict_chunk(
        subjects,
        paired_paths,
        weights,
        out_path,
        device,
        n_samples=cfg["n_samples"],
        steps=cfg["steps"],
        seed=cfg["seed"],
        batch_size=cfg["batch_size"],
        min_area_px=cfg["min_area_px"],
        bf16=resolve_bf16(cfg["bf16"], device),
        progress=progress,
        configured_extra=model_config.get("extra_conditions", []),
        configured_inputs=None
        if preprocess is None
        else bound_inputs(preprocess, model_config["enhancement_classes"]),
        probability_weights=probability_weights,
        configured_preprocess=preprocess,
    )
