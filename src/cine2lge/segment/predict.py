"""Inference: every cine frame of a subject's crops -> post-processed class maps and a QC table.

Output `masks.npz` (rows = the rows of paired.npz, crop space):
`classes_styx` uint8 (slice, time, y, x; 0 background, 1 blood pool, 2 myocardium, 3 RV, read
with net.PREDICTED_SCHEME), `labels_syx` int16 = the frame at `phase_fraction` (the cardiac phase
of the LGE, used by quantification in place of expert labels), `probability_syx` float32
(slice, class, y, x) softmax of that frame before post-processing, `frame`, `slice_index`, and
the QC of that frame for quantification: `usable_s` bool, `status_s` and `reason_s` (str),
`coverage` (float) and `flag` (str) of the stack (postprocess module docstring).
QC table `qc.tsv`: one row per slice and frame (postprocess.QC_COLUMNS + subject, frame,
source_slice, quantified).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cine2lge.io import atomic_path, save_npz
from cine2lge.model import checkpoint as ckpt
from cine2lge.model.runtime import pick_device, set_threads
from cine2lge.segment.net import WEIGHTS_FORMAT, SegmentSpec, build_segmenter, label_frame
from cine2lge.segment.postprocess import PostprocessSettings, clean_stack
from cine2lge.segment.train import predict_probabilities

log = logging.getLogger("cine2lge.segment.predict")
# Preprocess keys the cine crops depend on: they must equal the weights'. Free: frames (the
# network sees one frame at a time; label_frame picks the one at phase_fraction),
# pair_tolerance_mm, registration (LGE pairing, training only) and localise_from_labels.
BOUND_PREPROCESS = ("fov_mm", "grid_size", "intensity_percentiles")


def load_segmenter(weights: str | Path, device: torch.device | None = None):
    """(network in eval mode, spec, metadata) from sha256-checked safetensors weights."""
    ckpt.verify_sha256(weights)
    state, metadata = ckpt.load_weights(weights)
    if metadata.get("format") != WEIGHTS_FORMAT or "spec" not in metadata:
        raise ValueError(
            f"segmentation weights {weights}: format {metadata.get('format')!r},"
            f" expected {WEIGHTS_FORMAT!r} (not a cine2lge segmentation model)"
        )
    spec = SegmentSpec.from_json(metadata["spec"])
    model = build_segmenter(spec)
    model.load_state_dict(state)
    return model.to(device or torch.device("cpu")).eval(), spec, metadata


def segment_cine(
    model: torch.nn.Module,
    cine_styx: np.ndarray,
    phase_fraction: float,
    settings: PostprocessSettings,
    device: torch.device,
    batch_size: int = 64,
    flip_tta: bool = False,
):
    """(arrays for masks.npz, QC table) of one subject's cine crops (slice, time, y, x)."""
    n_slices, n_frames = cine_styx.shape[:2]
    images = cine_styx.reshape(n_slices * n_frames, 1, *cine_styx.shape[2:]).astype(np.float32)
    probability = predict_probabilities(model, images, device, batch_size, flip_tta)
    raw_styx = probability.argmax(1).astype(np.uint8).reshape(cine_styx.shape)
    frame = label_frame(n_frames, phase_fraction)
    classes_styx = np.zeros_like(raw_styx)
    tables = []
    for t in range(n_frames):
        classes_styx[:, t], qc = clean_stack(raw_styx[:, t], settings)
        qc.insert(1, "frame", t)
        qc["quantified"] = t == frame
        tables.append(qc)
    probability_sctyx = probability.reshape(n_slices, n_frames, *probability.shape[1:])
    arrays = {
        "classes_styx": classes_styx,
        "labels_syx": classes_styx[:, frame].astype(np.int16),
        "probability_syx": probability_sctyx[:, frame],
        "frame": np.array(frame),
        **qc_arrays(tables[frame]),
    }
    return arrays, pd.concat(tables, ignore_index=True).sort_values(["slice", "frame"])


