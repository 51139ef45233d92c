"""AHA sectors and scar placement in the stated coronary territory."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from cine2lge.phantom.cohort import demo_sheet, site_of, split_of
from cine2lge.phantom.lesions import TERRITORY_SEGMENTS, aha_segment
from cine2lge.phantom.plan import plan_subject

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


@pytest.mark.parametrize(
    ("offset_deg", "level", "segment"),
    [
        (-30, "basal", 2),
        (-90, "basal", 3),
        (-150, "basal", 4),
        (-210, "mid", 11),
        (-270, "mid", 12),
        (30, "mid", 7),
    ],
)
def test_aha_basal_mid_sectors_from_the_anterior_insertion(offset_deg, level, segment):
    anterior = 255.0  # image frame: up-left, RV on the image left
    assert aha_segment(np.array([anterior + offset_deg]), level, anterior, 195.0)[0] == segment


@pytest.mark.parametrize(("angle_deg", "segment"), [(195, 14), (105, 15), (15, 16), (285, 13)])
def test_aha_apical_sectors_centred_on_the_septum(angle_deg, segment):
    assert aha_segment(np.array([angle_deg]), "apical", 255.0, 195.0)[0] == segment


def test_site_and_split_agree_with_the_sheet():
    sheet = demo_sheet(40)
    assert [site_of(i) for i in range(1, 41)] == list(sheet["site"])
    assert [split_of(i) for i in range(1, 41)] == list(sheet["split"])


def test_cohort_mixes_normal_hypokinetic_and_infarcted_subjects():
    categories = [plan_subject(f"demo{i:04d}", 2026).lesion.category for i in range(1, 41)]
    counts = {c: categories.count(c) for c in ("normal", "hypokinesis", "infarct")}
    assert all(counts[c] >= 3 for c in counts), counts


def test_scar_lies_in_the_stated_territory(generated):
    for record in generated.values():
        truth = record["truth"]
        assert truth["scar"] and truth["volumes_ml"]["hyperintense"] > 0.5
        allowed = set(TERRITORY_SEGMENTS[truth["territory"]])
        assert truth["scar_segments"] and set(truth["scar_segments"]) <= allowed
        assert set(truth["impaired_segments"]) <= allowed
        # Independently from the label map, the image-frame insertion angles and LV centres.
        labels = nib.load(record["folder"] / "truth" / "labels.nii.gz")
        labels_xyz = np.asarray(labels.dataobj)
        inverse = np.linalg.inv(labels.affine)
        angles = truth["insertion_angles_deg"]
        found = set()
        for k in truth["scar_slices"]:
            x, y = np.nonzero(np.isin(labels_xyz[:, :, k], [4, 5]))
            centre = inverse @ np.r_[np.array(truth["lv_centre_lps_mm"]["lge"][k]) * LPS_TO_RAS, 1]
            theta = np.degrees(np.arctan2(y - centre[1], x - centre[0]))
            found |= set(
                aha_segment(
                    theta, truth["slice_levels"][k], angles["anterior"], angles["septum"]
                ).tolist()
            )
        assert found <= allowed, (record["subject"], found, allowed)
        # Contiguous slices, and nothing enhanced outside them.
        assert np.all(np.diff(truth["scar_slices"]) == 1)
        others = [k for k in range(labels_xyz.shape[2]) if k not in truth["scar_slices"]]
        assert not np.isin(labels_xyz[:, :, others], [4, 5]).any()


def test_scar_volumes_in_truth_are_counted_from_the_label_map(generated):
    for record in generated.values():
        labels = nib.load(record["folder"] / "truth" / "labels.nii.gz")
        voxel_ml = abs(np.linalg.det(labels.affine[:3, :3])) / 1000
        labels_xyz = np.asarray(labels.dataobj)
        volumes = record["truth"]["volumes_ml"]
        assert volumes["hyperintense"] == pytest.approx(
            (labels_xyz == 5).sum() * voxel_ml, rel=1e-6
        )
        assert volumes["intermediate"] == pytest.approx(
            (labels_xyz == 4).sum() * voxel_ml, rel=1e-6
        )
        assert 60 < volumes["myocardium"] < 250
