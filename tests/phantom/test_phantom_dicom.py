"""Every file of a demo study is valid DICOM with the tags the ingest stage needs."""

from __future__ import annotations

import hashlib

import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut
from pydicom.uid import ExplicitVRLittleEndian

from cine2lge.phantom.anatomy import CINE_CONTRAST, LGE_CONTRAST
from cine2lge.phantom.plan import fake_phi, fake_phi_strings, plan_subject
from cine2lge.phantom.scanner import bias_field

from ..dciodvfy import assert_valid, requires_dciodvfy
from .conftest import N_SLICES, SEED, generate, series_of

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
REQUIRED = (
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "Manufacturer",
    "MagneticFieldStrength",
    "SeriesDescription",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PatientAge",
    "PatientSex",
    "RepetitionTime",
    "EchoTime",
    "FlipAngle",
    "ScanningSequence",
    "SequenceName",
)


def test_every_file_is_mr_image_storage_with_required_tags(generated):
    for record in generated.values():
        paths = list((record["folder"] / "dicom").iterdir())
        assert len(paths) == N_SLICES * 25 + N_SLICES + 25 + 3 == record["truth"]["n_files"]
        for path in paths:
            dataset = pydicom.dcmread(path)
            assert dataset.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
            assert dataset.file_meta.MediaStorageSOPClassUID == MR_IMAGE_STORAGE
            assert dataset.SOPClassUID == MR_IMAGE_STORAGE
            assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
            missing = [key for key in REQUIRED if key not in dataset]
            assert not missing, f"{path.name}: missing {missing}"
            assert dataset.pixel_array.shape == (dataset.Rows, dataset.Columns)
            assert len(dataset.PatientAge) == 4 and dataset.PatientAge.endswith("Y")


def test_series_content_and_short_axis_tags(generated):
    for record in generated.values():
        truth = record["truth"]
        cine, lge = series_of(record, "cine"), series_of(record, "lge")
        assert len(cine) == N_SLICES * 25 and len(lge) == N_SLICES
        assert len(series_of(record, "fourch")) == 25 and len(series_of(record, "localiser")) == 3
        assert sorted(int(d.InstanceNumber) for _, d in cine) == list(range(1, N_SLICES * 25 + 1))
        cine_ds = cine[0][1]
        assert int(cine_ds.CardiacNumberOfImages) == 25
        triggers = sorted({float(d.TriggerTime) for _, d in cine})
        assert len(triggers) == 25 and triggers[0] == 0.0
        assert np.allclose(np.diff(triggers), truth["rr_ms"] / 25, atol=0.02)
        lge_ds = lge[0][1]
        assert 280 <= float(lge_ds.InversionTime) <= 320
        assert float(lge_ds.SpacingBetweenSlices) == truth["spacing_between_slices_mm"]
        # Oblique short axis: the normal is far from every patient axis.
        orientation = np.array(cine_ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        assert np.max(np.abs(normal)) < 0.9
        # LGE at the same slice positions as the cine.
        cine_positions = {tuple(d.ImagePositionPatient) for _, d in cine}
        assert {tuple(d.ImagePositionPatient) for _, d in lge} == cine_positions
        # Names do not reveal the order: hex names, not sorted by InstanceNumber.
        names = [path.name for path, _ in sorted(cine, key=lambda item: item[1].InstanceNumber)]
        assert names != sorted(names)
        assert all(len(name.split(".")[0]) == 32 for name in names)


def test_site_vendor_and_grid(generated):
    expected = {
        "demo0001": ("SIEMENS", 156, 192, 1.8, 1.5),
        "demo0008": ("Philips Medical Systems", 224, 224, 1.6, 1.5),
    }
    for subject, record in generated.items():
        dataset = series_of(record, "cine")[0][1]
        manufacturer, rows, columns, spacing, tesla = expected[subject]
        assert dataset.Manufacturer == manufacturer == record["truth"]["vendor"]
        assert (dataset.Rows, dataset.Columns) == (rows, columns)
        assert [float(v) for v in dataset.PixelSpacing] == [spacing, spacing]
        assert float(dataset.MagneticFieldStrength) == tesla


def test_simpleitk_reads_the_lge_series_with_its_geometry(generated):
    for record in generated.values():
        folder = str(record["folder"] / "dicom")
        uid = record["truth"]["series_instance_uids"]["lge"]
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)
        assert len(files) == N_SLICES
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        image = reader.Execute()
        dataset = series_of(record, "lge")[0][1]
        assert image.GetSize() == (dataset.Columns, dataset.Rows, N_SLICES)
        spacing = record["truth"]["pixel_spacing_mm"]
        assert np.allclose(
            image.GetSpacing(),
            (spacing, spacing, record["truth"]["spacing_between_slices_mm"]),
            atol=1e-3,
        )
        affine = nib.load(record["folder"] / "truth" / "labels.nii.gz").affine
        # ITK is LPS, NIfTI RAS: same first voxel position up to the sign of x and y.
        assert np.allclose(np.array(image.GetOrigin()) * [-1, -1, 1], affine[:3, 3], atol=1e-3)


def sorted_stack(record, kind):
    """Datasets of the cine (end-diastole only) or LGE in NIfTI order (position along normal)."""
    datasets = [d for _, d in series_of(record, kind) if kind == "lge" or float(d.TriggerTime) == 0]
    orientation = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    return sorted(
        datasets, key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal))
    )


