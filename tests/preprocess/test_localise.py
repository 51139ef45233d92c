"""LV localisation on the ring phantom (known axis) with and without motion and labels."""

from __future__ import annotations

import numpy as np

from cine2lge.preprocess.localise import fit_axis, localise_lv, lv_axis_from_labels
from cine2lge.preprocess.volume import SourceVolume

from .ringphantom import write_ring_phantom


def _errors_mm(axis, phantom, volume, shift_mm=0.0):
    errors = []
    for k in range(volume.n_slices):
        found = axis.centre_in(volume.plane(k))
        truth = phantom.lv_centre_at(found - shift_mm) + shift_mm
        errors.append(np.linalg.norm(found - truth))
    return np.array(errors)


def test_image_based_centre_on_every_slice(tmp_path):
    phantom, paths = write_ring_phantom(tmp_path)
    cine = SourceVolume.load(paths["cine"])
    axis = localise_lv(cine)
    assert axis.method == "image"
    assert _errors_mm(axis, phantom, cine).max() < 3.0
    # The fitted axis is the tilted LV axis, not the slice normal.
    assert np.degrees(np.arccos(abs(axis.direction @ phantom.axis_direction))) < 5


def test_single_frame_fallback(tmp_path):
    phantom, paths = write_ring_phantom(tmp_path, frames=1)
    cine = SourceVolume.load(paths["cine"])
    assert cine.n_frames == 1
    assert _errors_mm(localise_lv(cine), phantom, cine).max() < 3.0


def test_labels_give_the_myocardium_centroid(tmp_path):
    phantom, paths = write_ring_phantom(tmp_path)
    labels = SourceVolume.load(paths["labels"], dtype=np.int16)
    axis = lv_axis_from_labels(labels, [2, 5])
    assert axis.method == "labels"
    # The labels live on the LGE grid, whose anatomy is shifted by the breath-hold offset.
    assert _errors_mm(axis, phantom, labels, phantom.lge_shift_mm).max() < 1.5


def test_fit_axis_uses_normal_for_two_slices():
    normal = np.array([0.0, 0.0, 1.0])
    axis = fit_axis([np.array([1.0, 2.0, 0.0]), np.array([3.0, 2.0, 10.0])], [1, 1], normal, "x")
    np.testing.assert_allclose(axis.direction, normal)
    np.testing.assert_allclose(axis.point_mm, [2.0, 2.0, 5.0])
