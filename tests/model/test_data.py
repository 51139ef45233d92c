import numpy as np
import pytest

from cine2lge.model.data import (
    BatchSource,
    enhancement_labels,
    enhancement_mask,
    load_split,
    to_target,
)
from cine2lge.model.synthetic import write_synthetic_split

LABEL_SCHEMES = {"demo": {"myocardium": [2, 4, 5], "intermediate": [4], "hyperintense": [5]}}
ENHANCEMENT_CLASSES = ["hyperintense", "intermediate"]


def test_enhancement_is_union_of_hyperintense_and_intermediate():
    assert enhancement_labels(LABEL_SCHEMES["demo"], ENHANCEMENT_CLASSES) == [4, 5]
    labels = np.array([[0, 1, 2], [4, 5, 3]], np.int16)
    assert enhancement_mask(labels, [4, 5]).tolist() == [[False] * 3, [True, True, False]]


def test_scheme_without_enhancement_classes_is_an_error():
    with pytest.raises(ValueError, match="scheme 'bare' has none of the enhancement classes"):
        enhancement_labels({"myocardium": [1]}, ENHANCEMENT_CLASSES, "bare")


def test_target_scaling():
    target = to_target(np.array([[[0.0, 0.5, 1.0]]]), np.array([[[True, False, True]]]))
    assert target.shape == (1, 2, 1, 3)
    assert target[0, 0, 0].tolist() == [-1.0, 0.0, 1.0]
    assert target[0, 1, 0].tolist() == [1.0, -1.0, 1.0]


def test_load_split_reads_contract_and_masks(tmp_path):
    folder = write_synthetic_split(tmp_path / "train", n=6, frames=3, size=16)
    data = load_split(folder, LABEL_SCHEMES, ENHANCEMENT_CLASSES)
    assert data.cine_styx.shape == (6, 3, 16, 16) and data.n_frames == 3
    labels = np.load(folder / "labels_nyx.npy")
    assert np.array_equal(data.enhancement_syx, np.isin(labels, [4, 5]))
    assert data.enhancement_syx[1].any() and not data.enhancement_syx[0].any()


def test_load_split_names_missing_file(tmp_path):
    folder = write_synthetic_split(tmp_path / "train", n=2, frames=3, size=16)
    (folder / "lge_nyx.npy").unlink()
    with pytest.raises(FileNotFoundError, match="lge_nyx.npy"):
        load_split(folder, LABEL_SCHEMES, ENHANCEMENT_CLASSES)


def test_batches_are_deterministic_and_augmentation_is_shared(tiny_dataset):
    train, _ = tiny_dataset
    augment = {
        "flip_prob": 0.5,
        "rotate90_prob": 0.5,
        "affine_prob": 1.0,
        "rotate_deg": 20.0,
        "scale": 0.1,
        "translate_px": 2.0,
    }
    a = BatchSource(train, 4, seed=3, augment=augment)
    b = BatchSource(train, 4, seed=3, augment=augment)
    for step in (0, 5, 17):
        cine_a, target_a = a.batch(step)
        cine_b, target_b = b.batch(step)
        assert np.array_equal(cine_a, cine_b) and np.array_equal(target_a, target_b)
    cine, target = a.batch(1)
    assert cine.shape == (4, 3, 16, 16) and target.shape == (4, 2, 16, 16)
    assert set(np.unique(target[:, 1].numpy())) <= {-1.0, 1.0}  # nearest keeps the mask binary
    # Without a lesion anywhere in the slice the augmented mask stays empty, with one it moves
    # together with the LGE: enhanced pixels are bright LGE pixels.
    lge01, mask = (target[:, 0].numpy() + 1) / 2, target[:, 1].numpy() > 0
    if mask.any():
        assert lge01[mask].mean() > lge01[~mask].mean() + 0.3


def test_intensity_augmentation_changes_the_cine_only(tiny_dataset):
    """Noise, gamma and gain vary the condition (sites differ); the LGE target and mask not."""
    train, _ = tiny_dataset
    geometric_off = dict(
        flip_prob=0, rotate90_prob=0, affine_prob=0, rotate_deg=0, scale=0, translate_px=0
    )
    intensity = dict(
        noise_prob=1.0, noise_std=0.05, gamma_prob=1.0, gamma=[0.7, 1.4], intensity_scale=0.2
    )
    plain = BatchSource(train, 4, seed=3, augment=None).batch(2)
    changed = BatchSource(train, 4, seed=3, augment={**geometric_off, **intensity}).batch(2)
    unchanged = BatchSource(train, 4, seed=3, augment=geometric_off).batch(2)
    assert np.array_equal(changed[1], plain[1])  # LGE and mask untouched
    assert not np.allclose(changed[0], plain[0])
    assert np.allclose(unchanged[0], plain[0])  # no intensity keys: geometric-only as before


def test_every_slice_is_seen_once_per_epoch(tiny_dataset):
    train, _ = tiny_dataset
    source = BatchSource(train, 4, seed=0, augment=None)
    seen = np.concatenate([source.indices(step) for step in range(3)])
    assert sorted(seen.tolist()) == list(range(12))


def test_rows_without_labels_are_skipped(tmp_path):
    import pandas as pd

    folder = write_synthetic_split(tmp_path / "train", n=6, frames=3, size=16)
    manifest = pd.read_csv(folder / "manifest.tsv", sep="\t")
    manifest.loc[[0, 3], "has_labels"] = False
    manifest.to_csv(folder / "manifest.tsv", sep="\t", index=False)
    data = load_split(folder, LABEL_SCHEMES, ENHANCEMENT_CLASSES)
    assert len(data) == 4 and data.rows.tolist() == [1, 2, 4, 5]
    cine, lge, enhancement = data.take(np.array([0, 2]))
    assert np.array_equal(cine, np.load(folder / "cine_ntyx.npy")[[1, 4]])
    assert np.array_equal(enhancement, data.enhancement_syx[[1, 4]])


def test_an_empty_split_loads_as_zero_slices(tmp_path):
    # What cine2lge.preprocess.dataset writes for a split without paired slices.
    folder = tmp_path / "val"
    folder.mkdir()
    np.save(folder / "cine_ntyx.npy", np.zeros((0, 0, 0, 0), np.float32))
    np.save(folder / "lge_nyx.npy", np.zeros((0, 0, 0), np.float32))
    np.save(folder / "labels_nyx.npy", np.zeros((0, 0, 0), np.int16))
    (folder / "manifest.tsv").write_text("row\tsubject\tsite\tslice\tlge_slice\thas_labels\n")
    assert len(load_split(folder, LABEL_SCHEMES, ENHANCEMENT_CLASSES)) == 0


def test_shipped_myops_scheme_targets_scar_only(repo):
    """MyoPS oedema (1220) is T2-defined: myocardium, but neither part of the enhancement target
    nor an intermediate-intensity lesion of the ground truth."""
    import yaml

    from cine2lge.quantify.thresholds import truth_masks

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    scheme = config["label_schemes"]["myops"]
    assert enhancement_labels(scheme, config["model"]["enhancement_classes"]) == [2221]
    labels = np.array([[200, 1220, 2221, 500]], np.int16)
    truth = truth_masks(labels, scheme, np.isin(labels, scheme["myocardium"]))
    assert truth["hyperintense"].tolist() == [[False, False, True, False]]
    assert not truth["intermediate"].any()
