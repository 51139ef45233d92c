"""The whole subject: phantom volumes in, paired crops, geometry, pairs table and montage out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cine2lge.preprocess.crop import crop_to_source
from cine2lge.preprocess.montage import qc_montage
from cine2lge.preprocess.subject import Settings, load_geometry, preprocess_subject, write_outputs
from cine2lge.preprocess.volume import SourceVolume

from .ringphantom import write_ring_phantom


def settings(**changes) -> Settings:
    values = dict(
        fov_mm=128.0,
        grid_size=64,
        frames=8,
        percentiles=(1.0, 99.0),
        pair_tolerance_mm=5.0,
        use_labels=False,
        register=True,
        register_mask_radius_mm=40.0,
        register_max_shift_mm=15.0,
    )
    return Settings(**(values | changes))


def test_settings_from_the_shipped_config(repo):
    import yaml

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    assert Settings.from_config(config["preprocess"]) == settings(use_labels=True)


@pytest.fixture(scope="module")
def phantom_subject(tmp_path_factory):
    directory = tmp_path_factory.mktemp("phantom")
    phantom, paths = write_ring_phantom(directory)
    result = preprocess_subject(
        "ring01", paths["cine"], settings(), paths["lge"], paths["labels"], [2, 5]
    )
    out = {name: directory / name for name in ("paired.npz", "geometry.json", "pairs.tsv")}
    write_outputs(result, out["paired.npz"], out["geometry.json"], out["pairs.tsv"])
    return phantom, paths, result, out


def test_arrays_follow_the_contract(phantom_subject):
    _, _, _, out = phantom_subject
    with np.load(out["paired.npz"]) as npz:
        assert npz["cine_styx"].shape == (8, 8, 64, 64) and npz["cine_styx"].dtype == np.float32
        assert npz["lge_syx"].shape == (8, 64, 64) and npz["lge_syx"].dtype == np.float32
        assert npz["labels_syx"].shape == (8, 64, 64) and npz["labels_syx"].dtype == np.int16
        np.testing.assert_array_equal(npz["slice_index"], np.arange(8))
        np.testing.assert_array_equal(npz["lge_slice_index"], np.arange(8))
        assert npz["paired"].all()
        assert npz["cine_styx"].min() == 0.0 and npz["cine_styx"].max() == 1.0
        assert set(np.unique(npz["labels_syx"])) == {0, 1, 2, 3, 5}


def test_lv_is_centred_and_lge_aligned_with_cine(phantom_subject):
    _, _, result, _ = phantom_subject
    centre = 31.5
    for s in range(8):
        cavity = result.arrays["labels_syx"][s] == 1
        y, x = np.nonzero(cavity)
        # LV cavity of the (registered) LGE labels at the crop centre: 2 mm pixels, < 1.5 px.
        assert abs(x.mean() - centre) < 1.5 and abs(y.mean() - centre) < 1.5
        # Cine blood pool (bright) in the same place as the LGE cavity.
        bright = result.arrays["cine_styx"][s, 0] > 0.8
        overlap = (bright & cavity).sum() / cavity.sum()
        assert overlap > 0.85


def test_pairs_table_records_distance_and_shift(phantom_subject):
    _, _, _, out = phantom_subject
    pairs = pd.read_csv(out["pairs.tsv"], sep="\t")
    assert list(pairs["status"]) == ["paired"] * 8
    np.testing.assert_allclose(pairs["distance_mm"], 2.0, atol=0.01)
    assert (pairs["registration"] == "ok").all()
    np.testing.assert_allclose(pairs["shift_x_mm"].median(), 4.0, atol=1.0)
    np.testing.assert_allclose(pairs["shift_y_mm"].median(), -3.0, atol=1.0)


def test_geometry_maps_labels_back_to_the_lge_grid(phantom_subject):
    _, paths, _, out = phantom_subject
    geometry = load_geometry(out["geometry.json"])
    with np.load(out["paired.npz"]) as npz:
        back = crop_to_source(npz["labels_syx"], geometry, which="lge")
    truth = SourceVolume.load(paths["labels"], dtype=np.int16).data_xyst[..., 0]
    assert back.shape == truth.shape
    myo_back, myo_truth = back == 2, truth == 2
    dice = 2 * (myo_back & myo_truth).sum() / (myo_back.sum() + myo_truth.sum())
    assert dice > 0.95


def test_geometry_maps_cine_crops_back_to_the_cine_grid(phantom_subject):
    _, paths, result, out = phantom_subject
    geometry = load_geometry(out["geometry.json"])
    cine = SourceVolume.load(paths["cine"])
    back = crop_to_source(result.arrays["cine_styx"][:, 0], geometry, which="cine")
    assert back.shape == cine.shape_xys
    low, high = geometry["intensity"]["cine"]
    source = np.clip((cine.data_xyst[..., 0] - low) / (high - low), 0, 1)
    inside = back > 0
    # 1.4 mm source, 2 mm crop: edges blur, the bulk agrees.
    assert np.median(np.abs(back[inside] - source[inside])) < 0.05


def test_single_phase_cine_without_lge(tmp_path):
    _, paths = write_ring_phantom(tmp_path, frames=1)
    result = preprocess_subject("ring02", paths["cine"], settings(frames=1, grid_size=32))
    assert result.arrays["cine_styx"].shape == (8, 1, 32, 32)
    assert "lge_syx" not in result.arrays and "labels_syx" not in result.arrays
    assert set(result.pairs["status"]) == {"no_lge"}
    assert "lge" not in result.geometry


def test_registration_switch_and_unpaired_slices(tmp_path):
    _, paths = write_ring_phantom(tmp_path, lge_slice_offset_mm=6.0)
    result = preprocess_subject(
        "ring03", paths["cine"], settings(register=False, pair_tolerance_mm=4.0), paths["lge"]
    )
    pairs = result.pairs
    # 6 mm offset with 8 mm slices: each cine slice is 2 mm from the next LGE slice up.
    assert (pairs.loc[pairs.status == "paired", "distance_mm"].round(3) == 2.0).all()
    assert (pairs.loc[pairs.status == "paired", "registration"] == "disabled").all()
    assert list(pairs.loc[pairs.status == "unpaired_cine", "cine_slice"]) == [0]
    assert list(pairs.loc[pairs.status == "unpaired_lge", "lge_slice"]) == [7]
    assert not result.arrays["paired"][0] and result.arrays["lge_slice_index"][0] == -1
    assert np.all(result.arrays["lge_syx"][0] == 0)


def test_labels_must_be_on_the_lge_grid(tmp_path):
    _, paths = write_ring_phantom(tmp_path)
    with pytest.raises(ValueError, match=r"subject ring04: labels .*cine.nii.gz .* not on the LGE"):
        preprocess_subject("ring04", paths["cine"], settings(), paths["lge"], paths["cine"])


def test_montage_png(phantom_subject, tmp_path):
    _, _, result, _ = phantom_subject
    path = tmp_path / "qc.png"
    qc_montage(result.arrays, path, "ring01", myocardium_labels=[2, 5])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > width  # 8 rows x 3 columns
    with_t2 = tmp_path / "qc_t2.png"
    qc_montage(result.arrays | {"t2_syx": result.arrays["lge_syx"]}, with_t2, "ring01")
    assert matplotlib.image.imread(with_t2).shape[1] > width  # a T2 column more


def test_t2_is_paired_and_cropped_like_the_lge(tmp_path):
    """A T2 stack on the LGE's slices gets the LGE's crops: with the LGE volume itself as the
    "T2", t2_syx equals lge_syx (same pairing, registration and normalisation)."""
    _, paths = write_ring_phantom(tmp_path)
    result = preprocess_subject(
        "ring01",
        paths["cine"],
        settings(),
        paths["lge"],
        paths["labels"],
        [2, 5],
        t2_path=paths["lge"],
    )
    assert result.arrays["t2_paired"].all()
    np.testing.assert_allclose(result.arrays["t2_syx"], result.arrays["lge_syx"], atol=1e-6)
    rows = zip(result.geometry["t2"]["rows"], result.geometry["lge"]["rows"], strict=True)
    for t2_row, lge_row in rows:
        assert t2_row["source_slice"] == lge_row["source_slice"]
        np.testing.assert_allclose(t2_row["crop_to_world"], lge_row["crop_to_world"], atol=1e-6)


def test_t2_without_lge_still_conditions_inference(tmp_path):
    _, paths = write_ring_phantom(tmp_path)
    cine_only = preprocess_subject("ring01", paths["cine"], settings(), t2_path=paths["lge"])
    assert "lge_syx" not in cine_only.arrays
    assert cine_only.arrays["t2_syx"].shape == (8, 64, 64) and cine_only.arrays["t2_paired"].all()
    assert cine_only.arrays["t2_syx"].max() == 1.0
