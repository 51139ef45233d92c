import numpy as np
import pytest
from scipy import ndimage

from cine2lge.quantify import myocardium as myo


def write_square(path, x0, y0, x1, y1):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{x0} {y0}\n{x1} {y0}\n{x1} {y1}\n{x0} {y1}\n")


def test_contours_to_myocardium_mask(tmp_path):
    folder = tmp_path / "SC-1"
    write_square(folder / "i-contours/IM-0001-0048-icontour-manual.txt", 20, 10, 29.5, 19.5)
    write_square(folder / "o-contours/IM-0001-0048-ocontour-manual.txt", 15, 5, 34.5, 24.5)
    write_square(folder / "i-contours/IM-0001-0059-icontour-manual.txt", 20, 10, 30, 20)
    files = myo.contour_files(folder)
    assert sorted(files) == [48, 59] and set(files[48]) == {"i", "o"}
    masks = myo.myocardium_from_contour_folder(folder, (40, 50))
    assert list(masks) == [48]  # 59 has no epicardial contour
    mask = masks[48]
    assert mask.shape == (40, 50)
    assert mask.sum() == 20 * 20 - 10 * 10
    assert mask[5, 15] and not mask[15, 25] and not mask[5, 14]  # x is the column


def test_bad_contour_file_names_the_file(tmp_path):
    bad = tmp_path / "IM-0001-0001-icontour-manual.txt"
    bad.write_text("1 2 3\n4 5 6\n7 8 9\n")
    with pytest.raises(ValueError, match="IM-0001-0001-icontour-manual.txt: expected at least 3"):
        myo.read_contour(bad)
    with pytest.raises(ValueError, match="no i-/o-contours"):
        myo.contour_files(tmp_path)


def test_label_scheme_masks_and_missing_myocardium():
    scheme = {"myocardium": [2, 4, 5], "right_ventricle": [3], "hyperintense": [5]}
    labels = np.array([[[0, 2, 4, 5, 3, 5]]], dtype=np.int16)
    masks = myo.label_masks(labels, scheme)
    assert masks["myocardium"].tolist() == [[[False, True, True, True, False, True]]]
    assert masks["right_ventricle"].sum() == 1 and masks["hyperintense"].sum() == 2
    mask, source = myo.subject_myocardium("S01", labels, scheme)
    assert source == "labels" and mask.sum() == 4
    with pytest.raises(myo.MyocardiumUnavailable, match="subject S01: label map has no myocardium"):
        myo.subject_myocardium("S01", np.zeros_like(labels), scheme)
    with pytest.raises(myo.MyocardiumUnavailable, match="subject S02: no myocardium labels"):
        myo.subject_myocardium("S02", None, scheme)


@pytest.mark.realdata
def test_sunnybrook_contours_give_plausible_myocardium(shared_data):
    masks = myo.myocardium_from_contour_folder(
        shared_data / "sunnybrook/contours/SC-HF-I-1", (256, 256)
    )
    assert len(masks) >= 5
    # ~1.4 mm pixels: a 5-15 mm thick wall around a 40-70 mm cavity is 10-40 cm^2 = 500-2000 px
    # at mid-ventricle; apical rings are smaller. All but the most basal one (an open ring at the
    # outflow tract) enclose a cavity.
    areas = np.array([mask.sum() for mask in masks.values()])
    assert 500 < np.median(areas) < 2000 and areas.min() > 100, areas
    rings = [(ndimage.binary_fill_holes(m) & ~m).sum() > 300 for m in masks.values()]
    assert sum(rings) == len(masks) - 1, rings
