"""Ingest of demo subjects written by the phantom: series found among distractors, geometry equal
to the phantom's label grid, rescaled values at siteC, and no fake PHI in any output or log."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pytest

from cine2lge.dicom.ingest import ingest_labels, ingest_qc, ingest_series
from cine2lge.dicom.qc import write_qc_table
from cine2lge.logs import to_file
from cine2lge.phantom import plan as phantom_plan
from cine2lge.phantom import write as phantom_write
from tests.phi import file_bytes, token_in

SEED = 2026
SUBJECTS = ("demo0002", "demo0004")  # siteB (GE-like, .dcm names), siteC (rescale slope)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    truths = {}
    for subject in SUBJECTS:
        study = root / "demo" / subject
        truths[subject] = phantom_write.write_subject(
            subject,
            SEED,
            study / "dicom",
            study / "truth" / "labels.nii.gz",
            study / "truth" / "truth.json",
            n_slices=4,
        )
        out = root / "ingest" / subject
        with to_file(root / "logs" / f"{subject}.log"):
            for role in ("cine", "lge"):
                ingest_series(
                    study / "dicom",
                    subject,
                    role,
                    out / f"{role}.nii.gz",
                    out / f"{role}.json",
                    out / f"qc_{role}.json",
                    progress=True,
                )
            ingest_labels(
                study / "truth" / "labels.nii.gz",
                out / "lge.nii.gz",
                subject,
                out / "labels.nii.gz",
                out / "qc_labels.json",
            )
            ingest_qc(
                subject, [out / f"qc_{r}.json" for r in ("cine", "lge", "labels")], out / "qc.json"
            )
    write_qc_table([root / "ingest" / s / "qc.json" for s in SUBJECTS], root / "ingest" / "qc.tsv")
    return root, truths


def test_demo_volumes_have_the_phantom_geometry(demo_run):
    root, truths = demo_run
    for subject, truth in truths.items():
        out = root / "ingest" / subject
        cine, lge = nib.load(out / "cine.nii.gz"), nib.load(out / "lge.nii.gz")
        labels_truth = nib.load(root / "demo" / subject / "truth" / "labels.nii.gz")
        assert cine.shape[2:] == (truth["n_slices"], truth["n_phases"]) == (4, 25)
        assert lge.shape == labels_truth.shape
        np.testing.assert_allclose(lge.affine, labels_truth.affine, atol=1e-3)
        np.testing.assert_allclose(cine.affine, labels_truth.affine, atol=1e-3)  # same stack
        labels = nib.load(out / "labels.nii.gz")
        assert labels.get_data_dtype() == np.int16
        np.testing.assert_array_equal(np.asarray(labels.dataobj), np.asarray(labels_truth.dataobj))
        sidecar = json.loads((out / "lge.json").read_text())
        assert sidecar["InversionTime"] == pytest.approx(truth["inversion_time_ms"], abs=0.01)
        assert sidecar["Manufacturer"] == truth["vendor"]
        assert len(json.loads((out / "cine.json").read_text())["TriggerTimes"]) == 25
    table = (root / "ingest" / "qc.tsv").read_text().splitlines()
    assert table[0].startswith("subject\tn_warnings") and len(table) == 1 + len(SUBJECTS)


def test_site_c_rescaled_to_float(demo_run):
    root, _ = demo_run
    cine = nib.load(root / "ingest" / "demo0004" / "cine.nii.gz").get_fdata(dtype=np.float32)
    assert not np.allclose(cine, np.round(cine))  # RescaleSlope applied: non-integer values


def test_no_fake_phi_in_any_output_or_log(demo_run):
    root, _ = demo_run
    files = [p for p in (root / "ingest").rglob("*") if p.is_file()]
    files += list((root / "logs").glob("*.log"))
    assert len(files) >= 2 * 9 + 1
    for subject in SUBJECTS:
        # The subject id is the pseudonym of every output path; the phantom also wrote it into
        # PatientName, so it is not a leak.
        secrets = [
            s for s in phantom_plan.fake_phi_strings(subject, SEED) if s.lower() != subject.lower()
        ]
        assert len(secrets) >= 8
        for path in files:
            data = file_bytes(path)
            for secret in secrets:
                assert not token_in(secret, data), f"{path.name}: {secret!r}"


def test_demo_cine_and_lge_match_dcm2niix(demo_run, tmp_path):
    """Independent converter on the same whole study: same shape, affine (after its row flip)
    and values — including siteC's RescaleSlope/Intercept, which dcm2niix keeps in scl_*."""
    import shutil
    import subprocess

    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix (PyPI package dcm2niix) not installed")
    root, truths = demo_run
    for subject in SUBJECTS:
        out = tmp_path / subject
        out.mkdir()
        subprocess.run(
            [
                "dcm2niix",
                "-z",
                "y",
                "-b",
                "n",
                "-f",
                "%s",
                "-o",
                str(out),
                str(root / "demo" / subject / "dicom"),
            ],
            check=True,
            capture_output=True,
        )
        for role, series_number in (("cine", 7), ("lge", 12)):
            ours = nib.load(root / "ingest" / subject / f"{role}.nii.gz")
            affine, reference = _dcm2niix_volume(out, series_number)
            assert reference.shape == ours.shape, (subject, role)
            rows = ours.shape[1]
            flip = np.array([[1, 0, 0, 0], [0, -1, 0, rows - 1], [0, 0, 1, 0], [0, 0, 0, 1]])
            np.testing.assert_allclose(ours.affine @ flip, affine, atol=0.05)
            np.testing.assert_allclose(ours.get_fdata()[:, ::-1], reference, rtol=1e-5, atol=1e-3)
        trigger_times = json.loads((root / "ingest" / subject / "cine.json").read_text())
        rr_ms = truths[subject]["rr_ms"]
        np.testing.assert_allclose(
            trigger_times["TriggerTimes"], np.arange(25) * rr_ms / 25, atol=0.01
        )


def _dcm2niix_volume(folder, series_number):
    """dcm2niix's volume of a series; for some vendors it writes one 3-D file per trigger time
    (`7.nii.gz`, `7_t32.nii.gz`, ...): those are stacked in trigger-time order."""
    files = [
        p
        for p in folder.glob(f"{series_number}*.nii.gz")
        if re.fullmatch(rf"{series_number}(_t\d+)?\.nii\.gz", p.name)
    ]
    files.sort(key=lambda p: int(re.search(r"_t(\d+)", p.name)[1]) if "_t" in p.name else -1)
    images = [nib.load(p) for p in files]
    data = [image.get_fdata() for image in images]
    volume = data[0] if len(data) == 1 else np.stack(data, axis=-1)
    return images[0].affine, volume
