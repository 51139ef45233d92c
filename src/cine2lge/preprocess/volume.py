"""Source volumes (NIfTI x, y, slice[, time] in RAS) and the geometry of their slice planes.

Every slice of a short-axis stack is treated as its own plane: origin = world position of voxel
(0, 0, k), in-plane unit axes u (along x = DICOM columns) and v (along y = DICOM rows), normal
n = u x v. Working per plane keeps crops exact even when slices are not evenly spaced along the
normal (the affine's third column need not be parallel to n).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np


@dataclass(frozen=True)
class SlicePlane:
    """A 2D image plane in RAS world mm: voxel (i, j) is at
    origin + i*spacing[0]*u + j*spacing[1]*v."""

    origin_mm: np.ndarray  # (3,)
    u: np.ndarray  # (3,) unit, along x (columns)
    v: np.ndarray  # (3,) unit, along y (rows)
    spacing_mm: np.ndarray  # (2,) in-plane (x, y)
    thickness_mm: float

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.u, self.v)
        return n / np.linalg.norm(n)

    def to_world(self, ij: np.ndarray) -> np.ndarray:
        """In-plane voxel coordinates (..., 2) -> world (..., 3)."""
        ij = np.asarray(ij, dtype=float)
        return (
            self.origin_mm
            + ij[..., :1] * self.spacing_mm[0] * self.u
            + ij[..., 1:2] * self.spacing_mm[1] * self.v
        )

    def to_plane(self, world_mm: np.ndarray) -> np.ndarray:
        """World (..., 3) -> in-plane voxel coordinates (..., 2) of its projection on this plane."""
        d = np.asarray(world_mm, dtype=float) - self.origin_mm
        return np.stack([d @ self.u / self.spacing_mm[0], d @ self.v / self.spacing_mm[1]], -1)

    def project(self, world_mm: np.ndarray) -> np.ndarray:
        """Orthogonal projection of a world point onto this plane."""
        world_mm = np.asarray(world_mm, dtype=float)
        return world_mm - ((world_mm - self.origin_mm) @ self.normal) * self.normal

    def signed_distance_mm(self, world_mm: np.ndarray) -> float:
        return float((np.asarray(world_mm, dtype=float) - self.origin_mm) @ self.normal)


@dataclass
class SourceVolume:
    """A NIfTI volume as (x, y, slice, time) float data plus its RAS affine.

    3D volumes (LGE, labels, single-phase cine) get a time axis of length 1.
    """

    data_xyst: np.ndarray
    affine: np.ndarray
    path: str = ""

    @classmethod
    def load(cls, path: str | Path, dtype=np.float32) -> SourceVolume:
        image = nib.load(str(path))
        data = np.asarray(image.dataobj, dtype=dtype)
        if data.ndim == 2:
            data = data[:, :, None]
        if data.ndim == 3:
            data = data[..., None]
        if data.ndim != 4:
            raise ValueError(
                f"{path}: expected a 3D or 4D NIfTI (x, y, slice[, time]), got {data.shape}"
            )
        return cls(data, np.asarray(image.affine, dtype=float), str(path))

    @property
    def shape_xys(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data_xyst.shape[:3])

    @property
    def n_slices(self) -> int:
        return self.data_xyst.shape[2]

    @property
    def n_frames(self) -> int:
        return self.data_xyst.shape[3]

    @property
    def spacing_mm(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def plane(self, k: int) -> SlicePlane:
        spacing = self.spacing_mm
        origin = (self.affine @ np.array([0.0, 0.0, k, 1.0]))[:3]
        u = self.affine[:3, 0] / spacing[0]
        v = self.affine[:3, 1] / spacing[1]
        # Thickness of a one-slice image: the distance between neighbouring planes along n.
        thickness = abs(float(self.affine[:3, 2] @ np.cross(u, v) / np.linalg.norm(np.cross(u, v))))
        return SlicePlane(origin, u, v, spacing[:2].copy(), max(thickness, 1e-3))

    def planes(self) -> list[SlicePlane]:
        return [self.plane(k) for k in range(self.n_slices)]

    def voxel_to_world(self, xyz: np.ndarray) -> np.ndarray:
        xyz = np.asarray(xyz, dtype=float)
        return xyz @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_voxel(self, world_mm: np.ndarray) -> np.ndarray:
        inverse = np.linalg.inv(self.affine)
        return np.asarray(world_mm, dtype=float) @ inverse[:3, :3].T + inverse[:3, 3]
