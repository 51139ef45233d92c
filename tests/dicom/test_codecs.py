"""A study compressed with a codec that is not installed (pylibjpeg-libjpeg, GPL-3.0, is the
optional extra `gpl-codecs`) fails with an error naming the file and the extra to install."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import JPEGLosslessSV1

from cine2lge.dicom import IngestError

from .fixtures import SeriesSpec, run_ingest, write_single_frame


def _as_jpeg_lossless(path) -> None:
    """Relabel a file as JPEG Lossless SV1 (no encoder exists; the decoder never gets to run)."""
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def jpeg_lossless_study(tmp_path):
    expected = write_single_frame(tmp_path / "s", SeriesSpec(n_slices=3, n_phases=5))
    victim = expected.files[1]
    _as_jpeg_lossless(victim)
    return tmp_path / "s", victim


def test_missing_gpl_codec_names_the_file_and_the_extra(tmp_path, monkeypatch, jpeg_lossless_study):
    study, victim = jpeg_lossless_study
    # As after `make install` without the extra: no JPEG Lossless decoder plugin available.
    monkeypatch.setattr(get_decoder(JPEGLosslessSV1), "_available", {})
    with pytest.raises(IngestError) as error:
        run_ingest(study, tmp_path, subject="S07")
    message = str(error.value)
    assert f"subject S07: file {victim.name}: cannot read pixel data" in message
    assert "JPEG Lossless" in message
    assert "pip install 'cine2lge[gpl-codecs]'" in message


def test_installed_codec_reports_the_decoding_error_without_the_hint(tmp_path, jpeg_lossless_study):
    if not get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("no JPEG Lossless decoder installed (the gpl-codecs extra)")
    study, victim = jpeg_lossless_study
    with pytest.raises(IngestError, match=rf"file {victim.name}: cannot read pixel") as error:
        run_ingest(study, tmp_path, subject="S07")
    assert "gpl-codecs" not in str(error.value)
