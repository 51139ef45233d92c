"""Real expert labels (MyoPS 2020): the default rules find the expert scar on real LGE."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import yaml

from cine2lge.quantify import aha
from cine2lge.quantify.subject import quantify_arrays

SUBJECTS = ("myops_training_111", "myops_training_115", "myops_training_117")


def load(root, subject):
    labels_image = nib.load(root / "labels" / f"{subject}_gd.nii.gz")
    lge = np.asarray(nib.load(root / "images" / f"{subject}_DE.nii.gz").dataobj, np.float32)
    zooms = labels_image.header.get_zooms()
    labels = np.asarray(labels_image.dataobj).astype(np.int16).transpose(2, 1, 0)
    direction_ras = labels_image.affine[:3, :3] / np.asarray(zooms[:3])
    spacing = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    return lge.transpose(2, 1, 0), labels, spacing, aha.anterior_angle_deg(direction_ras)


@pytest.mark.realdata
@pytest.mark.parametrize("subject", SUBJECTS)
def test_default_rules_agree_with_expert_scar(shared_data, repo, subject):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    scheme = config["label_schemes"]["myops"]
    lge, labels, spacing, anterior_deg = load(shared_data / "myops2020", subject)
    table, model = quantify_arrays(
        subject, spacing, scheme, config["quantify"], labels_syx=labels, lge_syx=lge,
        anterior_deg=anterior_deg,
    )  # fmt: skip
    subject_rows = table[table["region"] == "subject"].set_index(["source", "class"])
    automatic = subject_rows.loc[("lge", "hyperintense"), "percent_lv"]
    expert = subject_rows.loc[("truth", "hyperintense"), "percent_lv"]
    # Bland-Altman limits on all 25 subjects are about -19..+14 % LV (docs/quantify.md).
    assert abs(automatic - expert) < 15.0, (automatic, expert)
    # The RV label gives the septum on every slice; (x, y) = NIfTI axes (0, 1) shows these
    # subjects mirrored with respect to the standard display (all 25 MyoPS subjects alike).
    assert set(model.septum_source) <= {"rv", "rv-mean"}
    assert model.direction == -1
    # Where the scar is: segment volumes correlate (median r over all 25 subjects is 0.87).
    segments = table[(table["region"] == "segment") & (table["class"] == "hyperintense")]
    automatic_ml = segments[segments["source"] == "lge"]["volume_ml"].to_numpy()
    expert_ml = segments[segments["source"] == "truth"]["volume_ml"].to_numpy()
    assert np.corrcoef(automatic_ml, expert_ml)[0, 1] > 0.6
