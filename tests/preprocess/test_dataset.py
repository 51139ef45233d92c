"""Training dataset: memory-mapped arrays of paired slices with a manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cine2lge.io import save_npz
from cine2lge.preprocess.dataset import assemble_dataset


def _subject(path, n_slices, paired, labels=True, value=0.0, t2_paired=None):
    arrays = {
        "cine_styx": np.full((n_slices, 2, 4, 4), value, np.float32),
        "slice_index": np.arange(n_slices),
        "lge_syx": np.full((n_slices, 4, 4), value + 0.5, np.float32),
        "lge_slice_index": np.where(paired, np.arange(n_slices) + 10, -1),
        "paired": np.asarray(paired),
    }
    if labels:
        arrays["labels_syx"] = np.full((n_slices, 4, 4), 2221, np.int16)
    if t2_paired is not None:
        arrays["t2_paired"] = np.asarray(t2_paired)
        arrays["t2_syx"] = np.where(arrays["t2_paired"][:, None, None], value + 0.3, 0.0)
    save_npz(path, **arrays)
    return path


def test_assemble_memmapped_dataset(tmp_path):
    subjects = [
        {
            "subject": "a",
            "site": "s1",
            "label_scheme": "myops",
            "npz": _subject(tmp_path / "a.npz", 3, [True, False, True], value=0.1),
        },
        {
            "subject": "b",
            "site": "s2",
            "label_scheme": "demo",
            "npz": _subject(tmp_path / "b.npz", 2, [True, True], labels=False, value=0.2),
        },
    ]
    table = assemble_dataset(subjects, tmp_path / "train")
    cine = np.load(tmp_path / "train/cine_ntyx.npy", mmap_mode="r")
    lge = np.load(tmp_path / "train/lge_nyx.npy", mmap_mode="r")
    labels = np.load(tmp_path / "train/labels_nyx.npy", mmap_mode="r")
    assert isinstance(cine, np.memmap)
    assert cine.shape == (4, 2, 4, 4) and lge.shape == (4, 4, 4) and labels.shape == (4, 4, 4)
    np.testing.assert_allclose(cine[:, 0, 0, 0], [0.1, 0.1, 0.2, 0.2])
    np.testing.assert_allclose(lge[:, 0, 0], [0.6, 0.6, 0.7, 0.7])
    np.testing.assert_array_equal(labels[:, 0, 0], [2221, 2221, -1, -1])
    manifest = pd.read_csv(tmp_path / "train/manifest.tsv", sep="\t")
    assert manifest.equals(table)
    assert list(manifest["subject"]) == ["a", "a", "b", "b"]
    assert list(manifest["slice"]) == [0, 2, 0, 1]
    assert list(manifest["lge_slice"]) == [10, 12, 10, 11]
    assert list(manifest["has_labels"]) == [True, True, False, False]
    assert list(manifest["label_scheme"]) == ["myops", "myops", "demo", "demo"]
    assert sorted(p.name for p in tmp_path.joinpath("train").iterdir()) == [
        "cine_ntyx.npy",
        "labels_nyx.npy",
        "lge_nyx.npy",
        "manifest.tsv",
    ]


def test_rebuild_replaces_the_folder_and_leaves_no_temporary(tmp_path):
    npz = _subject(tmp_path / "a.npz", 2, [True, True])
    entry = {"subject": "a", "site": "s1", "label_scheme": "myops", "npz": npz}
    assemble_dataset([entry, {**entry, "subject": "b"}], tmp_path / "train")
    assemble_dataset([entry], tmp_path / "train")
    assert np.load(tmp_path / "train/cine_ntyx.npy").shape[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "train"]


def test_empty_split(tmp_path):
    table = assemble_dataset([], tmp_path / "val")
    assert len(table) == 0
    assert np.load(tmp_path / "val/cine_ntyx.npy").shape[0] == 0


def test_model_stage_reads_the_dataset(tmp_path):
    """Contract with cine2lge.model.data: per-row label schemes give the enhancement mask."""
    data = pytest.importorskip("cine2lge.model.data")
    subjects = [
        {
            "subject": "a",
            "site": "s1",
            "label_scheme": "myops",
            "npz": _subject(tmp_path / "a.npz", 2, [True, True]),
        },  # labels 2221 = myops scar
    ]
    assemble_dataset(subjects, tmp_path / "train")
    schemes = {
        "myops": {"myocardium": [200, 1220, 2221], "hyperintense": [2221]},
        "demo": {"myocardium": [2, 4, 5], "hyperintense": [5]},
    }
    split = data.load_split(tmp_path / "train", schemes, ["hyperintense"], default_scheme="demo")
    assert len(split) == 2
    assert split.enhancement_syx.all()


def test_t2_enters_the_dataset_when_a_subject_has_it(tmp_path):
    """Subjects without T2 (or slices without a T2 partner) get zeros and has_t2 False."""
    entry = {"site": "s1", "label_scheme": "demo"}
    subjects = [
        {
            **entry,
            "subject": "a",
            "npz": _subject(
                tmp_path / "a.npz", 3, [True, True, True], value=0.1, t2_paired=[True, False, True]
            ),
        },
        {**entry, "subject": "b", "npz": _subject(tmp_path / "b.npz", 2, [True, True])},
    ]
    table = assemble_dataset(subjects, tmp_path / "train")
    t2 = np.load(tmp_path / "train/t2_nyx.npy")
    np.testing.assert_allclose(t2[:, 0, 0], [0.4, 0.0, 0.4, 0.0, 0.0])
    assert list(table["has_t2"]) == [True, False, True, False, False]
    data = pytest.importorskip("cine2lge.model.data")
    schemes = {"demo": {"myocardium": [2, 4, 5], "hyperintense": [5]}}
    split = data.load_split(tmp_path / "train", schemes, ["hyperintense"], extra_conditions=["t2"])
    condition, _, _ = split.take(np.arange(5))
    assert condition.shape == (5, 3, 4, 4) and split.condition_channels == 3
    np.testing.assert_allclose(condition[:, 2, 0, 0], t2[:, 0, 0])


def test_cine_only_dataset_has_no_t2_and_the_model_gets_zeros(tmp_path, caplog):
    entry = {"subject": "a", "site": "s1", "label_scheme": "demo"}
    assemble_dataset(
        [{**entry, "npz": _subject(tmp_path / "a.npz", 2, [True, True])}], tmp_path / "train"
    )
    assert not (tmp_path / "train/t2_nyx.npy").exists()
    data = pytest.importorskip("cine2lge.model.data")
    schemes = {"demo": {"myocardium": [2, 4, 5], "hyperintense": [5]}}
    split = data.load_split(tmp_path / "train", schemes, ["hyperintense"], extra_conditions=["t2"])
    condition, _, _ = split.take(np.arange(2))
    assert condition.shape == (2, 3, 4, 4) and not condition[:, 2].any()
    assert "no subject of this split has a `t2` column" in caplog.text
