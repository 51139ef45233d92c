"""The fast header reader agrees with pydicom, and NIfTI writing round-trips."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pydicom
import pytest
import yaml

from cine2lge.dicom.classify import DEFAULTS
from cine2lge.dicom.convert import CONVERT_DEFAULTS
from cine2lge.dicom.discover import relax_pydicom_validation
from cine2lge.dicom.fastheader import WANTED, read_fast_header
from cine2lge.dicom.niftiwrite import save_nifti_fast

from .fixtures import SeriesSpec, write_enhanced, write_study


def _agree(path):
    relax_pydicom_validation()
    fast = read_fast_header(path)
    assert fast is not None, path
    header, offset = fast
    with open(path, "rb") as stream:
        reference = pydicom.dcmread(stream, stop_before_pixels=True)
        assert offset == stream.tell()
    for keyword, kind in WANTED.values():
        if keyword not in reference or reference[keyword].value in (None, ""):
            continue
        expected, value = reference[keyword].value, header[keyword]
        if kind == "multi":
            many = isinstance(expected, list | pydicom.multival.MultiValue)
            expected = [str(v) for v in (expected if many else [expected])]
            if keyword != "ImageType":
                value, expected = [float(v) for v in value], [float(v) for v in expected]
            assert value == expected, keyword
        elif kind in ("us", "fd"):
            assert value == expected, keyword
        else:
            assert value == str(expected).strip(), keyword


def test_fast_header_agrees_with_pydicom_on_fixtures(tmp_path):
    expected = write_study(tmp_path / "s")
    for path in expected["cine"].files[:5] + expected["lge"].files[:2]:
        _agree(path)
    enhanced = write_enhanced(tmp_path / "e", SeriesSpec())
    assert read_fast_header(enhanced.files[0]) is None  # multi-frame: left to pydicom
    (tmp_path / "junk").write_bytes(b"\x00" * 200)
    assert read_fast_header(tmp_path / "junk") is None
    truncated = tmp_path / "t"
    truncated.write_bytes(expected["cine"].files[0].read_bytes()[:400])
    assert read_fast_header(truncated) is None


@pytest.mark.realdata
def test_fast_header_agrees_with_pydicom_on_sunnybrook(shared_data):
    files = sorted((shared_data / "sunnybrook" / "dicom").glob("SCD*/*.dcm"))[::50]
    if not files:
        pytest.skip("no Sunnybrook DICOM files")
    for path in files:
        _agree(path)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
@pytest.mark.parametrize("level", [1, 6])
def test_fast_nifti_round_trip(tmp_path, name, level):
    data_tsyx = np.random.default_rng(0).normal(size=(3, 4, 5, 6)).astype(np.float32)
    affine = np.array([[-1.2, 0, 0.3, 10], [0, -1.2, 0, 20], [0, 0.1, 8, -5], [0, 0, 0, 1]])
    save_nifti_fast(data_tsyx.T, affine, tmp_path / name, compresslevel=level, threads=2)
    image = nib.load(tmp_path / name)
    np.testing.assert_array_equal(image.get_fdata(dtype=np.float32), data_tsyx.T)
    np.testing.assert_allclose(image.affine, affine, atol=1e-5)
    assert image.header.get_sform(coded=True)[1] == 1 and image.header.get_qform(coded=True)[1] == 1
    if name.endswith(".gz"):
        assert len(gzip.decompress((tmp_path / name).read_bytes())) == 352 + data_tsyx.nbytes


def test_config_defaults_equal_library_defaults(repo):
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())["ingest"]
    for key, value in {**DEFAULTS, **CONVERT_DEFAULTS}.items():
        assert config[key] == value, key
