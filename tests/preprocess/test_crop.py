"""Crop geometry: resampling onto the crop grid and the exact way back (crop_to_source)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cine2lge.preprocess.crop import crop_row, crop_to_source, crop_volume
from cine2lge.preprocess.volume import SourceVolume

from .ringphantom import make_affine


@pytest.fixture
def oblique_volume() -> SourceVolume:
    rotation = Rotation.from_euler("xyz", [20, -30, 50], degrees=True).as_matrix()
    affine = make_affine(rotation, (1.25, 1.25, 8.0), np.array([10.0, -20.0, 30.0]), (96, 88, 5))
    x, y = np.meshgrid(np.arange(96), np.arange(88), indexing="ij")
    smooth = np.sin(x / 9.0) + np.cos(y / 7.0)  # smooth: linear interpolation is near exact
    data = np.stack([smooth + k for k in range(5)], -1)[..., None].astype(np.float32)
    return SourceVolume(data, affine)


def _geometry(volume, rows):
    return json.loads(
        json.dumps(
            {
                "subject": "test",
                "grid_size": rows[0].grid_size,
                "cine": {
                    "source_shape": list(volume.shape_xys),
                    "source_affine": volume.affine.tolist(),
                    "rows": [r.to_json(volume.affine) for r in rows],
                },
            }
        )
    )


def test_point_round_trip_within_one_voxel(oblique_volume):
    """A bright voxel in the source comes back to the same voxel through crop and inverse."""
    volume = SourceVolume(np.zeros_like(oblique_volume.data_xyst), oblique_volume.affine)
    volume.data_xyst[40, 50, 2, 0] = 1000.0
    centre = volume.voxel_to_world([45.0, 45.0, 2.0])
    rows = [crop_row(volume.plane(k), k, centre, 96.0, 96) for k in range(5)]  # 1 mm pixels
    crop = crop_volume(volume, rows)[:, 0]
    y, x = np.unravel_index(np.argmax(crop[2]), crop[2].shape)
    source_voxel = np.asarray(rows[2].to_json(volume.affine)["crop_to_source_voxel"]) @ [x, y, 0, 1]
    assert np.linalg.norm(source_voxel[:3] - [40, 50, 2]) < 1.0
    back = crop_to_source(crop, _geometry(volume, rows))
    assert np.unravel_index(np.argmax(back), back.shape) == (40, 50, 2)


def test_image_round_trip(oblique_volume):
    centre = oblique_volume.voxel_to_world([47.5, 43.5, 2.0])
    rows = [crop_row(oblique_volume.plane(k), k, centre, 80.0, 80) for k in range(5)]
    crop = crop_volume(oblique_volume, rows)[:, 0]
    assert crop.shape == (5, 80, 80)
    back = crop_to_source(crop, _geometry(oblique_volume, rows))
    assert back.shape == (96, 88, 5)
    # Voxels well inside the crop (20 mm from the centre) come back within interpolation error.
    x, y = np.meshgrid(np.arange(96), np.arange(88), indexing="ij")
    inner = np.hypot((x - 47.5) * 1.25, (y - 43.5) * 1.25) < 20
    error = np.abs(back - oblique_volume.data_xyst[..., 0])[inner]
    assert error.max() < 0.05
    # Outside the 80 mm field of view nothing is invented.
    far = np.hypot((x - 47.5) * 1.25, (y - 43.5) * 1.25) > 60
    assert np.all(back[far] == 0)


def test_labels_use_nearest_neighbour(oblique_volume):
    labels = SourceVolume(
        (oblique_volume.data_xyst > 0.5).astype(np.int16) * 200, oblique_volume.affine
    )
    centre = labels.voxel_to_world([47.5, 43.5, 2.0])
    rows = [crop_row(labels.plane(k), k, centre, 64.0, 32) for k in range(5)]
    crop = crop_volume(labels, rows, labels=True)[:, 0]
    assert crop.dtype == np.int16
    assert set(np.unique(crop)) == {0, 200}
    back = crop_to_source(crop, _geometry(labels, rows))
    assert back.dtype == np.int16 and set(np.unique(back)) <= {0, 200}


def test_crop_to_source_rejects_wrong_slice_count(oblique_volume):
    centre = oblique_volume.voxel_to_world([47.5, 43.5, 2.0])
    rows = [crop_row(oblique_volume.plane(k), k, centre, 64.0, 32) for k in range(5)]
    with pytest.raises(ValueError, match="3 crop slices but the geometry of subject test has 5"):
        crop_to_source(np.zeros((3, 32, 32), np.float32), _geometry(oblique_volume, rows))


def test_crop_axes_follow_another_stack():
    """An LGE plane rotated in-plane by 90 degrees is cropped in the cine's orientation."""
    cine_rotation = np.eye(3)
    lge_rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    lge_affine = make_affine(lge_rotation, (1.0, 1.0, 8.0), np.zeros(3), (64, 64, 1))
    data = np.zeros((64, 64, 1, 1), np.float32)
    lge = SourceVolume(data, lge_affine)
    world_bright = np.array([10.0, 0.0, 0.0])  # +x in world = +x of the cine crop
    data[tuple(np.round(lge.world_to_voxel(world_bright)).astype(int))] = 1.0
    axes = (cine_rotation[:, 0], cine_rotation[:, 1])
    row = crop_row(lge.plane(0), 0, np.zeros(3), 64.0, 64, axes=axes)
    crop = crop_volume(lge, [row])[0, 0]
    y, x = np.unravel_index(np.argmax(crop), crop.shape)
    assert (x - 31.5, y - 31.5) == pytest.approx((10.0, 0.0), abs=1.0)
