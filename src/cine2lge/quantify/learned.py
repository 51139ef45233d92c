"""Learned lesion quantifier: a 2D MONAI UNet that marks scar inside a given myocardium.

Input per slice: two channels on the preprocess crop grid, the image (real LGE or LGE-like, in
[0, 1] as the preprocess stage normalises it) and the myocardium mask (0/1); output two classes
(not scar, scar). The scar probability is kept inside the myocardium only, so the quantifier
answers exactly what the n-SD/FWHM rules answer ("which myocardial pixels are enhanced") and is
applied identically to real LGE and to LGE-like images.

The same network and trainer serve the cine baseline of the model evaluation (one channel, the
cine frame: "can a discriminative network see scar in cine?"), hence `in_channels`.

Training reuses the segmentation trainer (cine2lge.segment.train): Dice-CE, MONAI augmentation,
EMA, resumable fingerprinted checkpoints; only the network's classes and validation differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cine2lge.segment.net import JsonSpec
from cine2lge.segment.train import (
    LabelledSlices,
    SegmentBatches,
    SegmentTrainer,
    predict_probabilities,
)

WEIGHTS_FORMAT = "cine2lge-scar-v1"
SCAR_CLASSES = ("other", "scar")
# Intensity reference of the image channel (ScarSpec.reference): "none" keeps the preprocess
# scale; "myocardium_q25" subtracts the 25th percentile of the subject's myocardial signal, so
# that normal (nulled) myocardium sits near 0 in every study. The crop normalisation alone puts
# normal myocardium at 0.50 (median) in EMIDEC's normal hearts, 0.38 in its infarcts and 0.23
# in MyoPS: a raw-intensity cut cannot be the same across subjects (pooled pixel AUROC of the
# intensity alone 0.79 raw, 0.87 referenced; docs/quantify.md).
REFERENCES = ("none", "myocardium_q25")


@dataclass(frozen=True)
class ScarSpec(JsonSpec):
    """Network of the learned quantifier; stored in the weights' metadata."""

    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 1
    dropout: float = 0.1
    image_size: tuple[int, int] = (64, 64)
    in_channels: int = 2  # image + myocardium mask (1: image only, the cine baseline)
    n_classes: int = len(SCAR_CLASSES)
    reference: str = "none"  # intensity reference of the image channel (REFERENCES)

    def __post_init__(self):
        for name in ("channels", "strides", "image_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.in_channels not in (1, 2) or self.n_classes != len(SCAR_CLASSES):
            raise ValueError(
                f"invalid scar spec: in_channels {self.in_channels} (1 or 2), 2 classes"
            )
        if self.reference not in REFERENCES:
            raise ValueError(f"invalid scar spec: reference {self.reference!r} not in {REFERENCES}")
        if self.reference != "none" and self.in_channels != 2:
            raise ValueError("invalid scar spec: a myocardial reference needs the mask channel")


def referenced(image_syx: np.ndarray, myocardium_syx: np.ndarray, reference: str) -> np.ndarray:
    """The image channel of one subject (all its slices at once) as `reference` asks."""
    if reference not in REFERENCES:
        raise ValueError(f"unknown intensity reference {reference!r}; expected one of {REFERENCES}")
    image = np.asarray(image_syx, np.float32)
    myocardium = np.asarray(myocardium_syx, bool)
    if reference == "none" or not myocardium.any():
        return image  # without myocardium the mask channel zeroes the probability anyway
    return image - np.float32(np.percentile(image[myocardium], 25))  # myocardium_q25


def stack_inputs(
    image_syx: np.ndarray, myocardium_syx: np.ndarray | None, reference: str = "none"
) -> np.ndarray:
    """Network input (slice, channel, y, x) float32 of one subject: image (referenced to the
    subject's myocardium when asked) and, when given, the mask."""
    if myocardium_syx is None:
        if reference != "none":
            raise ValueError(f"intensity reference {reference!r} needs the myocardium mask")
        return np.asarray(image_syx, np.float32)[:, None]
    image = referenced(image_syx, myocardium_syx, reference)[:, None]
    return np.concatenate([image, np.asarray(myocardium_syx, np.float32)[:, None]], axis=1)


class ScarBatches(SegmentBatches):
    """Segmentation batches whose mask channel is re-binarised after augmentation (the shared
    augmentation interpolates it bilinearly and changes its gain like the image's)."""

    def batch(self, step: int):
        images, classes = super().batch(step)
        if images.shape[1] == 2:
            images[:, 1] = (images[:, 1] > 0.5).float()
        return images, classes


class ScarTrainer(SegmentTrainer):
    """Two-class (scar) UNet on image (+ myocardium mask); mechanics of SegmentTrainer."""

    job = "scar quantifier training"
    rule = "train_scar"
    progress_label = "scar train"

    def __init__(self, spec: ScarSpec, settings, train_data, val_data, checkpoint_dir, device):
        super().__init__(spec, settings, train_data, val_data, checkpoint_dir, device)
        self.batches = ScarBatches(train_data, settings.batch_size, settings.seed, settings.augment)

    def metadata(self) -> dict[str, str]:
        return super().metadata() | {
            "format": WEIGHTS_FORMAT,
            "classes": json.dumps(SCAR_CLASSES),
        }

    def describe(self) -> str:
        return "scar quantifier " + super().describe().split(" ", 1)[1]

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.val_data is None or len(self.val_data) == 0:
            return {}
        from cine2lge.segment.evaluate import dice

        probability = scar_probability(self.ema.module, self.val_data.images_nyx, self.device)
        return {"dice_scar": dice(probability >= 0.5, self.val_data.classes_nyx == 1)}


def build_scar_net(spec: ScarSpec):
    from cine2lge.segment.net import build_segmenter

    return build_segmenter(spec)  # the same MONAI UNet; reads only the spec's fields


@torch.no_grad()
def scar_probability(
    model: torch.nn.Module,
    inputs_ncyx: np.ndarray,
    device: torch.device,
    batch_size: int = 64,
    flip_tta: bool = False,
) -> np.ndarray:
    """Scar probability (slice, y, x) float32, zero outside the mask channel when present;
    flip_tta averages the network over the in-plane flips (quantify.learned.flip_tta)."""
    if len(inputs_ncyx) == 0:
        return np.zeros((0, *inputs_ncyx.shape[2:]), np.float32)
    probability = predict_probabilities(model, inputs_ncyx, device, batch_size, flip_tta)[:, 1]
    if inputs_ncyx.shape[1] == 2:
        probability *= inputs_ncyx[:, 1] > 0.5
    return probability


def load_scar_model(weights: str | Path, device: torch.device | None = None):
    """(model, spec) of shipped/trained scar weights; the .sha256 beside them is checked."""
    from cine2lge.model import checkpoint as ckpt

    weights = Path(weights)
    ckpt.verify_sha256(weights)
    metadata = ckpt.read_metadata(weights)
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise ValueError(
            f"weights {weights}: format {metadata.get('format')!r} is not {WEIGHTS_FORMAT!r}"
            " (not learned-quantifier weights)"
        )
    state, _ = ckpt.load_weights(weights)
    spec = ScarSpec.from_json(metadata["spec"])
    model = build_scar_net(spec)
    model.load_state_dict(state)
    return model.to(device or torch.device("cpu")).eval(), spec


def scar_rows(
    subject: str,
    image_syx: np.ndarray,
    labels_syx: np.ndarray,
    scheme: dict,
    use_mask: bool,
    reference: str = "none",
) -> LabelledSlices:
    """Training rows of one subject: slices with myocardium; classes 1 = scar (the scheme's
    hyperintense labels, e.g. EMIDEC infarct + no-reflow), inside the myocardium."""
    myocardium = np.isin(labels_syx, scheme["myocardium"])
    rows = np.flatnonzero(myocardium.any(axis=(1, 2)))
    scar = (np.isin(labels_syx, scheme["hyperintense"]) & myocardium)[rows].astype(np.uint8)
    inputs = stack_inputs(image_syx[rows], myocardium[rows] if use_mask else None, reference)
    return LabelledSlices(inputs, scar, [subject] * len(rows), rows.tolist())


_MODELS: dict[Path, tuple] = {}


def _loaded(weights: str | Path) -> tuple:
    """(model, spec, crop grid) of weights, loaded once per process (a job quantifies LGE and
    LGE-like)."""
    from cine2lge.io import in_checkout
    from cine2lge.model import checkpoint as ckpt
    from cine2lge.quantify.regrid import CropGrid

    path = in_checkout(weights)
    if path not in _MODELS:
        model, spec = load_scar_model(path)
        if spec.in_channels != 2:
            raise ValueError(f"weights {path}: a cine network (1 input), not an LGE quantifier")
        inputs = json.loads(ckpt.read_metadata(path).get("inputs", "{}"))
        _MODELS[path] = (model, spec, CropGrid.from_inputs(inputs, spec.image_size[0]))
    return _MODELS[path]


def learned_scar(
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    weights: str | Path,
    threshold: float = 0.5,
    min_component_px: int = 1,
    flip_tta: bool = False,
    spacing_yx: tuple[float, float] | None = None,
) -> np.ndarray:
    """Scar mask (slice, y, x): probability >= threshold inside the myocardium, in-plane
    components smaller than min_component_px dropped (as for the enhancement probability);
    flip_tta: mean over the in-plane flips.

    Without `spacing_yx` the image must be a crop of the weights' grid in [0, 1] (the
    preprocess stage's crops). With it, any stack (e.g. native-resolution LGE in scanner
    units) is cropped onto the weights' grid around its myocardium and the probability mapped
    back (cine2lge.quantify.regrid); a stack already on the grid is used as it is."""
    from cine2lge.quantify.regrid import to_crop_grid, to_native
    from cine2lge.quantify.thresholds import probability_masks

    model, spec, grid = _loaded(weights)
    myocardium = np.asarray(myocardium_syx, bool)
    if spacing_yx is None:
        on_grid = tuple(image_syx.shape[1:]) == tuple(spec.image_size)
        if not on_grid:
            raise ValueError(
                f"weights {weights} expect {spec.image_size} crops, the image is"
                f" {image_syx.shape[1:]}; give its pixel spacing to resample it"
            )
    else:
        on_grid = grid.holds(image_syx.shape[1:], spacing_yx)
    if not myocardium.any():
        return np.zeros(myocardium.shape, bool)  # scar is only ever inside the myocardium
    if on_grid:
        inputs = stack_inputs(image_syx, myocardium, spec.reference)
        probability = scar_probability(model, inputs, torch.device("cpu"), flip_tta=flip_tta)
    else:
        placed = to_crop_grid(image_syx, myocardium, spacing_yx, grid)
        inputs = stack_inputs(placed.image_syx, placed.myocardium_syx, spec.reference)
        crop = scar_probability(model, inputs, torch.device("cpu"), flip_tta=flip_tta)
        probability = to_native(crop, placed)
    return probability_masks(probability, myocardium, threshold, min_component_px)["total"]
