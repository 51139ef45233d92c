"""Fixed-field-of-view crops of slice planes (SimpleITK resampling) and their exact inverse.

A crop row is a grid_size x grid_size image lying in one source slice plane, centred on the LV,
with pixel spacing fov_mm / grid_size and in-plane axes (U, V). Crop pixel (x, y) of row s is at
world position origin_s + x*h*U + y*h*V. `geometry.json` stores this per row together with the
source grid, so `crop_to_source` can put predictions back on the original cine grid.

SimpleITK is used with our own RAS world coordinates throughout (it never reads or writes files
here), so no LPS conversion is needed: resampling only needs all images in one world frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from cine2lge.preprocess.volume import SlicePlane, SourceVolume


@dataclass(frozen=True)
class CropRow:
    """Geometry of one crop image: in the plane of source slice `source_slice`."""

    source_slice: int
    origin_mm: np.ndarray  # world position of crop pixel (0, 0)
    u: np.ndarray  # unit axis of crop x
    v: np.ndarray  # unit axis of crop y
    spacing_mm: float
    grid_size: int
    thickness_mm: float

    @property
    def centre_mm(self) -> np.ndarray:
        half = (self.grid_size - 1) / 2 * self.spacing_mm
        return self.origin_mm + half * self.u + half * self.v

    def affine(self) -> np.ndarray:
        """4x4 crop voxel (x, y, 0) -> world RAS mm."""
        normal = np.cross(self.u, self.v)
        affine = np.eye(4)
        affine[:3, 0] = self.u * self.spacing_mm
        affine[:3, 1] = self.v * self.spacing_mm
        affine[:3, 2] = normal * self.thickness_mm
        affine[:3, 3] = self.origin_mm
        return affine

    def to_json(self, source_affine: np.ndarray) -> dict:
        crop_affine = self.affine()
        # Crop voxel (x, y, 0) -> source voxel (x, y, slice): the mapping back to the source grid.
        crop_to_source = np.linalg.inv(source_affine) @ crop_affine
        return {
            "source_slice": self.source_slice,
            "origin_mm": self.origin_mm.tolist(),
            "direction": np.stack([self.u, self.v, np.cross(self.u, self.v)], 1).tolist(),
            "spacing_mm": [self.spacing_mm, self.spacing_mm, self.thickness_mm],
            "centre_mm": self.centre_mm.tolist(),
            "crop_to_world": crop_affine.tolist(),
            "crop_to_source_voxel": crop_to_source.tolist(),
        }

    @classmethod
    def from_json(cls, row: dict, grid_size: int) -> CropRow:
        direction = np.asarray(row["direction"], dtype=float)
        spacing = row["spacing_mm"]
        return cls(
            int(row["source_slice"]),
            np.asarray(row["origin_mm"], dtype=float),
            direction[:, 0],
            direction[:, 1],
            float(spacing[0]),
            grid_size,
            float(spacing[2]),
        )


def crop_row(
    plane: SlicePlane,
    source_slice: int,
    centre_mm: np.ndarray,
    fov_mm: float,
    grid_size: int,
    axes: tuple[np.ndarray, np.ndarray] | None = None,
    shift_mm: np.ndarray | None = None,
) -> CropRow:
    """Crop grid in `plane` centred on the projection of `centre_mm` (+ in-plane `shift_mm`).

    `axes` (U, V) default to the plane's own (u, v); other axes (e.g. the cine's, for an LGE
    plane) are projected into the plane and orthonormalised so crops of both modalities share
    their orientation.
    """
    u, v = (plane.u, plane.v) if axes is None else axes
    normal = plane.normal
    u = u - (u @ normal) * normal
    u = u / np.linalg.norm(u)
    v = v - (v @ normal) * normal - (v @ u) * u
    v = v / np.linalg.norm(v)
    centre = plane.project(centre_mm)
    if shift_mm is not None:
        centre = centre + shift_mm[0] * u + shift_mm[1] * v
    spacing = fov_mm / grid_size
    half = (grid_size - 1) / 2 * spacing
    origin = centre - half * u - half * v
    return CropRow(source_slice, origin, u, v, spacing, grid_size, plane.thickness_mm)


def _image(array_xy: np.ndarray, origin, u, v, spacing_xy, thickness) -> sitk.Image:
    """A one-slice 3D SimpleITK image of a (x, y) array lying in the given plane."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array_xy).T[None]))
    image.SetOrigin([float(c) for c in origin])
    image.SetSpacing([float(spacing_xy[0]), float(spacing_xy[1]), float(thickness)])
    normal = np.cross(u, v)
    image.SetDirection(np.stack([u, v, normal], 1).ravel().tolist())
    return image


