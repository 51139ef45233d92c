"""`cine2lge quantify-lge`: one LGE NIfTI with a label map -> lesions.tsv, with the pipeline's
code and config keys (the same numbers as quantify_arrays on the same arrays)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from cine2lge.cli import main
from cine2lge.quantify import aha
from cine2lge.quantify.subject import quantify_arrays

from .rings import rician_lge, ring, sector

SCHEME = {"blood_pool": [1], "myocardium": [2, 5], "right_ventricle": [3], "hyperintense": [5]}


def write_pair(folder, shift_labels=False, lge_affine=None):
    myocardium, blood, rv = ring()
    infarct = np.repeat(sector(60, 120)[None], 6, 0) & myocardium
    labels = np.zeros(myocardium.shape, np.int16)
    labels[blood], labels[rv], labels[myocardium], labels[infarct] = 1, 3, 2, 5
    lge = rician_lge(myocardium, blood, [(infarct, 300.0)], seed=7)
    affine = np.diag([1.5, 1.5, 8.0, 1.0])
    lge_affine = affine if lge_affine is None else lge_affine
    nib.save(nib.Nifti1Image(lge.transpose(2, 1, 0), lge_affine), folder / "lge.nii.gz")
    label_affine = affine.copy()
    if shift_labels:
        label_affine[0, 3] = 5.0
    nib.save(nib.Nifti1Image(labels.transpose(2, 1, 0), label_affine), folder / "labels.nii.gz")
    return lge, labels


@pytest.fixture()
def configfile(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump({"label_schemes": {"rings": SCHEME}}))
    return path


def test_quantify_lge_writes_the_pipeline_table(repo, tmp_path, configfile, capsys):
    lge, labels = write_pair(tmp_path)
    out = tmp_path / "out" / "lesions.tsv"
    code = main(
        ["quantify-lge", "--lge", str(tmp_path / "lge.nii.gz"), "--labels",
         str(tmp_path / "labels.nii.gz"), "--scheme", "rings", "--out", str(out),
         "--configfile", str(configfile), "--subject", "R1"]
    )  # fmt: skip
    assert code == 0 and "wrote" in capsys.readouterr().out
    table = pd.read_csv(out, sep="\t", dtype={"region_id": str})
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    expected, _ = quantify_arrays(
        "R1", (8.0, 1.5, 1.5), SCHEME, config["quantify"], labels_syx=labels, lge_syx=lge,
        anterior_deg=aha.anterior_angle_deg(np.eye(3)),  # from the NIfTI affine
    )  # fmt: skip
    assert list(table.columns) == list(expected.columns)
    np.testing.assert_allclose(table["percent_lv"], expected["percent_lv"], rtol=1e-5, atol=1e-6)
    subject = table[table["region"] == "subject"].set_index(["source", "class"])["percent_lv"]
    assert subject[("lge", "total")] == pytest.approx(subject[("truth", "total")], abs=7)


def test_quantify_lge_refuses_mismatched_grids_and_unknown_schemes(tmp_path, configfile, capsys):
    write_pair(tmp_path, shift_labels=True)
    args = ["quantify-lge", "--lge", str(tmp_path / "lge.nii.gz"), "--labels",
            str(tmp_path / "labels.nii.gz"), "--out", str(tmp_path / "t.tsv")]  # fmt: skip
    assert main(args + ["--scheme", "rings", "--configfile", str(configfile)]) == 1
    assert "different affines" in capsys.readouterr().err
    assert main(args + ["--scheme", "nonexistent"]) == 1
    assert "label scheme 'nonexistent'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"quantify": {"remote": {"estimator": "median"}}}))
    assert main(args + ["--scheme", "emidec", "--configfile", str(bad)]) == 1
    assert "quantify/remote/estimator" in capsys.readouterr().err


def test_an_lge_with_an_unset_affine_takes_the_labels_geometry(tmp_path, configfile, caplog):
    """Some EMIDEC images carry the NIfTI default affine (1 mm unit axes) beside labels with
    the true spacing: the labels' affine is used, with a warning, and volumes are in true mL."""
    write_pair(tmp_path)
    reference = tmp_path / "ref.tsv"
    args = ["quantify-lge", "--lge", str(tmp_path / "lge.nii.gz"), "--labels",
            str(tmp_path / "labels.nii.gz"), "--scheme", "rings",
            "--configfile", str(configfile)]  # fmt: skip
    assert main(args + ["--out", str(reference)]) == 0
    write_pair(tmp_path, lge_affine=np.diag([-1.0, -1.0, 1.0, 1.0]))
    out = tmp_path / "unset.tsv"
    assert main(args + ["--out", str(out)]) == 0
    assert "unset affine" in caplog.text
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t"), pd.read_csv(reference, sep="\t"))