def _decoded_blood_ratio(record, kind, contrast):
    """Decoded blood-pool median / the signal the phantom put there (should be ~1)."""
    plan = plan_subject(record["subject"], SEED, n_slices=N_SLICES)
    name = "labels.nii.gz" if kind == "lge" else "cine_labels.nii.gz"
    labels_xyz = np.asarray(nib.load(record["folder"] / "truth" / name).dataobj)
    k = labels_xyz.shape[2] // 2
    dataset = sorted_stack(record, kind)[k]
    values = apply_modality_lut(dataset.pixel_array, dataset)
    blood = values[labels_xyz[:, :, k].T == 1]
    centre = np.array(record["truth"]["lv_centre_lps_mm"][kind][k])
    bias = bias_field(centre, plan.anatomy.origin_lps, plan.bias_coefficients)
    jitter = plan.anatomy.contrast_jitter["blood"]
    expected = plan.gain * plan.site.intensity_scale * bias * contrast["blood"] * jitter
    return float(np.median(blood) / expected)


def test_rescale_slope_and_intercept_must_be_applied_at_site_c(generated):
    philips = series_of(generated["demo0008"], "lge")[0][1]
    assert float(philips.RescaleSlope) != 1.0 and float(philips.RescaleIntercept) != 0.0
    siemens = series_of(generated["demo0001"], "lge")[0][1]
    assert "RescaleSlope" not in siemens
    for record in generated.values():
        assert 0.85 < _decoded_blood_ratio(record, "lge", LGE_CONTRAST) < 1.15
        assert 0.85 < _decoded_blood_ratio(record, "cine", CINE_CONTRAST) < 1.15
    # Ignoring the rescale at siteC gives values off by the slope.
    dataset = philips
    raw_over_real = np.median(dataset.pixel_array) / np.median(
        apply_modality_lut(dataset.pixel_array, dataset)
    )
    assert not 0.85 < raw_over_real < 1.15


def test_fake_phi_is_in_every_file(generated):
    for subject, record in generated.items():
        phi = fake_phi(subject, SEED)
        assert phi == record["truth"]["phi"]
        assert phi["PatientName"].endswith(subject.upper()) and phi["PatientID"].startswith("PID-")
        strings = fake_phi_strings(subject, SEED)
        assert len(strings) >= 10
        for path in (record["folder"] / "dicom").iterdir():
            raw = path.read_bytes()
            missing = [s for s in strings if s.encode() not in raw]
            assert not missing, f"{path.name}: fake PHI {missing} not written"
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
            assert str(dataset.PatientName) == phi["PatientName"]
            assert dataset.PatientBirthDate == phi["PatientBirthDate"]
            assert dataset.InstitutionName == phi["InstitutionName"]


def _fingerprint(folder):
    result = {}
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        result[path.name] = (
            dataset.SOPInstanceUID,
            dataset.SeriesInstanceUID,
            hashlib.sha1(dataset.PixelData).hexdigest(),
        )
    return result


def test_same_seed_gives_identical_study_other_seed_differs(generated, tmp_path):
    record = generated["demo0001"]
    again = generate(tmp_path / "again", "demo0001")
    assert _fingerprint(again["folder"] / "dicom") == _fingerprint(record["folder"] / "dicom")
    assert (again["folder"] / "truth" / "labels.nii.gz").read_bytes() != b""
    assert again["truth"] == record["truth"]
    other = fake_phi("demo0001", SEED + 1)
    assert other["PatientID"] != record["truth"]["phi"]["PatientID"]
    other_plan = plan_subject("demo0001", SEED + 1, n_slices=N_SLICES)
    assert (
        other_plan.anatomy.endo_radius_mm
        != plan_subject("demo0001", SEED, n_slices=N_SLICES).anatomy.endo_radius_mm
    )


def test_fast_encoder_writes_the_bytes_pydicom_writes(generated, tmp_path):
    """dicom.encode_file merges pre-encoded series elements; pydicom must agree byte for byte."""
    from pydicom.filewriter import dcmwrite

    from cine2lge.phantom import dicom
    from cine2lge.phantom.scanner import Storage

    series = dicom.series_dataset(
        {
            "Modality": "MR",
            "PatientName": "DOE^JANE^DEMO0001",
            "SeriesNumber": 7,
            "PixelSpacing": ["1.8", "1.8"],
        }
    )
    values = np.arange(12, dtype=float).reshape(3, 4) * 100.0
    storage = Storage(np.int16, 16, 1.0, 0.0)
    pair = dicom.instance_dataset(
        series,
        "1.2.3.4",
        5,
        np.array([1.0, -2.5, 3.25]),
        np.array([1, 0, 0, 0, 1, 0.0]),
        values,
        storage,
        {"TriggerTime": "12.5"},
        (550.0, 1100.0),
    )
    dcmwrite(tmp_path / "reference.dcm", dicom.as_dataset(*pair), enforce_file_format=True)
    assert dicom.encode_file(*pair) == (tmp_path / "reference.dcm").read_bytes()
    decoded = pydicom.dcmread(tmp_path / "reference.dcm")
    assert np.array_equal(decoded.pixel_array, values.astype(np.int16))


@requires_dciodvfy
def test_every_series_passes_dciodvfy(generated):
    """0 dciodvfy errors (MR Image IOD) in the first and last image of every series of every
    site. The warnings that remain are the phantom's on purpose: vendor-style ImageType values,
    the fake PHI elements, and siteC's Philips-like RescaleSlope/Intercept."""
    for record in generated.values():
        for instances in record["series"].values():
            ordered = sorted(instances, key=lambda item: int(item[1].InstanceNumber))
            assert_valid([ordered[0][0], ordered[-1][0]])
