from __future__ import annotations

import numpy as np
import pytest
import torch

from cine2lge.segment.net import (
    CLASSES,
    SegmentSpec,
    build_segmenter,
    classes_from_labels,
    label_frame,
)

DEMO = {
    "blood_pool": [1],
    "myocardium": [2, 4, 5],
    "right_ventricle": [3],
    "intermediate": [4],
    "hyperintense": [5],
}
MYOPS = {"blood_pool": [500], "myocardium": [200, 1220, 2221], "right_ventricle": [600]}


def test_classes_from_demo_and_myops_labels():
    demo = np.array([0, 1, 2, 3, 4, 5, 7], dtype=np.int16)
    assert classes_from_labels(demo, DEMO).tolist() == [0, 1, 2, 3, 2, 2, 0]
    myops = np.array([0, 500, 200, 600, 1220, 2221])
    assert classes_from_labels(myops, MYOPS).tolist() == [0, 1, 2, 3, 2, 2]
    assert CLASSES == ("background", "blood_pool", "myocardium", "right_ventricle")


@pytest.mark.parametrize(
    ("n_frames", "fraction", "frame"),
    [(8, 0.75, 6), (8, 0.0, 0), (8, 0.97, 0), (25, 0.75, 19), (1, 0.75, 0)],
)
def test_label_frame_is_the_cyclically_closest_frame(n_frames, fraction, frame):
    assert label_frame(n_frames, fraction) == frame


def test_spec_round_trip_and_output_shape():
    spec = SegmentSpec(channels=(8, 16, 32), strides=(2, 2), image_size=(32, 32))
    assert SegmentSpec.from_json(spec.to_json()) == spec
    assert SegmentSpec.from_config({"channels": [8, 16, 32], "strides": [2, 2]}, 32) == spec
    out = build_segmenter(spec)(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 4, 32, 32)


def test_invalid_spec_names_the_problem():
    with pytest.raises(ValueError, match="strides .* one entry fewer than channels"):
        SegmentSpec(channels=(8, 16), strides=(2, 2))
    with pytest.raises(ValueError, match="image_size .* divisible by 8"):
        SegmentSpec(image_size=(60, 60))
