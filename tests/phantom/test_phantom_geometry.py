"""The label maps sit exactly where the DICOM geometry says, and where truth.json says."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from cine2lge.geometry import affine_ras, slice_positions_mm

from .conftest import N_SLICES
from .test_phantom_dicom import sorted_stack

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def _affine_from_dicom(datasets) -> np.ndarray:
    orientation = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    positions = np.array([d.ImagePositionPatient for d in datasets], dtype=float)
    along = slice_positions_mm(positions, orientation)
    assert np.all(np.diff(along) > 0)
    return affine_ras(
        orientation, positions[0], np.array(datasets[0].PixelSpacing, float), np.diff(along).mean()
    )


def _lv_centres_lps(labels) -> np.ndarray:
    """Centroid of LV blood pool + myocardium of each slice, in LPS mm."""
    labels_xyz = np.asarray(labels.dataobj)
    centres = []
    for k in range(labels_xyz.shape[2]):
        x, y = np.nonzero(np.isin(labels_xyz[:, :, k], [1, 2, 4, 5]))
        ras = labels.affine @ np.array([x.mean(), y.mean(), k, 1.0])
        centres.append(ras[:3] * LPS_TO_RAS)
    return np.array(centres)


def test_label_affine_is_the_lge_dicom_affine(generated):
    for record in generated.values():
        labels = nib.load(record["folder"] / "truth" / "labels.nii.gz")
        assert labels.get_data_dtype() == np.int16
        lge = sorted_stack(record, "lge")
        assert labels.shape == (lge[0].Columns, lge[0].Rows, N_SLICES)
        assert np.allclose(labels.affine, _affine_from_dicom(lge), atol=1e-4)
        assert np.allclose(labels.get_qform(), labels.affine, atol=1e-4)
        assert set(np.unique(np.asarray(labels.dataobj))) <= {0, 1, 2, 3, 4, 5}


def test_lv_centre_of_label_map_matches_truth(generated):
    for record in generated.values():
        truth = record["truth"]
        for name, kind in (("labels.nii.gz", "lge"), ("cine_labels.nii.gz", "cine")):
            centres = _lv_centres_lps(nib.load(record["folder"] / "truth" / name))
            error_mm = np.linalg.norm(centres - np.array(truth["lv_centre_lps_mm"][kind]), axis=1)
            assert error_mm.max() < 1.0, (record["subject"], kind, error_mm)


def test_lge_is_shifted_in_plane_against_the_cine(generated):
    for record in generated.values():
        truth = record["truth"]
        shift = np.array(truth["lv_centre_lps_mm"]["lge"]) - np.array(
            truth["lv_centre_lps_mm"]["cine"]
        )
        assert np.allclose(shift, truth["lge_shift_mm"]["lps"], atol=1e-3)
        assert 1.0 <= np.linalg.norm(truth["lge_shift_mm"]["image_xy"]) <= 4.0
        normal = np.cross(
            *np.array(sorted_stack(record, "lge")[0].ImageOrientationPatient, float).reshape(2, 3)
        )
        assert abs(shift[0] @ normal) < 1e-3  # in-plane only
        measured = _lv_centres_lps(
            nib.load(record["folder"] / "truth" / "labels.nii.gz")
        ) - _lv_centres_lps(nib.load(record["folder"] / "truth" / "cine_labels.nii.gz"))
        assert np.allclose(measured.mean(axis=0), shift[0], atol=0.5)


def test_labels_match_the_lge_pixels(generated):
    """volume[:, :, k] == pixel_array.T: blood pool bright, normal myocardium nulled."""
    for record in generated.values():
        labels_xyz = np.asarray(nib.load(record["folder"] / "truth" / "labels.nii.gz").dataobj)
        for k, dataset in enumerate(sorted_stack(record, "lge")):
            image = dataset.pixel_array.astype(float)
            labels_yx = labels_xyz[:, :, k].T
            blood, myocardium = image[labels_yx == 1].mean(), image[labels_yx == 2].mean()
            assert blood > 3 * myocardium, (record["subject"], k)
            if (labels_yx == 5).sum() > 20:
                assert image[labels_yx == 5].mean() > blood


def test_render_box_holds_the_whole_heart():
    """The short-axis renderer only evaluates the heart in a box: it must equal a full render."""
    from cine2lge.phantom.plan import plan_subject
    from cine2lge.phantom.render import CONTRASTS, Plane, render_plane, render_short_axis

    plan = plan_subject("demo0010", 2026, n_slices=N_SLICES)  # siteB, large matrix
    states = np.array([0.0, 1.0])
    boxed_intensity, boxed_labels = render_short_axis(plan, states, CONTRASTS["lge"], None)
    stack = plan.stack
    for k in (0, N_SLICES // 2, N_SLICES - 1):
        plane = Plane(
            stack.positions_lps[k],
            stack.row_cosine,
            stack.column_cosine,
            stack.rows,
            stack.columns,
            stack.pixel_mm,
        )
        intensity, labels = render_plane(plan, plane, states, CONTRASTS["lge"])
        assert np.array_equal(labels, boxed_labels[k])
        assert np.allclose(intensity, boxed_intensity[k], atol=1e-5)
