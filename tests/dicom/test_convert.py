"""Conversion of generated studies with known answers: layout, values, affine, formats."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless

from cine2lge.dicom.ingest import ingest_series

from .fixtures import SeriesSpec, write_enhanced, write_single_frame, write_study
from .fixtures import run_ingest as run


def test_study_cine_and_lge_are_found_among_distractors_and_equal_the_truth(tmp_path):
    expected = write_study(tmp_path / "study")
    for role in ("cine", "lge"):
        volume, out = run(tmp_path / "study", tmp_path, role)
        image = nib.load(out / f"{role}.nii.gz")
        assert image.shape == expected[role].volume.shape
        assert image.get_data_dtype() == np.float32
        np.testing.assert_array_equal(image.get_fdata(dtype=np.float32), expected[role].volume)
        np.testing.assert_allclose(image.affine, expected[role].affine, atol=1e-3)
        np.testing.assert_allclose(image.header.get_qform(), expected[role].affine, atol=1e-3)
    sidecar = json.loads((out / "cine.json").read_text())
    assert sidecar["TriggerTimes"] == [5.0, 35.0, 65.0, 95.0, 125.0, 155.0]
    assert sidecar["SeriesDescription"] == "cine_sa"


def test_cine_shape_is_x_y_slice_time(tmp_path):
    spec = SeriesSpec(n_slices=3, n_phases=7, rows=9, columns=11)
    write_single_frame(tmp_path / "s", spec)
    volume, out = run(tmp_path / "s", tmp_path)
    assert nib.load(out / "cine.nii.gz").shape == (11, 9, 3, 7)
    assert volume.nifti_xyzt.flags.f_contiguous


def test_rescale_slope_intercept_and_trigger_jitter_between_slices(tmp_path):
    spec = SeriesSpec(slope=2.5, intercept=-100.0, trigger_jitter_ms=11.0)
    expected = write_single_frame(tmp_path / "s", spec)
    volume, out = run(tmp_path / "s", tmp_path)
    np.testing.assert_allclose(volume.nifti_xyzt, expected.volume, rtol=1e-6)
    assert volume.nifti_xyzt.min() < 0
    qc = json.loads((out / "qc_cine.json").read_text())
    assert qc["trigger_time_spread_ms"] == pytest.approx(33.0)


def test_enhanced_multiframe_per_frame_groups(tmp_path):
    expected = write_enhanced(tmp_path / "s", SeriesSpec(slope=2.0, intercept=-5.0))
    volume, out = run(tmp_path / "s", tmp_path)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)
    np.testing.assert_allclose(volume.affine, expected.affine, atol=1e-3)
    sidecar = json.loads((out / "cine.json").read_text())
    assert sidecar["RepetitionTime"] == 3.1 and sidecar["EchoTime"] == 1.4


LOSSLESS = [JPEG2000Lossless, JPEGLSLossless]


@pytest.mark.parametrize("syntax", LOSSLESS, ids=["jpeg2000", "jpegls"])
@pytest.mark.parametrize("writer", [write_single_frame, write_enhanced], ids=["single", "enhanced"])
def test_lossless_compressed(tmp_path, syntax, writer):
    if syntax == JPEGLSLossless:
        pytest.importorskip("jpeg_ls", reason="pyjpegls is needed to encode the JPEG-LS fixture")
    # OpenJPEG refuses images smaller than its decomposition levels: 40 x 36 pixels.
    expected = writer(tmp_path / "s", SeriesSpec(rows=40, columns=36), syntax=syntax)
    volume, _ = run(tmp_path / "s", tmp_path, threads=2)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)


def test_jpeg_baseline_is_lossy_but_close(tmp_path):
    expected = write_single_frame(
        tmp_path / "s", SeriesSpec(rows=40, columns=36), syntax=JPEGBaseline8Bit
    )
    volume, _ = run(tmp_path / "s", tmp_path)
    error = np.abs(volume.nifti_xyzt - expected.volume)
    assert volume.nifti_xyzt.shape == expected.volume.shape
    assert error.mean() < 3 and error.max() <= 16  # quality 95 on 8-bit noise


def test_cine_acquired_one_series_per_slice_is_merged(tmp_path):
    full = SeriesSpec(n_slices=4, n_phases=6)
    expected = write_single_frame(tmp_path / "ref", full)
    normal = np.cross(full.orientation[:3], full.orientation[3:])
    for k in range(4):
        origin = tuple(np.asarray(full.origin) + k * full.step_mm * normal)
        part = SeriesSpec(n_slices=1, n_phases=6, origin=origin, number=20 + k, seed=full.seed)
        part_raw = expected.raw_tsyx[:, k : k + 1]
        _write_with_values(tmp_path / "study", part, part_raw)
    volume, out = run(tmp_path / "study", tmp_path)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)
    np.testing.assert_allclose(volume.affine, expected.affine, atol=1e-3)
    assert len(json.loads((out / "cine.json").read_text())["SeriesInstanceUIDHash"]) == 4


def _write_with_values(folder, spec, raw_tsyx):
    from . import fixtures

    original = fixtures.raw_values
    fixtures.raw_values = lambda s, m=4000: raw_tsyx
    try:
        return write_single_frame(folder, spec)
    finally:
        fixtures.raw_values = original


def test_several_lge_series_magnitude_then_latest_series_number(tmp_path):
    study = tmp_path / "study"
    write_single_frame(study, SeriesSpec(description="cine_sa"))
    lge = {"n_slices": 4, "n_phases": 1, "inversion_time_ms": 300.0}
    write_single_frame(
        study, SeriesSpec(description="LGE sa", number=10, seed=1, **lge), cine=False
    )
    late = write_single_frame(
        study, SeriesSpec(description="LGE sa", number=14, seed=2, **lge), cine=False
    )
    psir = write_single_frame(
        study, SeriesSpec(description="LGE sa PSIR", number=16, seed=3, **lge), cine=False
    )
    volume, out = run(study, tmp_path, "lge")
    np.testing.assert_array_equal(volume.nifti_xyz, late.volume)
    volume, out = run(study, tmp_path, "lge", config={"lge_prefer": ["psir", "magnitude"]})
    np.testing.assert_array_equal(volume.nifti_xyz, psir.volume)
    assert "2 LGE candidates" in " ".join(json.loads((out / "qc_lge.json").read_text())["warnings"])


def test_explicit_series_uid_overrides_classification(tmp_path):
    study = tmp_path / "study"
    write_single_frame(study, SeriesSpec(description="cine_sa", n_slices=5))
    small = SeriesSpec(description="other cine", n_slices=3, number=9, seed=4)
    expected = write_single_frame(study, small)
    volume, _ = run(study, tmp_path, series_uids=small.uid)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)


def test_nifti_source_passes_through(tmp_path):
    affine = np.diag([1.5, 1.5, 8.0, 1.0])
    data = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3)
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "lge_in.nii.gz")
    volume, out = run(tmp_path / "lge_in.nii.gz", tmp_path, "lge")
    image = nib.load(out / "lge.nii.gz")
    np.testing.assert_array_equal(image.get_fdata(), data)
    np.testing.assert_allclose(image.affine, affine)
    volume, out = run(tmp_path / "lge_in.nii.gz", tmp_path, "cine")  # one frame: T = 1
    assert nib.load(out / "cine.nii.gz").shape == (4, 5, 3, 1)


def test_uncompressed_output_by_file_name(tmp_path):
    expected = write_single_frame(tmp_path / "s", SeriesSpec())
    out = tmp_path / "out"
    ingest_series(
        tmp_path / "s",
        "S01",
        "cine",
        out / "cine.nii",
        out / "c.json",
        out / "q.json",
        progress=False,
    )
    np.testing.assert_array_equal(nib.load(out / "cine.nii").get_fdata(), expected.volume)
