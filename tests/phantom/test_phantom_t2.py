"""demo.t2: the phantom's T2-STIR series ingests as role t2 on the LGE's slice grid, oedema bright
at the lesion, and adding it changes none of the other series."""

from __future__ import annotations

import hashlib

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from cine2lge.dicom.outputs import output_patterns
from cine2lge.dicom.subject import ingest_subject

from .conftest import N_SLICES, generate, series_of

SUBJECT = "demo0001"  # siteA, RCA infarct


@pytest.fixture(scope="module")
def with_t2(tmp_path_factory) -> dict:
    return generate(tmp_path_factory.mktemp("demo_t2"), SUBJECT, t2=True)


def _pixels(record: dict, kind: str) -> dict:
    return {
        str(d.SOPInstanceUID): hashlib.sha1(d.PixelData).hexdigest()
        for _, d in series_of(record, kind)
    }


def test_t2_series_tags(with_t2):
    t2 = series_of(with_t2, "t2")
    assert len(t2) == N_SLICES
    assert with_t2["truth"]["n_files"] == N_SLICES * 25 + 2 * N_SLICES + 25 + 3
    dataset = t2[0][1]
    assert 150 <= float(dataset.InversionTime) <= 250
    assert "T2" in dataset.SeriesDescription and int(dataset.CardiacNumberOfImages) == 1
    assert list(dataset.ScanningSequence) == ["SE", "IR"]
    lge_positions = sorted(tuple(d.ImagePositionPatient) for _, d in series_of(with_t2, "lge"))
    assert sorted(tuple(d.ImagePositionPatient) for _, d in t2) == lge_positions


def test_other_series_do_not_change_with_t2(with_t2, generated):
    without = generated[SUBJECT]
    for kind in ("cine", "lge", "fourch", "localiser"):
        assert _pixels(with_t2, kind) == _pixels(without, kind), kind
    assert "t2" not in without["truth"]["series_instance_uids"]


def test_t2_ingests_on_the_lge_grid_with_bright_oedema(with_t2, tmp_path):
    folder = with_t2["folder"]
    study = str(folder / "dicom")
    outputs = output_patterns(("cine", "lge", "t2", "labels"), SUBJECT, str(tmp_path))
    sources = {
        "cine": study,
        "lge": study,
        "t2": study,
        "labels": str(folder / "truth" / "labels.nii.gz"),
    }
    record = ingest_subject(SUBJECT, sources, outputs)
    assert "'SA_T2_tse_TIRM_BB'" in record["t2"]["series"]
    assert "'SA_LGE_tfl_TI300'" in record["lge"]["series"]  # the STIR's TI does not fool it
    t2, lge = nib.load(outputs["t2"]), nib.load(outputs["lge"])
    assert t2.shape == lge.shape
    np.testing.assert_allclose(t2.affine, lge.affine, atol=1e-4)
    values = t2.get_fdata(dtype=np.float32)
    labels = np.asarray(nib.load(outputs["labels"]).dataobj)
    lesion = np.isin(labels, (4, 5))
    assert lesion.sum() > 50
    # Remote myocardium: away from the lesion and from its oedema rim.
    in_plane = ndimage.generate_binary_structure(2, 1)[:, :, None]  # (x, y, slice)
    near = ndimage.binary_dilation(lesion, in_plane, iterations=6)
    remote = (labels == 2) & ~near
    oedema, remote_value = np.median(values[lesion]), np.median(values[remote])
    assert oedema > 1.6 * remote_value
    assert np.median(values[labels == 1]) < 0.6 * remote_value  # dark blood
