"""A synthetic demo subject (cine2lge.phantom, DICOM -> ingest -> preprocess): LV centre and the
cine-to-LGE breath-hold shift against the phantom's truth.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cine2lge.preprocess.subject import Settings, preprocess_subject
from cine2lge.preprocess.volume import SourceVolume

from . import realdata


@pytest.fixture(scope="module")
def demo_subject(tmp_path_factory):
    write = pytest.importorskip("cine2lge.phantom.write")
    ingest = pytest.importorskip("cine2lge.dicom.ingest")
    root = tmp_path_factory.mktemp("demo0002")
    write.write_subject(
        "demo0002", 2026, root / "dicom", root / "labels.nii.gz", root / "truth.json", n_slices=6
    )
    for role in ("cine", "lge"):
        ingest.ingest_series(
            root / "dicom",
            "demo0002",
            role,
            root / f"{role}.nii.gz",
            root / f"{role}.json",
            root / f"qc_{role}.json",
            progress=False,
        )
    return root, json.loads((root / "truth.json").read_text())


def test_demo_lv_centre_and_registration(demo_subject):
    root, truth = demo_subject
    settings = Settings(128.0, 64, 8, (1.0, 99.0), 5.0, False, True, 40.0, 15.0)
    result = preprocess_subject(
        "demo0002",
        root / "cine.nii.gz",
        settings,
        root / "lge.nii.gz",
        root / "labels.nii.gz",
        [2, 4, 5],
    )
    cine = SourceVolume.load(root / "cine.nii.gz")
    lps_to_ras = np.array([-1.0, -1.0, 1.0])
    centres = {
        k: np.asarray(c) * lps_to_ras for k, c in enumerate(truth["lv_centre_lps_mm"]["cine"])
    }
    distance, per_slice = realdata.in_plane_distance_mm(result.axis, cine, centres)
    assert result.axis.method == "image"
    assert distance < 3.0 and max(per_slice) < 5.0
    pairs = result.pairs
    assert (pairs["status"] == "paired").all() and (pairs["registration"] == "ok").all()
    # The LGE crop axes are the cine's image x/y, the frame of truth's image_xy shift.
    shift = pairs[["shift_x_mm", "shift_y_mm"]].median().to_numpy()
    np.testing.assert_allclose(shift, truth["lge_shift_mm"]["image_xy"], atol=1.0)
    assert result.arrays["cine_styx"].shape == (6, 8, 64, 64)
