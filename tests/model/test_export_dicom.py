import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from cine2lge.geometry import affine_ras
from cine2lge.model.export_dicom import (
    STORED_MAX,
    SYNTHETIC_NOTE,
    source_series_hashes,
    write_lgelike_series,
)

from ..dciodvfy import assert_valid, dciodvfy, requires_dciodvfy

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
# Type 2 / 2C attributes of the MR Image IOD that are present (possibly empty) in every file.
TYPE_2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "SeriesNumber",
    "PatientPosition",
    "PositionReferenceIndicator",
    "Manufacturer",
    "InstanceNumber",
    "SliceThickness",
    "ScanOptions",
    "MRAcquisitionType",
    "RepetitionTime",
    "EchoTime",
    "EchoTrainLength",
)


def _oblique_affine():
    # An oblique short-axis-like stack: rotated in-plane axes, anisotropic pixels, 8 mm slices.
    from scipy.spatial.transform import Rotation

    rotation = Rotation.from_euler("xyz", [25, -40, 30], degrees=True).as_matrix()
    row, column = rotation[:, 0], rotation[:, 1]
    return affine_ras(np.r_[row, column], [10.0, -20.0, 30.0], [1.5, 1.25], 8.0)


@pytest.fixture
def series(tmp_path):
    """A 4-slice LGE-like series with source references, and its input volume."""
    volume_xyz = np.random.default_rng(0).uniform(0, 1, (12, 10, 4)).astype(np.float32)
    volume_xyz[0, 0, 0], volume_xyz[1, 0, 0] = 1.5, -0.2  # clipped to [0, 1]
    sources = [
        [(MR_IMAGE_STORAGE, f"2.25.{100 + k}{phase}") for phase in range(2)] for k in range(4)
    ]
    paths = write_lgelike_series(
        volume_xyz,
        _oblique_affine(),
        tmp_path / "lgelike_dicom",
        "demo0002",
        source_series=["739c28aca268e71b"],
        source_images=sources,
    )
    return paths, volume_xyz


def test_series_is_readable_and_geometry_matches_the_nifti(tmp_path):
    rng = np.random.default_rng(0)
    volume_xyz = rng.uniform(0, 1, (12, 10, 4)).astype(np.float32)  # x=12 columns, y=10 rows
    affine = _oblique_affine()
    paths = write_lgelike_series(volume_xyz, affine, tmp_path / "lgelike_dicom", "demo0002")
    assert len(paths) == 4 and all(p.is_file() for p in paths)

    ds = pydicom.dcmread(paths[0])
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
    assert ds.SeriesDescription == SYNTHETIC_NOTE and "not for diagnosis" in ds.ImageComments
    assert ds.PatientID == "demo0002" and str(ds.PatientName) == "" and ds.PatientBirthDate == ""
    assert ds.PatientIdentityRemoved == "YES"
    assert (ds.Rows, ds.Columns) == (10, 12)
    assert np.allclose(ds.pixel_array.T / STORED_MAX, volume_xyz[:, :, 0], atol=1e-3)
    assert "SourceImageSequence" not in ds  # no source image UIDs given
    uids = {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    assert len(uids) == 4

    # SimpleITK (LPS, x/y/z) against the NIfTI written with the same affine (nibabel -> RAS).
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "lgelike_dicom")))
    image = reader.Execute()
    nib.save(nib.Nifti1Image(volume_xyz, affine), tmp_path / "ref.nii.gz")
    reference = sitk.ReadImage(str(tmp_path / "ref.nii.gz"))
    assert image.GetSize() == (12, 10, 4)
    assert np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    assert np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-4)
    assert np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-6)
    assert np.allclose(sitk.GetArrayFromImage(image) / STORED_MAX, volume_xyz.T, atol=1e-3)


def test_integer_pixels_with_identity_rescale(series):
    paths, volume_xyz = series
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        # MR Image IOD: no Modality LUT; the stored integers are the pixel values.
        assert not {"RescaleSlope", "RescaleIntercept", "RescaleType"} & set(ds.dir())
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16,
            12,
            11,
            0,
        )
        pixels = ds.pixel_array
        assert pixels.dtype == np.uint16 and pixels.max() <= STORED_MAX
        expected = np.round(np.clip(volume_xyz[:, :, k], 0, 1) * STORED_MAX).T
        assert np.array_equal(pixels, expected)
        assert (ds.SmallestImagePixelValue, ds.LargestImagePixelValue) == (
            pixels.min(),
            pixels.max(),
        )
        mapping = ds.RealWorldValueMappingSequence[0]
        assert float(mapping.RealWorldValueSlope) * STORED_MAX == pytest.approx(1.0)
        assert float(mapping.RealWorldValueIntercept) == 0.0
    first = pydicom.dcmread(paths[0]).pixel_array.T
    assert first[0, 0] == STORED_MAX and first[1, 0] == 0  # out-of-range values clipped


