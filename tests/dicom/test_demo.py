"""Ingest of demo subjects written by the phantom: series found among distractors, geometry equal
to the phantom's label grid, rescaled values at siteC, and no fake PHI in any output or log."""

from __future__ import annotations

import gzip
import json
import re

import nibabel as nib
import numpy as np
import pytest

from cine2lge.dicom.ingest import ingest_labels, ingest_qc, ingest_series
from cine2lge.dicom.qc import write_qc_table
from cine2lge.logs import to_file

phantom_write = pytest.importorskip("cine2lge.phantom.write")
phantom_plan = pytest.importorskip("cine2lge.phantom.plan")
SEED = 2026
SUBJECTS = ("demo0002", "demo0004")  # siteB (GE-like, .dcm names), siteC (rescale slope)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    truths = {}
    for subject in SUBJECTS:
        study = root / "demo" / subject
        truths[subject] = phantom_write.write_subject(
            subject, SEED, study / "dicom", study / "truth" / "labels.nii.gz",
            study / "truth" / "truth.json", n_slices=4,
        )
        out = root / "ingest" / subject
        with to_file(root / "logs" / f"{subject}.log"):
            for role in ("cine", "lge"):
                ingest_series(study / "dicom", subject, role, out / f"{role}.nii.gz",
                              out / f"{role}.json", out / f"qc_{role}.json", progress=True)
            ingest_labels(study / "truth" / "labels.nii.gz", out / "lge.nii.gz", subject,
                          out / "labels.nii.gz", out / "qc_labels.json")
            ingest_qc(subject, [out / f"qc_{r}.json" for r in ("cine", "lge", "labels")],
                      out / "qc.json")
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
        secrets = [s for s in phantom_plan.fake_phi_strings(subject, SEED)
                   if s.lower() != subject.lower()]
        assert len(secrets) >= 8
        for path in files:
            data = path.read_bytes()
            data = gzip.decompress(data) if path.suffix == ".gz" else data
            for secret in secrets:
                assert not _token_in(secret, data), f"{path.name}: {secret!r}"


def _token_in(secret: str, data: bytes) -> bool:
    """`secret` in `data` as a whole token ("MARY" is a name, "PRIMARY" is not), in any case.

    Literal search of the case variants first: a regex over megabytes of voxels is slow."""
    variants = {secret, secret.upper(), secret.lower(), secret.title()}
    if not any(v.encode("latin-1") in data for v in variants) and not re.search(
        re.escape(secret).encode("latin-1"), data[:65536], re.IGNORECASE
    ):
        return False
    pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])".encode("latin-1")
    return re.search(pattern, data, re.IGNORECASE) is not None
