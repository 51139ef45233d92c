"""A ring phantom with known LV centre and a known cine-to-LGE in-plane shift, as NIfTI files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from cine2lge.io import save_nifti


@dataclass
class RingPhantom:
    lv_centre_mm: np.ndarray  # on the axis, at the middle cine slice
    axis_direction: np.ndarray
    rotation: np.ndarray  # columns: stack u, v, n
    lge_shift_mm: np.ndarray  # LGE anatomy = cine anatomy moved by this (world, in-plane)

    def lv_centre_at(self, world_mm: np.ndarray) -> np.ndarray:
        """LV axis point at the level (along n) of world_mm."""
        n = self.rotation[:, 2]
        step = ((world_mm - self.lv_centre_mm) @ n / (self.axis_direction @ n))[..., None]
        return self.lv_centre_mm + step * self.axis_direction


def make_affine(rotation, spacing_xyz, centre_mm, shape_xys) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing_xyz)
    middle = (np.asarray(shape_xys) - 1) / 2
    affine[:3, 3] = centre_mm - affine[:3, :3] @ middle
    return affine


def _render(phantom, affine, shape_xys, values, radius_mm, frames=1, shift_mm=None):
    """values: dict blood, myo, rv, background, scar (None for no scar)."""
    x, y, k = np.meshgrid(*(np.arange(n) for n in shape_xys), indexing="ij")
    world = np.stack([x, y, k, np.ones_like(x)], -1) @ affine.T
    world = world[..., :3]
    if shift_mm is not None:
        world = world - shift_mm  # anatomy moved by +shift
    centre = phantom.lv_centre_at(world)
    rel = world - centre
    u, v = phantom.rotation[:, 0], phantom.rotation[:, 1]
    a, b = rel @ u, rel @ v
    r = np.hypot(a, b)
    angle = np.arctan2(b, a)
    out = np.zeros((*shape_xys, frames), np.float32)
    labels = np.zeros(shape_xys, np.int16)
    for t in range(frames):
        cavity = radius_mm * (1 + 0.2 * np.cos(2 * np.pi * t / frames))
        img = np.full(shape_xys, values["background"], np.float32)
        rv = (np.hypot(a + 38, b) < 22) & (r > cavity + 10)
        img[rv] = values["rv"]
        myo = (r >= cavity) & (r < cavity + 9)
        img[myo] = values["myo"]
        img[r < cavity] = values["blood"]
        scar = myo & (np.abs(angle - 1.0) < 0.6)
        if values.get("scar") is not None:
            img[scar] = values["scar"]
        out[..., t] = img
        if t == 0:
            labels[r < cavity] = 1
            labels[myo] = 2
            labels[scar] = 5
            labels[rv] = 3
    return out, labels


def write_ring_phantom(
    directory: Path,
    frames: int = 12,
    lge_shift_in_plane_mm=(4.0, -3.0),
    cine_spacing=(1.4, 1.4, 8.0),
    lge_spacing=(1.6, 1.6, 8.0),
    lge_slice_offset_mm: float = 2.0,
    seed: int = 0,
) -> tuple[RingPhantom, dict]:
    """Cine (x, y, slice, time), LGE and labels (LGE grid) with an oblique orientation."""
    rng = np.random.default_rng(seed)
    rotation = Rotation.from_euler("xyz", [25, -35, 60], degrees=True).as_matrix()
    n = rotation[:, 2]
    axis = n + 0.15 * rotation[:, 0]
    axis = axis / np.linalg.norm(axis)
    stack_centre = np.array([12.0, -40.0, 25.0])
    lv_centre = stack_centre + 14.0 * rotation[:, 0] - 9.0 * rotation[:, 1]
    shift = lge_shift_in_plane_mm[0] * rotation[:, 0] + lge_shift_in_plane_mm[1] * rotation[:, 1]
    phantom = RingPhantom(lv_centre, axis, rotation, shift)
    cine_shape = (128, 120, 8)
    cine_affine = make_affine(rotation, cine_spacing, stack_centre, cine_shape)
    cine, _ = _render(
        phantom,
        cine_affine,
        cine_shape,
        {"background": 0.35, "myo": 0.2, "blood": 1.0, "rv": 0.9},
        18.0,
        frames,
    )
    cine = cine * 800 + rng.normal(0, 15, cine.shape).astype(np.float32)
    lge_shape = (112, 108, 8)
    lge_centre = stack_centre + lge_slice_offset_mm * n
    lge_affine = make_affine(rotation, lge_spacing, lge_centre, lge_shape)
    lge, labels = _render(
        phantom,
        lge_affine,
        lge_shape,
        {"background": 0.3, "myo": 0.05, "blood": 0.5, "rv": 0.45, "scar": 1.0},
        18.0,
        1,
        shift_mm=shift,
    )
    lge = lge[..., 0] * 300 + rng.normal(0, 6, lge.shape[:3]).astype(np.float32)
    paths = {
        "cine": directory / "cine.nii.gz",
        "lge": directory / "lge.nii.gz",
        "labels": directory / "labels.nii.gz",
    }
    save_nifti(cine, cine_affine, paths["cine"])
    save_nifti(lge, lge_affine, paths["lge"])
    save_nifti(labels, lge_affine, paths["labels"], dtype=np.int16)
    return phantom, paths
