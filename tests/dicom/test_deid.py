"""No PHI past ingest: sidecars, QC, NIfTI headers and logs are scanned for the fake PHI."""

from __future__ import annotations

import gzip
import json

import pydicom
import pytest

from cine2lge.dicom import IngestError
from cine2lge.dicom.deid import assert_no_phi, phi_strings, uid_hash
from cine2lge.dicom.ingest import ingest_qc, ingest_series
from cine2lge.logs import to_file

from .fixtures import PHI, write_study


def _text(path):
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("latin-1").lower()


def test_outputs_and_logs_hold_no_phi_and_no_clear_uid(tmp_path):
    expected = write_study(tmp_path / "study")
    out = tmp_path / "out"
    with to_file(out / "ingest.log"):
        for role in ("cine", "lge"):
            ingest_series(
                tmp_path / "study",
                "S01",
                role,
                out / f"{role}.nii.gz",
                out / f"{role}.json",
                out / f"qc_{role}.json",
                progress=True,
            )
        ingest_qc("S01", [out / "qc_cine.json", out / "qc_lge.json"], out / "qc.json")
    header = pydicom.dcmread(expected["cine"].files[0], stop_before_pixels=True)
    secrets = {v.lower() for v in PHI.values()} | {"janet", "fakename", "1961"}
    secrets |= {
        str(header.StudyInstanceUID),
        str(header.SeriesInstanceUID),
        str(header.SOPInstanceUID),
        str(header.FrameOfReferenceUID),
    }
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"cine.nii.gz", "lge.json", "qc.json", "ingest.log"}
    for path in files:
        text = _text(path)
        hits = [s for s in secrets if s.lower() in text]
        assert not hits, f"{path.name} leaks {hits}"
    sidecar = json.loads((out / "cine.json").read_text())
    assert sidecar["SeriesInstanceUIDHash"] == [uid_hash(header.SeriesInstanceUID)]
    assert sidecar["PatientSex"] == "F" and sidecar["PatientAgeYears"] == 63.0
    assert sidecar["PSIR"] is False and "PatientName" not in sidecar
    assert "cine_sa" in (out / "ingest.log").read_text()  # the log is not empty


def test_phi_guard_refuses_to_write_identifying_values(tmp_path):
    expected = write_study(tmp_path / "study")
    header = pydicom.dcmread(expected["cine"].files[0], stop_before_pixels=True)
    phi = phi_strings(header)
    assert {"Doe^Janet^Q", "Janet", "PID-7731-XQ", "19610314"} <= phi
    with pytest.raises(IngestError, match="S01: cine sidecar would contain 1 identifying"):
        assert_no_phi('{"SeriesDescription": "cine for JANET"}', phi, "S01", "cine sidecar")
    assert_no_phi('{"TriggerTimes": [8001.0]}', phi, "S01", "cine sidecar")
    assert_no_phi('{"ImageType": "SOMEJANETTYPE"}', phi, "S01", "cine sidecar")
