"""The segmentation network: a 2D MONAI UNet, one cine frame in, class scores out.

Classes (CLASSES, the index is the predicted label): 0 background, 1 LV blood pool,
2 myocardium, 3 right ventricle. Predicted label maps therefore read with PREDICTED_SCHEME, which
has the same integers as the demo scheme's plain classes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np
from monai.networks.nets import UNet

CLASSES = ("background", "blood_pool", "myocardium", "right_ventricle")
PREDICTED_SCHEME = {"blood_pool": [1], "myocardium": [2], "right_ventricle": [3]}
WEIGHTS_FORMAT = "cine2lge-segment-v1"


class JsonSpec:
    """JSON round trip of a frozen spec dataclass (stored in the weights' metadata)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        values = json.loads(text)
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{cls.__name__} has unknown fields {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class SegmentSpec(JsonSpec):
    """Everything needed to rebuild a trained network; stored in the weights file's metadata."""

    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 2
    dropout: float = 0.1
    image_size: tuple[int, int] = (64, 64)
    in_channels: int = 1
    n_classes: int = len(CLASSES)

    def __post_init__(self):
        for name in ("channels", "strides", "image_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if len(self.strides) != len(self.channels) - 1:
            problems.append(
                f"strides {self.strides} must have one entry fewer than channels {self.channels}"
            )
        factor = int(np.prod(self.strides)) if self.strides else 1
        if any(s % factor for s in self.image_size):
            problems.append(f"image_size {self.image_size} must be divisible by {factor}")
        if self.n_classes != len(CLASSES):
            problems.append(f"n_classes must be {len(CLASSES)} ({', '.join(CLASSES)})")
        if problems:
            raise ValueError("invalid segmentation spec: " + "; ".join(problems))

    @classmethod
    def from_config(cls, net: dict, image_size) -> SegmentSpec:
        """Build from the config's `segment.net` section and the crop grid size."""
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        return cls(image_size=tuple(image_size), **net)


def build_segmenter(spec: SegmentSpec) -> UNet:
    return UNet(
        spatial_dims=2,
        in_channels=spec.in_channels,
        out_channels=spec.n_classes,
        channels=spec.channels,
        strides=spec.strides,
        num_res_units=spec.num_res_units,
        dropout=spec.dropout,
        norm=("instance", {"affine": True}),  # no running statistics: EMA-safe, site-robust
    )


def classes_from_labels(labels: np.ndarray, scheme: dict) -> np.ndarray:
    """Label map in a subject's label scheme -> class indices (uint8, same shape).

    Lesion labels are part of the myocardium in every scheme (`myocardium` lists them), so only
    the three anatomical classes are read; everything else is background.
    """
    classes = np.zeros(np.shape(labels), dtype=np.uint8)
    for index, name in enumerate(CLASSES[1:], start=1):
        classes[np.isin(labels, scheme.get(name, []))] = index
    return classes


def label_frame(n_frames: int, phase_fraction: float) -> int:
    """Index of the cine frame closest to a cycle fraction (frame j sits at j / n_frames).

    preprocess.resample_frames puts frame j at fraction j / T of the RR interval; the distance is
    cyclic, so 0.97 of the cycle is closest to frame 0.
    """
    positions = np.arange(n_frames) / n_frames
    distance = np.abs((positions - phase_fraction + 0.5) % 1.0 - 0.5)
    return int(np.argmin(distance))
