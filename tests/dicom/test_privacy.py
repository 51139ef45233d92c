"""Privacy hardening (issue #15): keyed UID pseudonyms, ages 90+, free text scrubbed, header text
decoded by SpecificCharacterSet (non-ASCII names neither leak nor split one patient in two)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID

from cine2lge.dicom import IngestError, deid
from cine2lge.dicom.classify import DEFAULTS
from cine2lge.dicom.deid import (
    assert_no_phi,
    installation_secret,
    name_parts,
    phi_strings,
    pseudonymous_uid,
    scrub_free_text,
    sidecar,
    uid_hash,
)
from cine2lge.dicom.discover import discover_study, patient_identity, same_patient
from cine2lge.logs import to_file
from tests.phi import file_bytes, token_in

from .fixtures import PHI, SeriesSpec, run_ingest, write_single_frame, write_study

UID_ = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def test_uid_pseudonyms_are_keyed_and_stable(tmp_path):
    a, b = b"a" * 32, b"b" * 32
    assert uid_hash(UID_, a) == uid_hash(UID_, a) != uid_hash(UID_, b)
    assert re.fullmatch(r"[0-9a-f]{16}", uid_hash(UID_, a))
    # not the plain hash anyone could recompute from a known UID
    assert uid_hash(UID_, a) != hashlib.sha256(UID_.encode()).hexdigest()[:16]
    pseudonym = pseudonymous_uid(UID_, a)
    assert UID(pseudonym).is_valid and pseudonym.startswith("2.25.") and len(pseudonym) <= 64
    assert pseudonym == pseudonymous_uid(UID_, a) != pseudonymous_uid(UID_, b)

    path = tmp_path / "conf" / "uid_secret"
    secret = installation_secret(path)  # generated once ...
    assert len(secret) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    deid._SECRETS.clear()
    assert installation_secret(path) == secret  # ... and read back by the next run
    assert installation_secret(tmp_path / "other") != secret
    # the default (uid_hash(uid)) is the installation's secret: here the tests' own
    assert uid_hash(UID_) == uid_hash(UID_, installation_secret())
    (tmp_path / "bad").write_text("not hex\n")
    with pytest.raises(deid.SecretError, match="does not hold a hex secret"):
        installation_secret(tmp_path / "bad")


def test_secret_file_location_and_config_key(tmp_path, monkeypatch):
    monkeypatch.delenv(deid.SECRET_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert deid.secret_path() == tmp_path / "xdg" / "cine2lge" / "uid_secret"
    monkeypatch.setenv(deid.SECRET_ENV, str(tmp_path / "env"))
    assert deid.secret_path() == tmp_path / "env"
    assert deid.secret_path(tmp_path / "cfg") == tmp_path / "cfg"  # config key wins
    # the ingest config key keys the sidecar's pseudonyms
    write_study(tmp_path / "study")
    secret_file = tmp_path / "cfg_secret"
    _, out = run_ingest(tmp_path / "study", tmp_path, config={"uid_secret_file": str(secret_file)})
    record = json.loads((out / "cine.json").read_text())
    uid = next(iter(discover_study(tmp_path / "study", "S01", progress=False).series))
    hashes = {
        uid_hash(u, installation_secret(secret_file))
        for u in discover_study(tmp_path / "study", "S01", progress=False).series
    }
    assert record["SeriesInstanceUIDHash"][0] in hashes and uid


@pytest.mark.parametrize(
    ("age", "birth", "expected"),
    [("089Y", None, 89.0), ("090Y", None, "90+"), ("104Y", None, "90+"), ("", "19200101", "90+")],
)
def test_ages_over_89_are_written_as_90_plus(age, birth, expected):
    header = Dataset()
    header.PatientAge, header.StudyDate = age, "20240229"
    if birth:
        header.PatientBirthDate = birth
    assert sidecar(header, [UID_], [], secret=b"k" * 32)["PatientAgeYears"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cine_sa", "cine_sa"),
        ("LGE_PSIR_mag", "LGE_PSIR_mag"),
        ("tfl_psir_sax_b2 TI=300", "tfl_psir_sax_b2 TI=300"),
        ("CINE_segmented_SAX_b3", "CINE_segmented_SAX_b3"),
        ("t2_tse_dark-blood_sax", "t2_tse_dark-blood_sax"),
        ("SA FIESTA 8mm 25ph", "SA FIESTA 8mm 25ph"),
        ("cine_sa Doe 2024-02-29", "cine_sa *"),
        ("LGE for Janet 29.02.2024", "LGE for *"),
        ("cine 19610314 Smithson", "cine *"),
        ("PSIR 3 Feb 2024", "PSIR *"),
        ("cine_sa 王小东", "cine_sa *"),
        ("Müller cine", "* cine"),
    ],
)
def test_free_text_keeps_technical_words_and_drops_names_and_dates(text, expected):
    assert scrub_free_text(text, {"doe", "janet"}) == expected


def test_scrubbed_descriptions_still_choose_the_series():
    for text in ("LGE_PSIR_mag", "de_sax_psir", "MDE FGRE", "tfl_psir_sax", "late_enh_sa"):
        assert re.search(DEFAULTS["lge_description"], scrub_free_text(text)), text
    for text in ("t2_tse_dark-blood_sax", "STIR_SAX", "T2W_HASTE_SA"):
        assert re.search(DEFAULTS["t2_description"], scrub_free_text(text)), text
    for text in ("localizer", "T1_MAP_SAX", "MOLLI_5(3)3"):
        assert re.search(DEFAULTS["exclude_description"], scrub_free_text(text)), text


NAMES = {
    # SpecificCharacterSet, PatientName, the parts that must never appear in an output
    "utf8": ("ISO_IR 192", "Müller^Jürgen=王^小东", ["Müller", "Jürgen", "王", "小东"]),
    "gb18030": ("GB18030", "王^小东", ["王", "小东", "王小东"]),
    "latin1": ("ISO_IR 100", "Gómez^Begoña", ["Gómez", "Begoña"]),
}


def _patient(charset: str, name: str) -> dict:
    return {"SpecificCharacterSet": charset, **PHI, "PatientName": name}


@pytest.mark.parametrize("case", sorted(NAMES))
def test_non_ascii_names_neither_leak_nor_split_the_patient(tmp_path, case):
    charset, name, secrets = NAMES[case]
    patient = _patient(charset, name)
    folder = tmp_path / "study"
    # The cine from the scanner in this character set, its description naming the patient;
    # the LGE re-exported by a workstation in UTF-8 (other bytes for the same name).
    cine = SeriesSpec(n_slices=4, n_phases=6, description=f"cine_sa {secrets[0]}", number=7)
    cine_files = write_single_frame(folder, cine, patient).files
    lge = SeriesSpec(
        n_slices=4, n_phases=1, description="LGE_PSIR_mag", number=12, inversion_time_ms=300.0
    )
    write_single_frame(folder, lge, _patient("ISO_IR 192", name), cine=False)
    raw = cine_files[0].read_bytes()
    encoding = {"utf8": "utf-8", "gb18030": "gb18030", "latin1": "latin-1"}[case]
    assert secrets[1].encode(encoding) in raw  # the fixture did write it in that charset

    study = discover_study(folder, "S01", progress=False)
    assert study.patients == 1  # decoded by SpecificCharacterSet: one patient, not two
    out = None
    with to_file(tmp_path / "ingest.log"):
        for role in ("cine", "lge"):
            _, out = run_ingest(folder, tmp_path, role=role)
    record = json.loads((out / "cine.json").read_text())
    assert record["SeriesDescription"] == "cine_sa *"
    for path in [*out.iterdir(), tmp_path / "ingest.log"]:
        data = file_bytes(path)
        # one CJK character is 2 bytes: random voxels hold any 2 bytes somewhere
        wanted = [s for s in secrets if len(s) > 1 or not path.name.endswith(".nii.gz")]
        hits = [s for s in wanted if token_in(s, data)]
        assert not hits, f"{path.name} leaks {hits}"


def test_different_patients_are_still_told_apart(tmp_path):
    folder = tmp_path / "study"
    write_single_frame(
        folder, SeriesSpec(number=7, description="cine_sa"), _patient("GB18030", "王^小东")
    )
    other = {**_patient("GB18030", "张^伟"), "PatientID": "PID-0000-ZZ"}
    write_single_frame(folder, SeriesSpec(number=8, description="cine_sa", seed=3), other)
    with pytest.raises(IngestError, match="mixes 2 patients"):
        discover_study(folder, "S01", progress=False)


def test_patient_identity_normalises_spelling_not_identity():
    def ds(name, pid="P1", birth="19610314"):
        header = Dataset()
        header.PatientName, header.PatientID, header.PatientBirthDate = name, pid, birth
        return patient_identity(header)

    assert same_patient(ds("DOE^JANE^^"), ds("Doe^Jane"))
    assert same_patient(ds("Wang^XiaoDong=王^小东"), ds("Wang^XiaoDong"))
    assert same_patient(ds("Wang^XiaoDong=王^小东"), ds("=王^小东"))
    assert not same_patient(ds("Doe^Jane"), ds("Doe^Jane", pid="P2"))
    assert not same_patient(ds("Doe^Jane"), ds("Roe^Jane"))
    assert not same_patient(ds("Doe^Jane"), ds("Doe^Jane", birth="19610315"))


def test_phi_guard_sees_non_ascii_values_in_json(tmp_path):
    folder = tmp_path / "study"
    expected = write_single_frame(folder, SeriesSpec(), _patient("GB18030", "王^小东"))
    header = pydicom.dcmread(expected.files[0], stop_before_pixels=True)
    phi = phi_strings(header)
    assert {"王", "小东"} <= phi  # short non-ASCII parts count
    assert {"王", "小东"} <= name_parts(header)
    for text in (json.dumps({"SeriesDescription": "cine 小东"}), "cine 王小东"):
        with pytest.raises(IngestError, match="would contain"):
            assert_no_phi(text, phi, "S01", "cine sidecar")
    assert_no_phi(json.dumps({"SeriesDescription": "cine_sa *"}), phi, "S01", "cine sidecar")
