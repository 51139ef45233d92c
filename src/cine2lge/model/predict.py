"""Inference: one model load per chunk of subjects, then per-subject outputs.

predict_chunk batches all slices of all subjects of a chunk (GPU when present) and writes one
npz; write_subject_outputs (CPU, per subject) maps the crop-space predictions back to the
original cine grid and writes NIfTI, the slice table and the DICOM series.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from cine2lge.io import atomic_path, save_nifti, save_npz
from cine2lge.model import checkpoint as ckpt
from cine2lge.model.data import stack_condition
from cine2lge.model.export_dicom import source_series_hashes, write_lgelike_series
from cine2lge.model.net import ModelSpec, build_unet
from cine2lge.model.runtime import memory_format
from cine2lge.model.sample import ensemble

log = logging.getLogger("cine2lge.model.predict")
PER_SUBJECT = ("lgelike_syx", "enhancement_prob_syx", "slice_probability_s", "enhancement_area_ks")
# Preprocess keys the cine crops fed to the model depend on: they must equal the weights'.
# Free: pair_tolerance_mm, registration (they pair/align the LGE with the cine, for training
# only) and localise_from_labels (how the LV centre of a crop is found, per subject).
BOUND_PREPROCESS = ("fov_mm", "grid_size", "frames", "intensity_percentiles")


def bound_inputs(preprocess: dict, enhancement_classes: list[str]) -> dict:
    """The config values inference must share with the weights (checkpoint.check_inputs); the
    enhancement classes say what the predicted probability means."""
    return ckpt.input_record(
        {k: preprocess[k] for k in BOUND_PREPROCESS},
        **{"model.enhancement_classes": sorted(enhancement_classes)},
    )


def load_model(
    weights: str | Path, device: torch.device, verify: bool = True
) -> tuple[torch.nn.Module, ModelSpec, dict]:
    """The network in eval mode on `device`, its spec and the weights' metadata.

    With `verify`, the file must match its `.sha256` sidecar (WeightsChecksumError otherwise).
    """
    if verify:
        ckpt.verify_sha256(weights)
    state, metadata = ckpt.load_weights(weights)
    if "spec" not in metadata:
        raise ValueError(f"model weights {weights}: no 'spec' metadata (not a cine2lge model)")
    spec = ModelSpec.from_json(metadata["spec"])
    model = build_unet(spec)
    model.load_state_dict(state)
    model = model.to(device, memory_format=memory_format(device)).eval()
    return model, spec, metadata


def load_probability_net(
    weights: str | Path,
    device: torch.device,
    image_size: tuple[int, int],
    configured_preprocess: dict | None = None,
) -> tuple[torch.nn.Module, str]:
    """The discriminative cine -> scar network of `model.probability_weights` (format
    cine2lge.quantify.learned.WEIGHTS_FORMAT, one input channel: `train.py cinescar`) in eval
    mode, and a description of it for the outputs. `configured_preprocess` (the config's
    preprocess section) must match the crop geometry and intensity scaling the weights record
    (frames are free: the network reads one frame)."""
    from cine2lge.quantify.learned import load_scar_model

    ckpt.verify_sha256(weights)  # a corrupt file: WeightsChecksumError, as for the generator
    try:
        model, spec = load_scar_model(weights, device)
    except ValueError as error:
        raise ValueError(
            f"model.probability_weights {weights}: not usable as the enhancement probability"
            f" network ({error})"
        ) from error
    if spec.in_channels != 1:
        raise ValueError(
            f"model.probability_weights {weights}: the network takes {spec.in_channels} input"
            " channels (image + myocardium mask: the learned LGE quantifier); the probability"
            " needs a cine -> scar network with one channel (`train.py cinescar`)"
        )
    if tuple(spec.image_size) != tuple(image_size):
        raise ValueError(
            f"model.probability_weights {weights}: the network expects {spec.image_size}-pixel"
            f" crops, the cine crops are {tuple(image_size)} (check preprocess grid_size)"
        )
    metadata = ckpt.read_metadata(weights)
    if configured_preprocess is not None:
        keys = [k for k in BOUND_PREPROCESS if k != "frames"]
        record = ckpt.input_record({k: configured_preprocess[k] for k in keys})
        ckpt.check_inputs(weights, metadata, record)
    target = json.loads(metadata.get("inputs", "{}")).get("target", "unrecorded")
    source = (
        f"discriminative cine -> scar network {Path(weights).name}"
        f" (sha256 {ckpt.sha256_of(weights)[:12]}, step {metadata.get('step', '?')},"
        f" target {target})"
    )
    return model, source


def discriminative_probability(
    model: torch.nn.Module, cine_frame_syx: np.ndarray, device: torch.device, min_area_px: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel probability syx, slice probability s, enhanced area ks with K = 1) of a cine ->
    scar network (load_probability_net) applied to one cine frame per slice.

    Slice probability = the `min_area_px`-th largest pixel probability of the slice: the slice
    has `min_area_px` pixels at or above any threshold up to it (at 0.5 that is the generator's
    rule "an enhanced region of at least min_area_px pixels"; with min_area_px 1 it is the
    maximum). There is no myocardium mask at inference, so the whole crop counts. Enhanced
    area = pixels with probability >= 0.5."""
    from cine2lge.quantify.learned import scar_probability

    frames = np.asarray(cine_frame_syx, np.float32)[:, None]
    probability = scar_probability(model, frames, device)
    flat = np.sort(probability.reshape(len(probability), -1), axis=1)
    if 1 <= min_area_px <= flat.shape[1]:
        slice_probability = flat[:, -min_area_px]
    else:
        slice_probability = np.zeros(len(flat), np.float32)
    area = (probability >= 0.5).sum(axis=(1, 2))[None].astype(np.int32)
    return probability, slice_probability.astype(np.float32), area


