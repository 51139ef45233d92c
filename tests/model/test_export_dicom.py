import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk

from cine2lge.geometry import affine_ras
from cine2lge.model.export_dicom import SYNTHETIC_NOTE, write_lgelike_series


def _oblique_affine():
    # An oblique short-axis-like stack: rotated in-plane axes, anisotropic pixels, 8 mm slices.
    from scipy.spatial.transform import Rotation

    rotation = Rotation.from_euler("xyz", [25, -40, 30], degrees=True).as_matrix()
    row, column = rotation[:, 0], rotation[:, 1]
    return affine_ras(np.r_[row, column], [10.0, -20.0, 30.0], [1.5, 1.25], 8.0)


def test_series_is_readable_and_geometry_matches_the_nifti(tmp_path):
    rng = np.random.default_rng(0)
    volume_xyz = rng.uniform(0, 1, (12, 10, 4)).astype(np.float32)  # x=12 columns, y=10 rows
    affine = _oblique_affine()
    paths = write_lgelike_series(volume_xyz, affine, tmp_path / "lgelike_dicom", "demo0002")
    assert len(paths) == 4 and all(p.is_file() for p in paths)

    ds = pydicom.dcmread(paths[0])
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.SeriesDescription == SYNTHETIC_NOTE and "not for diagnosis" in ds.ImageComments
    assert ds.PatientID == "demo0002" and str(ds.PatientName) == "" and ds.PatientBirthDate == ""
    assert ds.PatientIdentityRemoved == "YES"
    assert (ds.Rows, ds.Columns) == (10, 12)
    assert np.allclose(ds.pixel_array.T * float(ds.RescaleSlope), volume_xyz[:, :, 0], atol=1e-3)
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
    assert np.allclose(sitk.GetArrayFromImage(image), volume_xyz.T, atol=1e-3)


def test_rerun_writes_identical_uids(tmp_path):
    volume_xyz = np.full((4, 4, 2), 0.5, np.float32)
    a = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "a", "s1")
    b = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "b", "s1")
    assert pydicom.dcmread(a[1]).SOPInstanceUID == pydicom.dcmread(b[1]).SOPInstanceUID
    c = write_lgelike_series(volume_xyz, np.eye(4), tmp_path / "c", "s2")
    assert pydicom.dcmread(c[1]).SeriesInstanceUID != pydicom.dcmread(a[1]).SeriesInstanceUID