def test_type_2_attributes_derived_semantics_and_no_phi(series):
    paths, _ = series
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == MR_IMAGE_STORAGE
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        missing = [keyword for keyword in TYPE_2 if keyword not in ds]
        assert not missing, f"{path.name}: Type 2 attributes missing: {missing}"
        for keyword in ("PatientName", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime"):
            assert str(ds[keyword].value) == "", keyword
        assert ds.AccessionNumber == "" and str(ds.ReferringPhysicianName) == ""
        assert "Laterality" not in ds and ds.BodyPartExamined == "HEART"  # unpaired organ
        assert list(ds.ImageType)[:3] == ["DERIVED", "SECONDARY", "OTHER"]
        assert (ds.ScanningSequence, ds.SequenceVariant) == ("RM", "NONE")
        for text in (ds.SeriesDescription, ds.ImageComments, ds.DerivationDescription):
            assert "SYNTHETIC" in text.upper()
        assert "not for diagnosis" in ds.SeriesDescription
        assert "739c28aca268e71b" in ds.DerivationDescription
        sources = ds.SourceImageSequence
        assert [item.ReferencedSOPInstanceUID for item in sources] == [
            f"2.25.{100 + k}{phase}" for phase in range(2)
        ]
        purpose = sources[0].PurposeOfReferenceCodeSequence[0]
        assert (purpose.CodeValue, purpose.CodingSchemeDesignator) == ("121322", "DCM")
        # New UIDs only: none of the (pseudonymised) source UIDs reused for this series.
        assert not {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID} & {
            item.ReferencedSOPInstanceUID for item in sources
        }


def test_source_series_hashes_from_the_sidecar(tmp_path):
    assert source_series_hashes(tmp_path / "absent.json") == []
    (tmp_path / "cine.json").write_text('{"SeriesInstanceUIDHash": ["739c28aca268e71b"]}')
    assert source_series_hashes(tmp_path / "cine.json") == ["739c28aca268e71b"]
    (tmp_path / "nifti.json").write_text('{"SourceFormat": "NIfTI"}')
    assert source_series_hashes(tmp_path / "nifti.json") == []


def test_source_images_must_match_the_slices(tmp_path):
    with pytest.raises(ValueError, match="2 source image lists for 3 slices"):
        write_lgelike_series(
            np.zeros((4, 4, 3)), np.eye(4), tmp_path / "x", "s1", source_images=[[], []]
        )


@requires_dciodvfy
def test_every_file_passes_dciodvfy(series, tmp_path):
    paths, _ = series
    assert_valid(paths)
    # Also without source references, and for an axial identity-affine volume.
    assert_valid(write_lgelike_series(np.zeros((5, 6, 2)), np.eye(4), tmp_path / "plain", "s1"))
    # The only remaining warnings: the empty (de-identified) study date and time.
    _, warnings = dciodvfy(paths[0])
    assert all("StudyDate" in w or "StudyTime" in w for w in warnings), warnings


def test_rerun_writes_identical_uids(tmp_path):
    volume_xyz = np.full((4, 4, 2), 0.5, np.float32)
    a = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "a", "s1")
    b = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "b", "s1")
    assert pydicom.dcmread(a[1]).SOPInstanceUID == pydicom.dcmread(b[1]).SOPInstanceUID
    assert a[1].read_bytes() == b[1].read_bytes()
    c = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "c", "s2")
    assert pydicom.dcmread(c[1]).SeriesInstanceUID != pydicom.dcmread(a[1]).SeriesInstanceUID


@requires_dciodvfy
def test_dciodvfy_check_is_not_vacuous(tmp_path):
    """The validator does flag what the export used to lack (a Type 2 attribute, here)."""
    path = write_lgelike_series(np.zeros((4, 4, 1)), np.eye(4), tmp_path / "x", "s1")[0]
    ds = pydicom.dcmread(path)
    del ds.EchoTime
    ds.save_as(path)
    errors, _ = dciodvfy(path)
    assert any("EchoTime" in error for error in errors)
    with pytest.raises(AssertionError, match="dciodvfy errors in 1 file"):
        assert_valid([path])