def _reference(row: CropRow) -> sitk.Image:
    return _image(
        np.zeros((row.grid_size, row.grid_size), np.float32),
        row.origin_mm,
        row.u,
        row.v,
        (row.spacing_mm, row.spacing_mm),
        row.thickness_mm,
    )


def _source_image(volume: SourceVolume, k: int, frame: int) -> sitk.Image:
    plane = volume.plane(k)
    return _image(
        volume.data_xyst[:, :, k, frame],
        plane.origin_mm,
        plane.u,
        plane.v,
        plane.spacing_mm,
        plane.thickness_mm,
    )


def _antialias(image: sitk.Image, source_spacing_mm: np.ndarray, target_mm: float) -> sitk.Image:
    # Downsampling (e.g. 0.7 mm -> 2 mm) aliases; a Gaussian of the missing resolution first.
    variance = np.maximum(target_mm**2 - np.asarray(source_spacing_mm) ** 2, 0.0) / (2.355**2)
    if not np.any(variance > 0):
        return image
    variances = [float(variance[0]), float(variance[1]), 0.0]  # never across slices
    return sitk.DiscreteGaussian(image, variances, 32, 0.01, True)


def resample_slice(
    volume: SourceVolume, row: CropRow, frame: int = 0, labels: bool = False
) -> np.ndarray:
    """Crop row `row` of `volume` (frame `frame`) as a (y, x) array.

    Linear interpolation with anti-aliasing for images, nearest neighbour for label maps;
    pixels outside the source field of view are 0.
    """
    source = _source_image(volume, row.source_slice, frame)
    if labels:
        interpolator = sitk.sitkNearestNeighbor
    else:
        source = sitk.Cast(source, sitk.sitkFloat32)
        source = _antialias(source, volume.spacing_mm[:2], row.spacing_mm)
        interpolator = sitk.sitkLinear
    resampled = sitk.Resample(source, _reference(row), sitk.Transform(), interpolator, 0.0)
    return sitk.GetArrayFromImage(resampled)[0]  # (1, y, x) -> (y, x)


def crop_volume(
    volume: SourceVolume, rows: list[CropRow | None], labels: bool = False, grid_size: int = 0
) -> np.ndarray:
    """All frames of all rows: (row, time, y, x); rows that are None are left 0."""
    grid = next((r.grid_size for r in rows if r is not None), grid_size)
    out = np.zeros((len(rows), volume.n_frames, grid, grid), np.int16 if labels else np.float32)
    for s, row in enumerate(rows):
        if row is None:
            continue
        for t in range(volume.n_frames):
            out[s, t] = resample_slice(volume, row, t, labels)
    return out


def geometry_rows(geometry: dict, which: str) -> list[CropRow | None]:
    section = geometry[which]
    return [
        None if row is None else CropRow.from_json(row, geometry["grid_size"])
        for row in section["rows"]
    ]


def crop_to_source(
    crop_syx: np.ndarray, geometry: dict, which: str = "cine", fill: float = 0.0
) -> np.ndarray:
    """Map crop images (slice, y, x) back onto the source grid of `which` ("cine" or "lge").

    Returns a (x, y, slice) volume on the source grid (`geometry[which]["source_shape"]`): linear
    interpolation for float arrays, nearest neighbour for integer arrays (label maps, masks);
    source voxels outside every crop are `fill`.
    """
    section = geometry[which]
    rows = geometry_rows(geometry, which)
    crop_syx = np.asarray(crop_syx)
    if crop_syx.shape[0] != len(rows):
        raise ValueError(
            f"crop_to_source({which}): {crop_syx.shape[0]} crop slices but the geometry of subject"
            f" {geometry.get('subject', '?')} has {len(rows)} rows"
        )
    integer = np.issubdtype(crop_syx.dtype, np.integer) or crop_syx.dtype == bool
    shape = tuple(section["source_shape"])
    affine = np.asarray(section["source_affine"], dtype=float)
    source = SourceVolume(np.zeros((*shape[:2], shape[2], 1), np.float32), affine)
    out = np.full(shape, fill, dtype=crop_syx.dtype if integer else np.float32)
    interpolator = sitk.sitkNearestNeighbor if integer else sitk.sitkLinear
    for s, row in enumerate(rows):
        if row is None:
            continue
        crop_image = _image(
            crop_syx[s].T.astype(np.float32),
            row.origin_mm,
            row.u,
            row.v,
            (row.spacing_mm, row.spacing_mm),
            row.thickness_mm,
        )
        reference = _source_image(source, row.source_slice, 0)
        sentinel = float("nan")
        resampled = sitk.Resample(crop_image, reference, sitk.Transform(), interpolator, sentinel)
        slice_yx = sitk.GetArrayFromImage(resampled)[0]
        inside = np.isfinite(slice_yx)
        out[:, :, row.source_slice][inside.T] = slice_yx.T[inside.T].astype(out.dtype)
    return out
