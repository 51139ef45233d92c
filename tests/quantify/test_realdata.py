"""Real expert labels (MyoPS 2020): the default rules find the expert scar on real LGE."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import yaml

from cine2lge.quantify.subject import quantify_arrays

SUBJECTS = ("myops_training_102", "myops_training_111", "myops_training_115")


def load(root, subject):
    labels_image = nib.load(root / "labels" / f"{subject}_gd.nii.gz")
    lge = np.asarray(nib.load(root / "images" / f"{subject}_DE.nii.gz").dataobj, np.float32)
    zooms = labels_image.header.get_zooms()
    labels = np.asarray(labels_image.dataobj).astype(np.int16).transpose(2, 1, 0)
    return lge.transpose(2, 1, 0), labels, (float(zooms[2]), float(zooms[1]), float(zooms[0]))


@pytest.mark.realdata
@pytest.mark.parametrize("subject", SUBJECTS)
def test_default_rules_agree_with_expert_scar(shared_data, repo, subject):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    scheme = config["label_schemes"]["myops"]
    lge, labels, spacing = load(shared_data / "myops2020", subject)
    table, model = quantify_arrays(
        subject, spacing, scheme, config["quantify"], labels_syx=labels, lge_syx=lge
    )
    subject_rows = table[table["region"] == "subject"].set_index(["source", "class"])
    automatic = subject_rows.loc[("lge", "hyperintense"), "percent_lv"]
    expert = subject_rows.loc[("truth", "hyperintense"), "percent_lv"]
    # Bland-Altman limits on all 25 subjects are about -19..+14 % LV (docs/quantify.md).
    assert abs(automatic - expert) < 15.0, (automatic, expert)
    # The RV label gives the septum on every slice, and the numbering direction is consistent.
    assert set(model.septum_source) <= {"rv", "rv-mean"}
    expert_segments = table.query("source == 'truth' and `class` == 'hyperintense'")
    automatic_segments = table.query("source == 'lge' and `class` == 'hyperintense'")
    # The most scarred expert segment is among the three most scarred automatic ones.
    top_expert = expert_segments[expert_segments["region"] == "segment"].nlargest(1, "volume_ml")
    top_automatic = automatic_segments[automatic_segments["region"] == "segment"].nlargest(
        3, "volume_ml"
    )
    assert top_expert["region_id"].iloc[0] in set(top_automatic["region_id"])