def read_paired(
    subject: str, path: str | Path, extra_conditions: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """cine_styx and slice_index of a preprocessed subject; `condition_scyx` = the cine frames
    followed by the `extra_conditions` contrasts (zero, with a warning, where it has none)."""
    with np.load(path) as paired:
        if "cine_styx" not in paired:
            raise KeyError(f"subject {subject}: {path} has no cine_styx array")
        arrays = {"cine_styx": paired["cine_styx"]}
        n = len(arrays["cine_styx"])
        arrays["slice_index"] = paired["slice_index"] if "slice_index" in paired else np.arange(n)
        extras = {}
        for name in extra_conditions:
            extras[name] = paired[f"{name}_syx"] if f"{name}_syx" in paired else None
            if extras[name] is None:
                log.warning(
                    "subject %s: the model is conditioned on %s but %s has none (no `%s`"
                    " column in the subject sheet): that channel is zero",
                    subject,
                    name,
                    path,
                    name,
                )
    arrays["condition_scyx"] = stack_condition(arrays["cine_styx"], extras)
    return arrays


def predict_chunk(
    subjects: list[str],
    paired_paths: list[str | Path],
    weights: str | Path,
    out_path: str | Path,
    device: torch.device,
    n_samples: int = 4,
    steps: int = 20,
    seed: int = 0,
    batch_size: int = 32,
    min_area_px: int = 10,
    bf16: bool = False,
    verify: bool = True,
    progress: bool = True,
    configured_extra: list[str] | None = None,
    configured_inputs: dict | None = None,
    probability_weights: str | Path | None = None,
    configured_preprocess: dict | None = None,
) -> None:
    """Sample all slices of `subjects` together; write per-subject arrays to one npz.
    `configured_extra` (config model.extra_conditions) only warns when the weights differ;
    `configured_inputs` (bound_inputs()) must match the weights' record.

    The LGE-like image always comes from the generator `weights`. The enhancement probability
    (pixel and slice) comes from the generator's K samples, or with `probability_weights` (config
    model.probability_weights) from that discriminative cine -> scar network applied to the
    first cine frame of each slice (discriminative_probability); the npz records which in
    `probability_source`."""
    model, spec, metadata = load_model(weights, device, verify=verify)
    if configured_inputs is not None:
        ckpt.check_inputs(weights, metadata, configured_inputs)
    if configured_extra is not None and tuple(configured_extra) != spec.extra_conditions:
        log.warning(
            "config model.extra_conditions is %s but the weights %s were trained on cine + %s:"
            " inference follows the weights",
            list(configured_extra),
            weights,
            list(spec.extra_conditions),
        )
    if probability_weights is not None:  # loaded (and checked) before the slow sampling
        probability_net, source = load_probability_net(
            probability_weights, device, spec.image_size, configured_preprocess
        )
    else:
        source = f"generator {Path(weights).name} (K = {n_samples} samples, {steps} DDIM steps)"
    inputs = [
        read_paired(s, p, spec.extra_conditions)
        for s, p in zip(subjects, paired_paths, strict=True)
    ]
    for subject, path, arrays in zip(subjects, paired_paths, inputs, strict=True):
        cine = arrays["cine_styx"]
        if (
            cine.ndim != 4
            or cine.shape[1] != spec.frames
            or tuple(cine.shape[2:]) != spec.image_size
        ):
            raise ValueError(
                f"subject {subject}: {path} cine_styx has shape {cine.shape}; the model in"
                f" {weights} expects (slices, {spec.frames}, {spec.image_size[0]},"
                f" {spec.image_size[1]}) (check preprocess frames/grid against the weights)"
            )
    cines = [arrays["condition_scyx"] for arrays in inputs]
    log.info(
        "chunk of %d subjects, %d slices, condition cine x %d%s, K=%d, %d steps, device %s,"
        " bf16 %s",
        len(subjects),
        sum(map(len, cines)),
        spec.frames,
        "".join(f" + {name}" for name in spec.extra_conditions),
        n_samples,
        steps,
        device,
        bf16,
    )
    prediction = ensemble(
        model,
        spec,
        np.concatenate(cines),
        n_samples=n_samples,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        min_area_px=min_area_px,
        device=device,
        bf16=bf16,
        progress=progress,
    )
    if probability_weights is not None:
        probability, slice_probability, area = discriminative_probability(
            probability_net,
            np.concatenate(cines)[:, 0],  # the first cine frame (the only one with frames: 1)
            device,
            min_area_px=min_area_px,
        )
        prediction = replace(
            prediction,
            enhancement_prob_syx=probability,
            slice_probability_s=slice_probability,
            enhancement_area_ks=area,
        )
    log.info("enhancement probability from the %s", source)
    arrays = {"subjects": np.asarray(subjects), "probability_source": np.asarray(source)}
    bounds = np.cumsum([0, *map(len, cines)])
    for i, subject in enumerate(subjects):
        part = slice(bounds[i], bounds[i + 1])
        arrays[f"{subject}.lgelike_syx"] = prediction.lgelike_syx[part]
        arrays[f"{subject}.enhancement_prob_syx"] = prediction.enhancement_prob_syx[part]
        arrays[f"{subject}.slice_probability_s"] = prediction.slice_probability_s[part]
        arrays[f"{subject}.enhancement_area_ks"] = prediction.enhancement_area_ks[:, part]
    arrays["weights_step"] = np.asarray(int(metadata.get("step", -1)))
    save_npz(out_path, **arrays)


def chunk_arrays(subject: str, chunk_path: str | Path) -> dict[str, np.ndarray]:
    """The subject's PER_SUBJECT arrays of a chunk and the chunk's `probability_source`
    (chunks written before it was recorded: the generator)."""
    with np.load(chunk_path) as chunk:
        if subject not in set(chunk["subjects"].tolist()):
            raise KeyError(f"subject {subject}: not in prediction chunk {chunk_path}")
        arrays = {key: chunk[f"{subject}.{key}"] for key in PER_SUBJECT}
        source = chunk["probability_source"] if "probability_source" in chunk else "generator"
        arrays["probability_source"] = np.asarray(source)
        return arrays


def slice_table(
    subject: str, slice_index: np.ndarray, probability_s: np.ndarray, area_ks: np.ndarray
) -> pd.DataFrame:
    """One row per predicted slice: source cine slice index and enhancement probability."""
    return pd.DataFrame(
        {
            "subject": subject,
            "slice": np.asarray(slice_index, dtype=int),
            "probability": np.round(probability_s.astype(float), 6),
            "mean_enhanced_px": np.round(area_ks.mean(axis=0), 3),
        }
    )


def write_subject_outputs(
    subject: str,
    chunk_path: str | Path,
    paired_path: str | Path,
    geometry_path: str | Path,
    cine_nifti: str | Path,
    prediction_npz: str | Path,
    lgelike_nifti: str | Path,
    probability_nifti: str | Path,
    slice_tsv: str | Path,
    dicom_dir: str | Path,
) -> None:
    """Per-subject outputs of the model stage (see docs/architecture.md)."""
    from cine2lge.preprocess.crop import crop_to_source

    arrays = chunk_arrays(subject, chunk_path)
    slice_index = read_paired(subject, paired_path)["slice_index"]
    if len(slice_index) != len(arrays["lgelike_syx"]):
        raise ValueError(
            f"subject {subject}: {paired_path} has {len(slice_index)} slices but chunk"
            f" {chunk_path} has {len(arrays['lgelike_syx'])}"
        )
    geometry = json.loads(Path(geometry_path).read_text())
    source = nib.load(str(cine_nifti))
    affine = source.affine
    volumes = {}
    for name in ("lgelike_syx", "enhancement_prob_syx"):
        volume = crop_to_source(arrays[name], geometry, which="cine")
        volume = volume[..., 0] if volume.ndim == 4 else volume
        if volume.shape != source.shape[:3]:
            raise ValueError(
                f"subject {subject}: mapped {name} has shape {volume.shape}, cine {cine_nifti}"
                f" has {source.shape[:3]} (geometry {geometry_path} does not match the cine)"
            )
        volumes[name] = np.clip(volume, 0.0, 1.0).astype(np.float32)
    probability_s = arrays["slice_probability_s"]
    save_npz(
        prediction_npz,
        lgelike_syx=arrays["lgelike_syx"],
        enhancement_prob_syx=arrays["enhancement_prob_syx"],
        slice_probability_s=probability_s,
        slice_index=slice_index,
        subject_probability=np.asarray(probability_s.max() if len(probability_s) else 0.0),
        probability_source=arrays["probability_source"],
    )
    save_nifti(volumes["lgelike_syx"], affine, lgelike_nifti)
    save_nifti(volumes["enhancement_prob_syx"], affine, probability_nifti)
    table = slice_table(subject, slice_index, probability_s, arrays["enhancement_area_ks"])
    with atomic_path(slice_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    # The ingest stage writes the de-identified sidecar beside the NIfTI (cine.json).
    sidecar = Path(str(cine_nifti).removesuffix(".gz").removesuffix(".nii") + ".json")
    write_lgelike_series(
        volumes["lgelike_syx"],
        affine,
        dicom_dir,
        subject,
        source_series=source_series_hashes(sidecar),
    )
