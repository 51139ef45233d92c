"""Discovery reads only the attributes it needs (pydicom `specific_tags`), with the same values
and pixel offset as a full header read; NIfTI writing (ISA-L igzip_threaded) round-trips."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
import yaml

from cine2lge.dicom.classify import DEFAULTS
from cine2lge.dicom.convert import CONVERT_DEFAULTS
from cine2lge.dicom.discover import FRAME_TAGS, read_header, relax_pydicom_validation
from cine2lge.dicom.niftiwrite import save_nifti_fast

from .fixtures import SeriesSpec, write_enhanced, write_study


def _agree(path):
    relax_pydicom_validation()
    header, offset = read_header(path)
    full, full_offset = read_header(path, tags=None)
    assert offset == full_offset, path
    for keyword in FRAME_TAGS:
        assert (keyword in header) == (keyword in full), keyword
        if keyword in full:
            assert header[keyword].value == full[keyword].value, keyword
    assert "PatientAddress" not in header and "Manufacturer" in full


def test_partial_header_agrees_with_full_header(tmp_path):
    expected = write_study(tmp_path / "s")
    for path in expected["cine"].files[:5] + expected["lge"].files[:2]:
        _agree(path)
        _, offset = read_header(path)
        data = path.read_bytes()
        assert data[offset : offset + 4] == b"\xe0\x7f\x10\x00"  # (7FE0,0010) starts there
    enhanced = write_enhanced(tmp_path / "e", SeriesSpec())
    _agree(enhanced.files[0])
    header, _ = read_header(enhanced.files[0])
    assert len(header.PerFrameFunctionalGroupsSequence) == 24


@pytest.mark.realdata
def test_partial_header_agrees_on_sunnybrook(shared_data):
    files = sorted((shared_data / "sunnybrook" / "dicom").glob("SCD*/*.dcm"))[::50]
    if not files:
        pytest.skip("no Sunnybrook DICOM files")
    for path in files:
        _agree(path)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
@pytest.mark.parametrize("level", [0, 1, 6])
@pytest.mark.parametrize(
    ("shape", "threads"), [((3, 4, 5, 6), 2), ((5, 11, 96, 80), 1), ((5, 11, 96, 80), 2)]
)
def test_fast_nifti_round_trip(tmp_path, name, level, shape, threads):
    """Same voxels and geometry through nibabel, one gzip stream (several 1 MiB blocks for the
    larger shape, compressed in 1 or 2 threads; level 0 and levels above ISA-L's 3 included)."""
    data_tsyx = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    affine = np.array([[-1.2, 0, 0.3, 10], [0, -1.2, 0, 20], [0, 0.1, 8, -5], [0, 0, 0, 1]])
    save_nifti_fast(data_tsyx.T, affine, tmp_path / name, compresslevel=level, threads=threads)
    image = nib.load(tmp_path / name)
    np.testing.assert_array_equal(image.get_fdata(dtype=np.float32), data_tsyx.T)
    np.testing.assert_allclose(image.affine, affine, atol=1e-5)
    assert image.header.get_sform(coded=True)[1] == 1 and image.header.get_qform(coded=True)[1] == 1
    if name.endswith(".gz"):
        assert len(gzip.decompress((tmp_path / name).read_bytes())) == 352 + data_tsyx.nbytes
        with gzip.open(tmp_path / name) as stream:  # Python's reader agrees byte for byte
            assert stream.read()[352:] == data_tsyx.tobytes()


def test_config_defaults_equal_library_defaults(repo):
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())["ingest"]
    for key, value in {**DEFAULTS, **CONVERT_DEFAULTS}.items():
        assert config[key] == value, key
