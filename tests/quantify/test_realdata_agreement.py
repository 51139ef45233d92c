"""Issue #18: the configured rules agree with expert infarct / scar labels on real LGE (EMIDEC,
MyoPS; ../shared/data, skipped when absent) at least as well as docs/quantify.md reports, and find
(almost) nothing in the normal EMIDEC studies. Floors sit a little below the measured values, so
a change that makes agreement worse fails here."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import yaml

from cine2lge.quantify import aha
from cine2lge.quantify.subject import intensity_masks

SETS = {
    "emidec": ("emidec", "labels/*_gt.nii.gz", ("_gt", "_img"), [2, 3, 4], [3, 4], None),
    "myops": ("myops2020", "labels/*_gd.nii.gz", ("_gd", "_DE"), [200, 1220, 2221], [2221], 600),
}
# Measured with the config defaults (docs/quantify.md, bench/validate_quantify.py) minus a margin.
# Measured: EMIDEC r 0.623, bias -5.56, MAE 7.22 %LV, 15/16 normals <= 1 %LV; MyoPS r 0.444,
# bias -5.24, MAE 7.37 %LV. The goals (EMIDEC r >= 0.90, |bias| <= 2, MAE <= 4; MyoPS
# r >= 0.80, |bias| <= 3) are not reached by threshold rules (docs/quantify.md).
FLOORS = {
    "emidec": {"r": 0.58, "abs_bias": 6.5, "mae": 8.0, "normals_clean": 14},
    "myops": {"r": 0.38, "abs_bias": 6.5, "mae": 8.2},
}


def burdens(root, set_name, settings):
    folder, pattern, (old, new), myo_labels, lesion_labels, rv_label = SETS[set_name]
    rows = []
    for label_path in sorted((root / folder).glob(pattern)):
        image_path = label_path.parent.parent / "images" / label_path.name.replace(old, new)
        labels_image = nib.load(label_path)
        labels = np.asarray(labels_image.dataobj).astype(np.int16).transpose(2, 1, 0)
        lge = np.asarray(nib.load(image_path).dataobj, np.float32).transpose(2, 1, 0)
        zooms = labels_image.header.get_zooms()
        myocardium = np.isin(labels, myo_labels)
        rv = labels == rv_label if rv_label else None
        model = aha.segment_model(myocardium, rv)
        min_px = int(np.ceil(settings["min_component_mm2"] / (zooms[0] * zooms[1])))
        masks = intensity_masks(label_path.name, lge, myocardium, model, settings, min_px)
        expert = np.isin(labels, lesion_labels) & myocardium
        rows.append(
            (
                "_N" in label_path.name,
                100.0 * masks["hyperintense"].sum() / myocardium.sum(),
                100.0 * expert.sum() / myocardium.sum(),
            )
        )
    return np.array(rows, dtype=float).T


@pytest.mark.realdata
@pytest.mark.parametrize("set_name", ["emidec", "myops"])
def test_configured_rules_agree_with_experts(shared_data, repo, set_name):
    settings = yaml.safe_load((repo / "config/config.yaml").read_text())["quantify"]
    normal, automatic, expert = burdens(shared_data, set_name, settings)
    floors = FLOORS[set_name]
    difference = automatic - expert
    report = f"{set_name}: r {np.corrcoef(automatic, expert)[0, 1]:.3f}, bias {difference.mean():.2f}, MAE {np.abs(difference).mean():.2f}"  # noqa: E501
    assert np.corrcoef(automatic, expert)[0, 1] >= floors["r"], report
    assert abs(difference.mean()) <= floors["abs_bias"], report
    assert np.abs(difference).mean() <= floors["mae"], report
    if "normals_clean" in floors:
        normal = normal.astype(bool)
        assert normal.sum() == 16
        assert (automatic[normal] <= 1.0).sum() >= floors["normals_clean"], automatic[normal]
