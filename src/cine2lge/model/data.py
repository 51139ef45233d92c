"""Training data: the preprocess stage's paired slices, the enhancement target, augmentation.

Dataset folder contract (results/dataset/{split}/, cine2lge.preprocess.dataset):
`cine_ntyx.npy` (N, T, H, W) float32 in [0, 1], `lge_nyx.npy` (N, H, W) float32 in [0, 1],
`labels_nyx.npy` (N, H, W) int16 in the canonical (demo) codes, -1 for subjects without labels,
`manifest.tsv` (one row per pair; `has_labels`; an optional `label_scheme` column selects the
label scheme of each row, default: config model.label_scheme). Rows without labels are skipped:
the enhancement target is unknown there. Optional extra contrasts, e.g. `t2_nyx.npy` (N, H, W)
in [0, 1] (0 where a slice has none), become conditioning channels after the cine frames when
the model asks for them (config model.extra_conditions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.transforms import Compose

from cine2lge.augment import augment_batch
from cine2lge.augment import augmentation as shared_augmentation

log = logging.getLogger("cine2lge.model.data")
DATASET_FILES = {"cine": "cine_ntyx.npy", "lge": "lge_nyx.npy", "labels": "labels_nyx.npy"}
# Contrasts that can condition the model besides the cine (sheet column of the same name).
EXTRA_CONDITIONS = ("t2",)
MANIFEST = "manifest.tsv"
AUGMENTED_KEYS = ("cine", "lge", "mask")


@dataclass
class PairedSlices:
    """Paired training slices; arrays may be read-only memory maps of the whole split, of which
    `rows` are the usable (labelled) ones. `take(i)` reads slices by position in `rows`; its
    condition is the cine frames followed by the `extras` contrasts, in order."""

    cine_styx: np.ndarray  # (slice, time, y, x) float32 in [0, 1]
    lge_syx: np.ndarray  # (slice, y, x) float32 in [0, 1]
    enhancement_syx: np.ndarray  # (slice, y, x) bool
    manifest: pd.DataFrame
    rows: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (slice, y, x)

    def __post_init__(self):
        if self.rows is None:
            self.rows = np.arange(len(self.cine_styx))

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(condition (B, T + extras, H, W), lge (B, H, W), enhancement (B, H, W)) copies of
        rows[index]."""
        rows = self.rows[np.asarray(index)]
        return (
            stack_condition(self.cine_styx[rows], {k: a[rows] for k, a in self.extras.items()}),
            np.asarray(self.lge_syx[rows], dtype=np.float32),
            np.asarray(self.enhancement_syx[rows], dtype=bool),
        )

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.cine_styx.shape[-2:])

    @property
    def n_frames(self) -> int:
        return self.cine_styx.shape[1]

    @property
    def condition_channels(self) -> int:
        return self.n_frames + len(self.extras)


def stack_condition(cine_styx: np.ndarray, extras: dict[str, np.ndarray | None]) -> np.ndarray:
    """The model's condition (slice, T + len(extras), y, x) float32: the cine frames, then each
    extra contrast (slice, y, x) in order; None (a subject without it) is a zero channel."""
    cine = np.asarray(cine_styx, dtype=np.float32)
    channels = [cine]
    for image_syx in extras.values():
        if image_syx is None:
            channels.append(np.zeros_like(cine[:, :1]))
        else:
            channels.append(np.asarray(image_syx, dtype=np.float32)[:, None])
    return np.concatenate(channels, axis=1) if extras else cine


def enhancement_labels(scheme: dict, classes: list[str], scheme_name: str = "?") -> list[int]:
    """Integer labels of the enhancement classes (e.g. hyperintense + intermediate) of a scheme."""
    missing = [c for c in classes if c not in scheme]
    if len(missing) == len(classes):
        raise ValueError(
            f"label scheme {scheme_name!r} has none of the enhancement classes {classes}"
            f" (it has {sorted(scheme)})"
        )
    return sorted({label for c in classes if c in scheme for label in scheme[c]})


def enhancement_mask(labels_syx: np.ndarray, labels: list[int]) -> np.ndarray:
    """True where the label map holds one of `labels`."""
    return np.isin(labels_syx, labels)


