"""Image similarity against skimage and closed-form answers."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from cine2lge.stats import similarity


def test_identical_images():
    image = np.random.default_rng(0).random((32, 32))
    result = similarity.slice_similarity(image, image, np.ones((32, 32), bool))
    assert result["ssim_crop"] == pytest.approx(1.0)
    assert result["ssim_myo"] == pytest.approx(1.0)
    assert result["psnr_crop"] == np.inf and result["mae_crop"] == 0.0


def test_constant_offset_gives_known_psnr_and_mae():
    image = np.random.default_rng(1).random((32, 32)) * 0.5
    mask = np.zeros((32, 32), bool)
    mask[10:20, 10:20] = True
    shifted = image.copy()
    shifted[mask] += 0.1  # error only inside the mask
    result = similarity.slice_similarity(image, shifted, mask)
    assert result["psnr_myo"] == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert result["mae_myo"] == pytest.approx(0.1)
    assert result["mae_crop"] == pytest.approx(0.1 * 100 / 1024)
    assert result["psnr_crop"] == pytest.approx(
        peak_signal_noise_ratio(image, shifted, data_range=1.0)
    )
    assert result["myo_pixels"] == 100


def test_ssim_matches_skimage_and_decreases_with_noise():
    rng = np.random.default_rng(2)
    image = rng.random((64, 64))
    noisy = np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1)
    noisier = np.clip(image + rng.normal(0, 0.3, image.shape), 0, 1)
    mild = similarity.slice_similarity(image, noisy)
    assert mild["ssim_crop"] == pytest.approx(structural_similarity(image, noisy, data_range=1.0))
    assert similarity.slice_similarity(image, noisier)["ssim_crop"] < mild["ssim_crop"]
    assert np.isnan(mild["ssim_myo"])  # no mask given


def test_subject_similarity_npz_and_summary(tmp_path):
    rng = np.random.default_rng(3)
    lge = rng.random((3, 16, 16)).astype(np.float32)
    labels = np.zeros((3, 16, 16), np.int16)
    labels[:, 4:8, 4:8] = 2
    labels[:, 8:10, 4:8] = 5
    np.savez(tmp_path / "paired.npz", lge_syx=lge, labels_syx=labels)
    np.savez(tmp_path / "prediction.npz", lgelike_syx=lge + 0.1)
    table = similarity.similarity_npz(
        "s1", tmp_path / "paired.npz", tmp_path / "prediction.npz", [2, 4, 5]
    )
    assert table.shape[0] == 3 and (table["myo_pixels"] == 24).all()
    assert table["mae_myo"].to_numpy() == pytest.approx(0.1, abs=1e-6)
    summary = similarity.summarise_similarity(table, {"s1": "internal_test"})
    mae = summary.query("metric == 'mae_myo' and level == 'subject'").iloc[0]
    assert mae["n"] == 1 and mae["mean"] == pytest.approx(0.1, abs=1e-6)


def test_missing_lge_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "paired.npz", cine_styx=np.zeros((1, 1, 4, 4)))
    np.savez(tmp_path / "prediction.npz", lgelike_syx=np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="s9: .*paired.npz has no lge_syx"):
        similarity.similarity_npz("s9", tmp_path / "paired.npz", tmp_path / "prediction.npz", [2])


def test_slices_without_lge_partner_are_skipped(tmp_path):
    lge = np.random.default_rng(4).random((4, 16, 16)).astype(np.float32)
    lge[1] = 0.0  # preprocess zeroes unpaired slices
    np.savez(tmp_path / "paired.npz", lge_syx=lge, paired=np.array([1, 0, 1, 1], bool))
    np.savez(tmp_path / "prediction.npz", lgelike_syx=lge)
    table = similarity.similarity_npz(
        "s1", tmp_path / "paired.npz", tmp_path / "prediction.npz", [2]
    )
    assert table["slice"].tolist() == [0, 2, 3]
