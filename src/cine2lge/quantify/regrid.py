"""Put a short-axis stack at any in-plane resolution on a learned network's crop grid, and the
network's output back on the stack's own pixels.

The learned LGE quantifier was trained on the preprocess stage's crops (square, `grid_size`
pixels of `fov_mm / grid_size` mm, centred on the LV, intensities percentile-normalised over
the crop). `cine2lge quantify-lge` reads LGE at its native resolution and raw scanner values,
and a pipeline may crop on another grid: both are brought to the weights' grid here (per slice,
centred on the myocardium's centroid, bilinear), and the scar probability is mapped back
(bilinear) so that the threshold, the myocardium and the burden stay on the native pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cine2lge.preprocess.normalise import percentile_normalise


@dataclass(frozen=True)
class CropGrid:
    """The crop grid a network was trained on (from the preprocess keys its weights record)."""

    size: int = 64
    pixel_mm: float = 2.0
    percentiles: tuple[float, float] = (1.0, 99.0)

    @classmethod
    def from_inputs(cls, inputs: dict, size: int) -> CropGrid:
        """The grid of a weights' input record (`preprocess.fov_mm` / `grid_size` /
        `intensity_percentiles`); the preprocess defaults where a key is not recorded."""
        grid = int(inputs.get("preprocess.grid_size", size))
        fov = float(inputs.get("preprocess.fov_mm", cls.pixel_mm * grid))
        low, high = inputs.get("preprocess.intensity_percentiles", cls.percentiles)
        return cls(size, fov / grid, (float(low), float(high)))

    def holds(self, shape_yx: tuple[int, ...], spacing_yx: tuple[float, float]) -> bool:
        """True when an image of this shape and pixel spacing already is on the grid."""
        return tuple(shape_yx) == (self.size, self.size) and all(
            abs(float(s) - self.pixel_mm) <= 1e-3 * self.pixel_mm for s in spacing_yx
        )


@dataclass(frozen=True)
class Regridded:
    """A stack on the crop grid and the per-slice placement of the crops in the stack."""

    image_syx: np.ndarray  # percentile-normalised over the crops' pixels inside the stack
    myocardium_syx: np.ndarray
    centre_syx: np.ndarray  # (slice, 2) crop centre in native (row, column) pixels
    step_yx: np.ndarray  # native pixels per crop pixel along (row, column)
    native_shape: tuple[int, int, int]


def _crop_coordinates(grid: CropGrid, centre_yx: np.ndarray, step_yx: np.ndarray) -> np.ndarray:
    """(2, size, size) native (row, column) position of every crop pixel."""
    offsets = np.arange(grid.size) - (grid.size - 1) / 2
    return np.stack(
        np.meshgrid(
            centre_yx[0] + offsets * step_yx[0], centre_yx[1] + offsets * step_yx[1], indexing="ij"
        )
    )


def to_crop_grid(
    image_syx: np.ndarray,
    myocardium_syx: np.ndarray,
    spacing_yx: tuple[float, float],
    grid: CropGrid,
) -> Regridded:
    """Crops of `grid` centred on each slice's myocardium (slices without myocardium: the
    mean centre), the image bilinear and percentile-normalised as the preprocess stage does,
    the mask bilinear then > 0.5."""
    image = np.asarray(image_syx, np.float32)
    myocardium = np.asarray(myocardium_syx, bool)
    if image.shape != myocardium.shape or image.ndim != 3:
        raise ValueError(
            f"image {image.shape} and myocardium {myocardium.shape} must be one (slice, y, x) grid"
        )
    if not myocardium.any():
        raise ValueError("no myocardium: the crops are centred on it")
    step = np.asarray(grid.pixel_mm, float) / np.asarray(spacing_yx, float)
    centres = np.array(
        [ndimage.center_of_mass(m) if m.any() else (np.nan, np.nan) for m in myocardium]
    )
    centres[np.isnan(centres[:, 0])] = np.nanmean(centres, axis=0)
    crops = np.zeros((len(image), grid.size, grid.size), np.float32)
    masks = np.zeros_like(crops)
    inside = np.zeros(crops.shape, bool)
    last = np.asarray(image.shape[1:], float)[:, None, None] - 1
    for k in range(len(image)):
        where = _crop_coordinates(grid, centres[k], step)
        crops[k] = ndimage.map_coordinates(image[k], where, order=1, mode="nearest")
        masks[k] = ndimage.map_coordinates(myocardium[k].astype(np.float32), where, order=1)
        inside[k] = ((where >= 0) & (where <= last)).all(axis=0)  # crop pixels on the stack
    normalised, _ = percentile_normalise(crops, grid.percentiles, inside)
    normalised[~inside] = 0.0
    return Regridded(normalised, masks > 0.5, centres, step, image.shape)


def to_native(values_syx: np.ndarray, placed: Regridded) -> np.ndarray:
    """Crop-grid values (slice, y, x) bilinear on the native pixels (0 outside the crops)."""
    size = values_syx.shape[-1]
    out = np.zeros(placed.native_shape, np.float32)
    rows, cols = np.indices(placed.native_shape[1:], dtype=np.float64)
    for k, values in enumerate(np.asarray(values_syx, np.float32)):
        where = np.stack(
            [
                (rows - placed.centre_syx[k, 0]) / placed.step_yx[0] + (size - 1) / 2,
                (cols - placed.centre_syx[k, 1]) / placed.step_yx[1] + (size - 1) / 2,
            ]
        )
        out[k] = ndimage.map_coordinates(values, where, order=1, cval=0.0)
    return out
