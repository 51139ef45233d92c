"""DICOM patient geometry to NIfTI affines.

Conventions used everywhere in cine2lge:
- NIfTI arrays are indexed (x, y, slice[, time]) with x = DICOM column index, y = DICOM row index,
  so `volume[:, :, k] == pixel_array.T` for the k-th slice.
- Slices are ordered by their position along the slice normal n = row_cosine x column_cosine
  (never by InstanceNumber or file name).
- DICOM patient coordinates are LPS; NIfTI world coordinates are RAS (x and y negated).
"""

from __future__ import annotations

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def slice_normal(orientation: np.ndarray) -> np.ndarray:
    """Unit normal of an ImageOrientationPatient (row cosine, column cosine), LPS."""
    orientation = np.asarray(orientation, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    return normal / np.linalg.norm(normal)


def slice_positions_mm(positions: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Position of each slice along the normal: ImagePositionPatient (n, 3) . normal."""
    return np.asarray(positions, dtype=float) @ slice_normal(orientation)


def affine_lps(
    orientation: np.ndarray,
    first_position: np.ndarray,
    pixel_spacing: np.ndarray,
    slice_step: float,
) -> np.ndarray:
    """4x4 voxel (x=column, y=row, slice) to LPS affine.

    `pixel_spacing` is DICOM PixelSpacing: (spacing between rows, spacing between columns).
    `slice_step` is the signed distance between consecutive slices along the normal.
    """
    orientation = np.asarray(orientation, dtype=float)
    row_cosine, column_cosine = orientation[:3], orientation[3:]
    affine = np.eye(4)
    affine[:3, 0] = row_cosine * float(pixel_spacing[1])  # moving along x = along a row
    affine[:3, 1] = column_cosine * float(pixel_spacing[0])  # moving along y = down a column
    affine[:3, 2] = slice_normal(orientation) * float(slice_step)
    affine[:3, 3] = np.asarray(first_position, dtype=float)
    return affine


def affine_ras(
    orientation: np.ndarray,
    first_position: np.ndarray,
    pixel_spacing: np.ndarray,
    slice_step: float,
) -> np.ndarray:
    """Same as affine_lps, in NIfTI RAS world coordinates."""
    return LPS_TO_RAS @ affine_lps(orientation, first_position, pixel_spacing, slice_step)