def load_split(
    folder: str | Path,
    label_schemes: dict,
    enhancement_classes: list[str],
    default_scheme: str = "demo",
    extra_conditions: list[str] | tuple[str, ...] = (),
) -> PairedSlices:
    """Memory-map one split of the dataset and derive the enhancement mask of every slice;
    `extra_conditions` (e.g. ["t2"]) are loaded as conditioning channels after the cine."""
    folder = Path(folder)
    paths = {key: folder / name for key, name in DATASET_FILES.items()}
    missing = [str(p) for p in [*paths.values(), folder / MANIFEST] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dataset split {folder}: missing {', '.join(missing)}")
    cine = np.load(paths["cine"], mmap_mode="r")
    lge = np.load(paths["lge"], mmap_mode="r")
    labels = np.load(paths["labels"], mmap_mode="r")
    manifest = pd.read_csv(folder / MANIFEST, sep="\t", dtype=str, keep_default_na=False)
    n = len(cine)
    if cine.ndim != 4 or lge.shape != (n, *cine.shape[2:]) or labels.shape != lge.shape:
        raise ValueError(
            f"dataset split {folder}: inconsistent shapes cine {cine.shape} (N, T, H, W),"
            f" lge {lge.shape} and labels {labels.shape} (N, H, W)"
        )
    if len(manifest) != n:
        raise ValueError(f"dataset split {folder}: {MANIFEST} has {len(manifest)} rows, arrays {n}")
    schemes = (
        manifest["label_scheme"].replace("", default_scheme)
        if "label_scheme" in manifest
        else pd.Series([default_scheme] * n)
    )
    enhancement = np.zeros(lge.shape, dtype=bool)
    for name in schemes.unique():
        if name not in label_schemes:
            raise ValueError(f"dataset split {folder}: unknown label scheme {name!r}")
        rows = np.flatnonzero(schemes.to_numpy() == name)
        values = enhancement_labels(label_schemes[name], enhancement_classes, name)
        enhancement[rows] = enhancement_mask(np.asarray(labels[rows]), values)
    if "has_labels" in manifest:
        labelled = manifest["has_labels"].str.lower().isin(["true", "1"]).to_numpy()
    else:
        labelled = np.asarray(labels).reshape(n, -1).min(axis=1, initial=0) >= 0
    extras = {}
    for name in extra_conditions:
        if name not in EXTRA_CONDITIONS:
            raise ValueError(f"extra condition {name!r} is not one of {EXTRA_CONDITIONS}")
        path = folder / f"{name}_nyx.npy"
        if path.is_file():
            extras[name] = np.load(path, mmap_mode="r")
        else:
            # As for one subject without it: a zero channel (a view, no memory).
            if n:
                log.warning(
                    "dataset split %s: the model is conditioned on %s (config"
                    " model.extra_conditions) but no subject of this split has a `%s` column in"
                    " the subject sheet: that channel is zero",
                    folder,
                    name,
                    name,
                )
            extras[name] = np.broadcast_to(np.zeros((1, *lge.shape[1:]), np.float32), lge.shape)
        if extras[name].shape != lge.shape:
            raise ValueError(
                f"dataset split {folder}: {path.name} has shape {extras[name].shape},"
                f" lge {lge.shape}"
            )
    return PairedSlices(
        cine, lge, enhancement, manifest, rows=np.flatnonzero(labelled), extras=extras
    )


def to_target(lge_syx: np.ndarray, enhancement_syx: np.ndarray) -> np.ndarray:
    """Diffusion target (slice, channel, y, x) in [-1, 1]: LGE and the mask as -1/+1."""
    lge = np.clip(np.asarray(lge_syx, dtype=np.float32), 0.0, 1.0) * 2.0 - 1.0
    mask = np.where(np.asarray(enhancement_syx), 1.0, -1.0).astype(np.float32)
    return np.stack([lge, mask], axis=1)


def augmentation(**settings) -> Compose:
    """The same random geometric transform for cine, LGE and mask (nearest for the mask), then
    the intensity changes of `settings` on the cine only: the condition varies between sites,
    the LGE target must not (cine2lge.augment)."""
    return shared_augmentation(
        AUGMENTED_KEYS, ("bilinear", "bilinear", "nearest"), "cine", **settings
    )


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """Independent, well-mixed seed for one (step, stream): the data order, augmentation and
    noise of step n depend on (seed, n) only, which makes a resumed run identical."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0])


class BatchSource:
    """Deterministic batches: batch(step) is a pure function of (data, seed, step)."""

    def __init__(
        self,
        data: PairedSlices,
        batch_size: int,
        seed: int,
        augment: dict | None,
        extra_dropout: float = 0.0,
    ):
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.transform = augmentation(**augment) if augment else None
        self.extra_dropout = extra_dropout

    def indices(self, step: int) -> np.ndarray:
        # An epoch-wise permutation: every slice is seen once per epoch.
        n, per_epoch = len(self.data), max(1, len(self.data) // self.batch_size)
        epoch, position = divmod(step, per_epoch)
        order = np.random.default_rng(step_seed(self.seed, epoch, stream=1)).permutation(n)
        order = np.concatenate([order, order])  # a batch larger than the data wraps around
        return order[position * self.batch_size : position * self.batch_size + self.batch_size]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(condition (B, C, H, W), target (B, 2, H, W)) float32 tensors on the CPU."""
        cine, lge, enhancement = self.data.take(np.sort(self.indices(step)))
        mask = enhancement.astype(np.float32)
        if self.transform is not None:
            # [:, None]: channel-first views, so the transform writes into lge and mask
            batch = {"cine": cine, "lge": lge[:, None], "mask": mask[:, None]}
            augment_batch(self.transform, batch, step_seed(self.seed, step, stream=2))
        n_extra = len(self.data.extras)
        if n_extra and self.extra_dropout > 0:
            # Extra contrasts missing at random (zeroed after augmentation, as for a subject
            # without them), so the model also works for subjects that have only the cine.
            rng = np.random.default_rng(step_seed(self.seed, step, stream=3))
            cine[rng.random(len(cine)) < self.extra_dropout, -n_extra:] = 0.0
        target = to_target(lge, mask > 0.5)
        return torch.from_numpy(np.ascontiguousarray(cine)), torch.from_numpy(target)
