"""Real GE cine (Sunnybrook) converted and cross-checked against dcm2niix."""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pytest

from cine2lge.dicom.ingest import ingest_series

pytestmark = pytest.mark.realdata


def _patients(shared_data):
    folders = sorted((shared_data / "sunnybrook" / "dicom").glob("SCD*"))
    if not folders:
        pytest.skip("no Sunnybrook DICOM folders in the shared data")
    return folders


def test_sunnybrook_matches_dcm2niix(shared_data, tmp_path):
    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix (PyPI package dcm2niix) not installed")
    for folder in _patients(shared_data):
        subject = folder.name
        out = tmp_path / subject
        volume = ingest_series(
            folder,
            subject,
            "cine",
            out / "cine.nii.gz",
            out / "cine.json",
            out / "qc.json",
            progress=False,
        )
        ours = nib.load(out / "cine.nii.gz")
        n_files = len(list(folder.glob("*.dcm")))
        assert ours.shape[3] == 20 and ours.shape[2] * 20 == n_files, ours.shape
        subprocess.run(
            ["dcm2niix", "-z", "y", "-f", "ref", "-o", str(out), str(folder)],
            check=True,
            capture_output=True,
        )
        reference = nib.load(out / "ref.nii.gz")
        assert reference.shape == ours.shape
        # dcm2niix flips the rows (y): voxel j of it is voxel rows-1-j of ours.
        rows = ours.shape[1]
        flip = np.array([[1, 0, 0, 0], [0, -1, 0, rows - 1], [0, 0, 1, 0], [0, 0, 0, 1]])
        np.testing.assert_allclose(ours.affine @ flip, reference.affine, atol=0.05)
        np.testing.assert_array_equal(ours.get_fdata()[:, ::-1], reference.get_fdata())
        assert volume.warnings == []
