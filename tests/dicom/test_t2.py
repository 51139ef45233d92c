"""The optional T2 role: which series of a study is the T2-weighted short-axis stack, and that a
T2-STIR (it carries an InversionTime) or a T2 map never becomes the LGE or the T2."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from cine2lge.dicom import IngestError
from cine2lge.dicom.classify import DEFAULTS
from cine2lge.dicom.qc import qc_table
from cine2lge.dicom.subject import ingest_subject

from .fixtures import SeriesSpec, run_ingest, write_single_frame

SINGLE = {"n_phases": 1, "rows": 14, "columns": 12, "pixel_spacing": (1.4, 1.4)}


def run(folder, tmp_path, role, **kwargs):
    return run_ingest(folder, tmp_path, role, "S09", **kwargs)


def _set_image_type(expected, image_type):
    for path in expected.files:
        dataset = pydicom.dcmread(path)
        dataset.ImageType = image_type
        dataset.save_as(path, enforce_file_format=True)


@pytest.fixture()
def study(tmp_path):
    """Cine, LGE (TI 300), a T2-STIR (TI 170, more slices and a later SeriesNumber than the LGE:
    it would win the LGE choice by slices and number) and three T2 maps."""
    folder = tmp_path / "study"
    write_single_frame(folder, SeriesSpec(description="cine_sa", n_slices=5, number=5))
    lge = write_single_frame(
        folder,
        SeriesSpec(
            description="SA_LGE_tfl",
            number=12,
            n_slices=5,
            inversion_time_ms=300.0,
            seed=1,
            **SINGLE,
        ),
        cine=False,
    )
    t2 = write_single_frame(
        folder,
        SeriesSpec(
            description="T2 STIR SAX",
            number=14,
            n_slices=6,
            inversion_time_ms=170.0,
            seed=2,
            **SINGLE,
        ),
        cine=False,
    )
    for number, description in ((20, "T2 map"), (21, "SA_T2map_MOCO"), (22, "T2_MAPPING_SA")):
        spec = SeriesSpec(description=description, number=number, n_slices=7, seed=number, **SINGLE)
        write_single_frame(folder, spec, cine=False)
    # A map named neutrally but typed as one (Siemens writes ImageType "T2 MAP").
    typed = SeriesSpec(description="SAX T2 tse", number=23, n_slices=8, seed=23, **SINGLE)
    _set_image_type(write_single_frame(folder, typed, cine=False), ["DERIVED", "PRIMARY", "T2 MAP"])
    return folder, lge, t2


def test_each_role_gets_its_series_and_maps_are_never_chosen(study, tmp_path):
    folder, lge, t2 = study
    volume, out = run(folder, tmp_path, "lge")
    np.testing.assert_array_equal(volume.nifti_xyz, lge.volume)
    # The T2's sixth slice extends the LGE's grid: another acquisition, not a stray LGE slice.
    assert not any("slice grid" in w for w in volume.warnings)
    volume, out = run(folder, tmp_path, "t2")
    np.testing.assert_array_equal(volume.nifti_xyz, t2.volume)
    image = nib.load(out / "t2.nii.gz")
    assert image.shape == t2.volume.shape and image.get_data_dtype() == np.float32
    np.testing.assert_allclose(image.affine, t2.affine, atol=1e-3)
    sidecar = json.loads((out / "t2.json").read_text())
    assert sidecar["SeriesNumber"] == [14] and sidecar["InversionTime"] == 170.0
    qc = json.loads((out / "qc_t2.json").read_text())
    assert qc["role"] == "t2" and "'T2 STIR SAX'" in qc["series"]


def test_a_name_saying_lge_outweighs_one_saying_t2(tmp_path):
    folder = tmp_path / "study"
    write_single_frame(folder, SeriesSpec(description="cine_sa", n_slices=5))
    both = SeriesSpec(
        description="LGE T2prep PSIR", number=12, inversion_time_ms=300.0, seed=1, **SINGLE
    )
    expected = write_single_frame(folder, both, cine=False)
    volume, _ = run(folder, tmp_path, "lge")
    np.testing.assert_array_equal(volume.nifti_xyz, expected.volume)
    with pytest.raises(IngestError, match="subject S09: study .*study: no short-axis T2"):
        run(folder, tmp_path, "t2")


def test_several_t2_most_slices_then_latest_series_number_and_explicit_uid(tmp_path):
    folder = tmp_path / "study"
    write_single_frame(folder, SeriesSpec(description="cine_sa", n_slices=5))
    early = write_single_frame(
        folder,
        SeriesSpec(description="SA HASTE", number=8, n_slices=4, seed=1, **SINGLE),
        cine=False,
    )
    late = write_single_frame(
        folder,
        SeriesSpec(description="SA T2W TSE", number=15, n_slices=4, seed=2, **SINGLE),
        cine=False,
    )
    volume, out = run(folder, tmp_path, "t2")
    np.testing.assert_array_equal(volume.nifti_xyz, late.volume)
    warnings = " ".join(json.loads((out / "qc_t2.json").read_text())["warnings"])
    assert "2 T2 candidates" in warnings
    spec = SeriesSpec(description="sa stir", number=3, n_slices=5, seed=3, **SINGLE)
    most = write_single_frame(folder, spec, cine=False)
    volume, _ = run(folder, tmp_path, "t2")
    np.testing.assert_array_equal(volume.nifti_xyz, most.volume)
    uid = pydicom.dcmread(early.files[0]).SeriesInstanceUID
    volume, _ = run(folder, tmp_path, "t2", series_uids=uid)
    np.testing.assert_array_equal(volume.nifti_xyz, early.volume)


def test_no_t2_is_an_error_naming_subject_and_folder(study, tmp_path):
    folder, _, _ = study
    with pytest.raises(
        IngestError, match=r"subject S09: study .*study: no short-axis T2.*t2_series"
    ):
        run(folder, tmp_path, "t2", config={"t2_description": "(?i)nothing-like-this"})


def test_t2_default_names_real_protocols_and_not_the_others():
    import re

    t2, exclude = DEFAULTS["t2_description"], DEFAULTS["exclude_description"]
    for name in ("T2 STIR SAX", "SA_T2_tse_TIRM_BB", "Double IR FSE", "HASTE db", "oedema sa"):
        assert re.search(t2, name) and not re.search(exclude, name), name
    for name in ("SA_LGE_tfl_TI300", "MDE SAX TI 300", "T1TFE_LGE_SA", "sBTFE_SA_cine BH", "T2*"):
        assert not re.search(t2, name), name
    for name in ("T2 map", "T2map", "T2_MAP_SAX", "T2 Mapping", "MOLLI T1"):
        assert re.search(exclude, name), name


def test_subject_with_t2_gets_t2_outputs_and_qc(study, tmp_path):
    folder, lge, t2 = study
    out = tmp_path / "ingest"
    outputs = {
        name: str(out / file)
        for name, file in {
            "cine": "cine.nii.gz",
            "cine_json": "cine.json",
            "lge": "lge.nii.gz",
            "lge_json": "lge.json",
            "t2": "t2.nii.gz",
            "t2_json": "t2.json",
            "qc": "qc.json",
        }.items()
    }
    sources = {"cine": str(folder), "lge": str(folder), "t2": str(folder)}
    record = ingest_subject("S09", sources, outputs)
    assert {"cine", "lge", "t2"} <= set(record)
    np.testing.assert_array_equal(nib.load(outputs["t2"]).get_fdata(dtype=np.float32), t2.volume)
    without_t2 = tmp_path / "qc_without.json"
    without_t2.write_text(json.dumps({"subject": "S10", "cine": {"role": "cine"}, "warnings": []}))
    table = qc_table([outputs["qc"], without_t2])
    assert list(table["t2_present"]) == [True, False]
    assert table.loc[0, "t2_shape"] == "x".join(map(str, t2.volume.shape))