def qc_arrays(qc: pd.DataFrame) -> dict[str, np.ndarray]:
    """masks.npz QC arrays of the quantified frame (clean_stack's table of that frame)."""
    return {
        "usable_s": qc["usable"].to_numpy(bool),
        "status_s": qc["status"].to_numpy(str),
        "reason_s": qc["reason"].to_numpy(str),
        "coverage": np.array(float(qc["coverage"].iloc[0]) if len(qc) else 0.0),
        "flag": np.array(str(qc["flag"].iloc[0]) if len(qc) else "no_usable_slice"),
    }


@lru_cache(maxsize=2)
def _cached_segmenter(weights: str, stamp: tuple[int, int], device: torch.device):
    """load_segmenter once per job: a chunk job segments many subjects with the same weights
    (`stamp`, the file's mtime and size, reloads a file rewritten in place)."""
    return load_segmenter(weights, device)


def predict_subject(
    subject: str,
    paired_path: str | Path,
    weights: str | Path,
    masks_path: str | Path,
    qc_path: str | Path,
    phase_fraction: float,
    postprocess: dict,
    use_gpu: bool = False,
    threads: int | None = None,
    batch_size: int = 64,
    preprocess: dict | None = None,
    flip_tta: bool = False,
) -> pd.DataFrame:
    """Stage entry: segment one subject's cine crops; write masks.npz and qc.tsv. With the
    config's `preprocess` section, weights trained on other crops are refused; flip_tta
    averages the network over in-plane flips (segment.predict.flip_tta)."""
    set_threads(threads)
    device = pick_device(use_gpu)
    stat = Path(weights).stat() if Path(weights).is_file() else None  # missing: load's error
    stamp = (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)
    model, spec, metadata = _cached_segmenter(str(weights), stamp, device)
    if preprocess is not None:
        bound = ckpt.input_record({k: preprocess[k] for k in BOUND_PREPROCESS})
        ckpt.check_inputs(weights, metadata, bound)
    with np.load(paired_path) as paired:
        cine_styx = paired["cine_styx"]
        slice_index = (
            paired["slice_index"] if "slice_index" in paired else np.arange(len(cine_styx))
        )
    if tuple(cine_styx.shape[2:]) != spec.image_size:
        raise ValueError(
            f"subject {subject}: {paired_path}: cine crops {cine_styx.shape[2:]} do not match"
            f" the segmentation model's grid {spec.image_size} ({weights}); set"
            " preprocess.grid_size accordingly or retrain (segment.weights: train)"
        )
    settings = PostprocessSettings(**postprocess)
    arrays, qc = segment_cine(
        model, cine_styx, phase_fraction, settings, device, batch_size, flip_tta
    )
    save_npz(masks_path, **arrays, slice_index=np.asarray(slice_index))
    qc.insert(0, "subject", subject)
    qc.insert(2, "source_slice", np.asarray(slice_index)[qc["slice"].to_numpy()])
    with atomic_path(qc_path) as tmp:
        qc.to_csv(tmp, sep="\t", index=False)
    used = qc[qc["quantified"]]
    log.info(
        "subject %s: %d slices x %d frames on %s; quantified frame %d: %s",
        subject,
        cine_styx.shape[0],
        cine_styx.shape[1],
        device,
        int(arrays["frame"]),
        used["status"].value_counts().to_dict(),
    )
    log_usable_slices(subject, used)
    return qc


def log_usable_slices(subject: str, used: pd.DataFrame) -> None:
    """Log the quantified frame's slices left out (info) and a coverage flag (warning)."""
    left_out = used[~used["usable"] & (used["status"] != "no_myocardium")]
    if len(left_out):
        log.info(
            "subject %s: slices left out of quantification: %s",
            subject,
            "; ".join(
                f"slice {r.slice} (source {r.source_slice}): {r.status} ({r.reason})"
                for r in left_out.itertuples()
            ),
        )
    flag = str(used["flag"].iloc[0]) if len(used) else "no_usable_slice"
    if flag != "ok":
        log.warning(
            "subject %s: segmentation QC flag %s: %d usable slices (%s), coverage %.2f of the"
            " LV slices; %s (qc.tsv)",
            subject,
            flag,
            int(used["usable"].sum()),
            ", ".join(str(s) for s in used.loc[used["usable"], "slice"]) or "none",
            float(used["coverage"].iloc[0]) if len(used) else 0.0,
            "its quantification will fail"
            if flag == "no_usable_slice"
            else "it is quantified on part of the LV only",
        )
