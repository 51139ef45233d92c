"""Bad input gives a clear error (or warning) naming subject, file and problem — never a wrong
volume. Includes a fuzz test deriving corrupted variants from a generated study."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest

from cine2lge.dicom import IngestError
from cine2lge.dicom.discover import discover_study
from cine2lge.dicom.ingest import ingest_labels, ingest_series

from .fixtures import SeriesSpec, write_single_frame, write_study


def run(folder, tmp_path, role="cine", **kwargs):
    out = tmp_path / "out"
    return ingest_series(
        folder,
        "S07",
        role,
        out / f"{role}.nii.gz",
        out / f"{role}.json",
        out / f"qc_{role}.json",
        progress=False,
        **kwargs,
    )


@pytest.fixture
def cine(tmp_path):
    spec = SeriesSpec(n_slices=5, n_phases=6)
    return spec, write_single_frame(tmp_path / "s", spec)


def _file_at(expected, slice_index, phase):
    """The generated file holding (slice, phase): found from its geometry and trigger time."""
    spec = SeriesSpec()
    normal = np.cross(spec.orientation[:3], spec.orientation[3:])
    for path in filter(lambda p: p.exists(), expected.files):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        offset_mm = (np.asarray(ds.ImagePositionPatient, float) - spec.origin) @ normal
        if round(offset_mm / spec.step_mm) == slice_index and ds.TriggerTime == 30.0 * phase + 5:
            return path
    raise AssertionError("fixture file not found")


def test_missing_phase_is_an_error_naming_subject_file_and_problem(tmp_path, cine):
    _, expected = cine
    victim = _file_at(expected, 2, 3)
    victim.unlink()
    with pytest.raises(
        IngestError,
        match=r"subject S07: file \w+: slice at .* has 5 phases, the"
        r" other slices 6",
    ):
        run(tmp_path / "s", tmp_path)


def test_missing_phase_slice_dropped_when_configured(tmp_path, cine):
    _, expected = cine
    _file_at(expected, 0, 3).unlink()
    volume = run(tmp_path / "s", tmp_path, config={"drop_incomplete_slices": True})
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume[:, :, 1:])


def test_phase_missing_in_every_slice_is_reported(tmp_path, cine):
    _, expected = cine
    for k in range(5):
        _file_at(expected, k, 3).unlink()
    volume = run(tmp_path / "s", tmp_path)
    assert volume.nifti_xyzt.shape[3] == 5
    assert any("trigger time gap of 60.0 ms after phase 3" in w for w in volume.warnings)


def test_duplicated_phase_with_another_uid_is_an_error(tmp_path, cine):
    _, expected = cine
    ds = pydicom.dcmread(expected.files[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "s" / "zz_copy")
    with pytest.raises(IngestError, match=r"files \w+ and \w+: duplicated phase, same TriggerTime"):
        run(tmp_path / "s", tmp_path)


def test_exact_copy_of_a_file_is_ignored_with_a_warning(tmp_path, cine):
    _, expected = cine
    shutil.copy(expected.files[0], tmp_path / "s" / "copy_of_one")
    volume = run(tmp_path / "s", tmp_path)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)
    assert any("duplicate copy of an image" in w for w in volume.warnings)


def test_non_parallel_slice_is_an_error(tmp_path, cine):
    _, expected = cine
    path = _file_at(expected, 4, 0)
    ds = pydicom.dcmread(path)
    angle = np.radians(5)
    tilt = 0.7071068 * np.sin(angle)
    ds.ImageOrientationPatient = [0.7071068, 0.7071068, 0.0, -tilt, tilt, -np.cos(angle)]
    ds.save_as(path)
    with pytest.raises(IngestError, match=rf"file {path.name}: non-parallel slices"):
        run(tmp_path / "s", tmp_path)


@pytest.mark.parametrize("name", ["0000_first", "zzzz_last"])
def test_the_odd_file_is_blamed_wherever_it_sorts(tmp_path, cine, name):
    """File names are often hashes: the reference plane is the majority's, not the first file's."""
    _, expected = cine
    path = _file_at(expected, 1, 2)
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    path.unlink()
    ds.save_as(tmp_path / "s" / name)
    with pytest.raises(IngestError, match=rf"file {name}: non-parallel slices"):
        run(tmp_path / "s", tmp_path)


def test_slice_gap_is_filled_and_reported(tmp_path, cine):
    _, expected = cine
    for t in range(6):
        _file_at(expected, 2, t).unlink()
    volume = run(tmp_path / "s", tmp_path, config={"fill_slice_gaps": True})
    truth = expected.volume.copy()
    truth[:, :, 2] = 0
    np.testing.assert_array_equal(volume.nifti_xyzt, truth)
    np.testing.assert_allclose(volume.affine, expected.affine, atol=1e-3)
    qc = json.loads((tmp_path / "out" / "qc_cine.json").read_text())
    assert qc["missing_slices"] == [2]
    assert any("slice gap of 16.00 mm" in w for w in qc["warnings"])
    with pytest.raises(IngestError, match="slice gap"):
        run(tmp_path / "s", tmp_path)


def test_irregular_slice_spacing_is_an_error(tmp_path, cine):
    _, expected = cine
    normal = np.cross(SeriesSpec().orientation[:3], SeriesSpec().orientation[3:])
    for t in range(6):
        path = _file_at(expected, 4, t)
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = list(np.asarray(ds.ImagePositionPatient, float) + 3.0 * normal)
        ds.save_as(path)
    with pytest.raises(IngestError, match="irregular slice spacing, 11.00 mm"):
        run(tmp_path / "s", tmp_path)


def test_mixed_patients_in_one_folder_is_an_error(tmp_path, cine):
    _, expected = cine
    ds = pydicom.dcmread(expected.files[3])
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(expected.files[3])
    with pytest.raises(IngestError, match="subject S07: study folder .* mixes 2 patients") as error:
        run(tmp_path / "s", tmp_path)
    assert "SOMEONE-ELSE" not in str(error.value) and "Janet" not in str(error.value)


def test_inconsistent_matrix_is_an_error(tmp_path, cine):
    _, expected = cine
    ds = pydicom.dcmread(expected.files[1])
    ds.Rows, ds.Columns = 6, 20
    ds.save_as(expected.files[1])
    with pytest.raises(IngestError, match="inconsistent matrix 6x20"):
        run(tmp_path / "s", tmp_path)


def test_non_dicom_file_is_skipped_with_a_warning(tmp_path, cine):
    _, expected = cine
    (tmp_path / "s" / "notes.txt").write_text("exported by PACS\n")
    volume = run(tmp_path / "s", tmp_path)
    np.testing.assert_array_equal(volume.nifti_xyzt, expected.volume)
    assert volume.warnings == ["subject S07: file notes.txt: not a DICOM file, skipped"]


def test_truncated_pixel_data_is_an_error_naming_the_file(tmp_path, cine):
    _, expected = cine
    victim = expected.files[2]
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(IngestError, match=rf"subject S07: file {victim.name}: cannot read pixel"):
        run(tmp_path / "s", tmp_path)


def test_missing_geometry_tag_in_the_chosen_series_is_an_error(tmp_path, cine):
    _, expected = cine
    ds = pydicom.dcmread(expected.files[0])
    del ds.ImagePositionPatient
    ds.save_as(expected.files[0])
    study = discover_study(tmp_path / "s", "S07", progress=False)
    assert study.warnings == [
        f"subject S07: file {expected.files[0].name}: missing geometry tag(s)"
        " ImagePositionPatient, skipped"
    ]
    with pytest.raises(
        IngestError,
        match=rf"file {expected.files[0].name}: missing geometry tag"
        r".* it belongs to the chosen cine series",
    ):
        run(tmp_path / "s", tmp_path)


def test_no_cine_in_study_lists_candidates(tmp_path):
    write_single_frame(
        tmp_path / "s", SeriesSpec(n_slices=4, inversion_time_ms=300, description="LGE"), cine=False
    )
    with pytest.raises(IngestError, match=r"no short-axis cine found.*series 5 'LGE' \(single"):
        run(tmp_path / "s", tmp_path)


def test_ambiguous_cine_is_an_error(tmp_path):
    write_single_frame(tmp_path / "s", SeriesSpec(number=5, description="cine a"))
    write_single_frame(tmp_path / "s", SeriesSpec(number=6, description="cine b", seed=3))
    with pytest.raises(IngestError, match="ambiguous short-axis cine, 2 stacks"):
        run(tmp_path / "s", tmp_path)
    volume = run(tmp_path / "s", tmp_path, config={"cine_description": "b$"})
    assert volume.nifti_xyzt.shape == (10, 12, 4, 6)


def test_missing_study_folder(tmp_path):
    with pytest.raises(IngestError, match="subject S07: study folder .*nowhere not found"):
        run(tmp_path / "nowhere", tmp_path)


# --- labels -----------------------------------------------------------------------------------


def _lge_nifti(tmp_path, affine=None):
    affine = np.diag([1.4, 1.4, 8.0, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4), np.float32), affine), tmp_path / "lge.nii.gz")
    return tmp_path / "lge.nii.gz", affine


def test_labels_on_the_lge_grid_are_copied_as_int16(tmp_path):
    lge, affine = _lge_nifti(tmp_path)
    labels = np.zeros((6, 5, 4), np.float64)
    labels[2, 2, 1], labels[3, 1, 2] = 2, 5
    nib.save(nib.Nifti1Image(labels, affine + 1e-4), tmp_path / "myo.nii.gz")
    ingest_labels(
        tmp_path / "myo.nii.gz", lge, "S07", tmp_path / "labels.nii.gz", tmp_path / "qc.json"
    )
    image = nib.load(tmp_path / "labels.nii.gz")
    assert image.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(image.dataobj), labels)
    np.testing.assert_array_equal(image.affine, nib.load(lge).affine)
    assert json.loads((tmp_path / "qc.json").read_text())["labels_present"] == [0, 2, 5]


def test_labels_on_another_grid_are_an_error(tmp_path):
    lge, affine = _lge_nifti(tmp_path)
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 3), np.int16), affine), tmp_path / "a.nii.gz")
    with pytest.raises(
        IngestError,
        match=r"subject S07: labels .*a.nii.gz: shape \(6, 5, 3\)"
        r" does not match the image grid \(6, 5, 4\)",
    ):
        ingest_labels(tmp_path / "a.nii.gz", lge, "S07", tmp_path / "l.nii.gz", tmp_path / "q")
    shifted = affine.copy()
    shifted[0, 3] += 2.0
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4), np.int16), shifted), tmp_path / "b.nii.gz")
    with pytest.raises(IngestError, match="differs from the grid of lge.nii.gz by up to 2.000 mm"):
        ingest_labels(tmp_path / "b.nii.gz", lge, "S07", tmp_path / "l.nii.gz", tmp_path / "q")


# --- fuzz ---------------------------------------------------------------------------------------


def _mutations(rng, files):
    """(description, function(path)) corrupting one file in a way seen in real exports."""

    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data)))])

    def garbage(path):
        path.write_bytes(rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes())

    def flip_header_bytes(path):
        data = bytearray(path.read_bytes())
        for i in rng.integers(132, 900, 8):
            data[i] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))

    def drop_tag(keyword):
        def mutate(path):
            ds = pydicom.dcmread(path)
            if keyword in ds:
                delattr(ds, keyword)
            ds.save_as(path)

        return mutate

    def set_tag(keyword, value):
        def mutate(path):
            ds = pydicom.dcmread(path)
            setattr(ds, keyword, value)
            ds.save_as(path)

        return mutate

    return [
        ("truncate", truncate),
        ("garbage", garbage),
        ("flip header bytes", flip_header_bytes),
        ("drop ImagePositionPatient", drop_tag("ImagePositionPatient")),
        ("drop ImageOrientationPatient", drop_tag("ImageOrientationPatient")),
        ("drop PixelSpacing", drop_tag("PixelSpacing")),
        ("drop TriggerTime", drop_tag("TriggerTime")),
        ("drop Rows", drop_tag("Rows")),
        ("drop PixelData", drop_tag("PixelData")),
        ("Rows 3", set_tag("Rows", 3)),
        ("Columns 300", set_tag("Columns", 300)),
        ("empty orientation", set_tag("ImageOrientationPatient", [0, 0, 0, 0, 0, 0])),
        ("other series", set_tag("SeriesInstanceUID", pydicom.uid.generate_uid())),
        ("BitsAllocated 8", set_tag("BitsAllocated", 8)),
    ]


def test_fuzz_corrupted_files_give_a_named_error_or_the_right_volume(tmp_path):
    """Each variant: one file of a generated study corrupted. Outcome must be an IngestError
    naming the subject (and, when it is about a file, the file), or a volume equal to the truth
    — any other exception, or a different volume, fails."""
    pristine = tmp_path / "pristine"
    expected = write_study(pristine)
    rng = np.random.default_rng(2026)
    # File names are random: order them by (SeriesNumber, InstanceNumber) for a repeatable run.
    headers = {p.name: pydicom.dcmread(p, stop_before_pixels=True) for p in pristine.iterdir()}
    names = sorted(headers, key=lambda n: (headers[n].SeriesNumber, headers[n].InstanceNumber))
    outcomes = {"error": 0, "right volume": 0}
    for index, (label, mutate) in enumerate(_mutations(rng, names) * 2):
        study = tmp_path / f"variant{index}"
        shutil.copytree(pristine, study)
        victim = study / names[int(rng.integers(len(names)))]
        try:
            mutate(victim)
        except Exception:  # pydicom refused to write that corruption: nothing to test
            continue
        for role in ("cine", "lge"):
            try:
                volume = run(study, tmp_path / f"o{index}", role)
            except IngestError as error:
                message = str(error)
                assert message.startswith("subject S07:"), (label, message)
                outcomes["error"] += 1
                continue
            except Exception as error:  # noqa: BLE001 - this is what the test is about
                pytest.fail(
                    f"{label} on {victim.name} ({role}): bare {type(error).__name__}: {error}"
                )
            data = volume.nifti_xyzt if role == "cine" else volume.nifti_xyz
            if data.shape != expected[role].volume.shape:
                # A file no longer recognisable as DICOM, or moved to another series, can go
                # missing from a single-phase stack — only with a warning naming it
                assert f"file {victim.name}" in " ".join(volume.warnings), label
                outcomes["warned"] = outcomes.get("warned", 0) + 1
                continue
            np.testing.assert_array_equal(data, expected[role].volume, err_msg=label)
            np.testing.assert_allclose(volume.affine, expected[role].affine, atol=1e-3)
            outcomes["right volume"] += 1
            if victim.name not in [p.name for p in expected[role].files]:
                continue
            # the corrupted file belonged to this series yet the volume is right: it must have
            # been harmless to the pixels and geometry (e.g. a dropped TriggerTime of the LGE)
            harmless = {"flip header bytes"} | ({"drop TriggerTime"} if role == "lge" else set())
            assert label in harmless, (label, role)
    assert outcomes["error"] >= 10 and outcomes["right volume"] >= 10, outcomes
