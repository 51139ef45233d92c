"""Assemble the paired crops of a split into memory-mapped arrays for training.

`results/dataset/{split}/` (the contract cine2lge.model.data reads):
- `cine_ntyx.npy` float32 (pair, time, y, x), `lge_nyx.npy` float32 (pair, y, x), both in [0, 1],
- `labels_nyx.npy` int16 (pair, y, x) in each subject's own label scheme; -1 everywhere for
  subjects without labels,
- `t2_nyx.npy` float32 (pair, y, x) in [0, 1], only when a subject of the split has T2 crops
  (sheet column `t2`); 0 for slices without a T2 partner (`has_t2` False),
- `manifest.tsv`: row, subject, site, slice (cine source slice), lge_slice, has_labels,
  label_scheme, has_t2.
Only paired slices (a cine slice with an LGE partner) enter the dataset. Read with
`np.load(path, mmap_mode="r")`: a batch touches only its own rows on disk. The folder is
written beside its final place and renamed into it, so a failed job leaves no half dataset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

DATASET_FILES = ("cine_ntyx.npy", "lge_nyx.npy", "labels_nyx.npy", "manifest.tsv")
MANIFEST_COLUMNS = [
    "row",
    "subject",
    "site",
    "slice",
    "lge_slice",
    "has_labels",
    "label_scheme",
    "has_t2",
]


def _open(path: Path, dtype, shape: tuple) -> np.ndarray:
    """A writable .npy memmap; an empty split gets a plain empty .npy (mmap cannot be empty)."""
    if 0 in shape:
        array = np.zeros(shape, dtype)
        np.save(path, array)
        return array
    return np.lib.format.open_memmap(path, "w+", dtype, shape)


def assemble_dataset(subjects: list[dict], out_dir: str | Path) -> pd.DataFrame:
    """Write the dataset of `subjects` (dicts: subject, site, npz, label_scheme) to `out_dir`.

    Subjects without LGE or without any paired slice contribute no rows (their pairs.tsv
    says why).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        table = _write(subjects, work)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return table


def _write(subjects: list[dict], out_dir: Path) -> pd.DataFrame:
    counts, shapes, any_t2 = [], None, False
    for entry in subjects:
        with np.load(entry["npz"]) as npz:
            if "paired" not in npz:
                counts.append(0)
                continue
            counts.append(int(npz["paired"].sum()))
            shapes = shapes or npz["cine_styx"].shape[1:]
            any_t2 = any_t2 or "t2_syx" in npz
    total = sum(counts)
    frames, grid = (shapes[0], shapes[1]) if shapes else (0, 0)
    manifest = []
    cine = _open(out_dir / "cine_ntyx.npy", np.float32, (total, frames, grid, grid))
    lge = _open(out_dir / "lge_nyx.npy", np.float32, (total, grid, grid))
    labels = _open(out_dir / "labels_nyx.npy", np.int16, (total, grid, grid))
    t2 = _open(out_dir / "t2_nyx.npy", np.float32, (total, grid, grid)) if any_t2 else None
    row = 0
    for entry, count in zip(tqdm(subjects, desc="dataset"), counts, strict=True):
        if count == 0:
            continue
        with np.load(entry["npz"]) as npz:
            paired = npz["paired"]
            if npz["cine_styx"].shape[1:] != (frames, grid, grid):
                raise ValueError(
                    f"subject {entry['subject']}: {entry['npz']} has cine crops of shape"
                    f" {npz['cine_styx'].shape[1:]}, the dataset uses {(frames, grid, grid)}"
                )
            block = slice(row, row + count)
            cine[block] = npz["cine_styx"][paired]
            lge[block] = npz["lge_syx"][paired]
            has_labels = "labels_syx" in npz
            if has_labels:
                labels[block] = npz["labels_syx"][paired]
            else:
                labels[block] = -1
            # A fresh .npy memmap is all zeros: subjects without T2 keep their 0 rows.
            has_t2 = np.zeros(count, bool)
            if "t2_syx" in npz:
                has_t2 = npz["t2_paired"][paired]
                t2[block] = npz["t2_syx"][paired]
            for cine_slice, lge_slice, slice_has_t2 in zip(
                npz["slice_index"][paired], npz["lge_slice_index"][paired], has_t2, strict=True
            ):
                manifest.append(
                    [
                        row,
                        entry["subject"],
                        entry["site"],
                        int(cine_slice),
                        int(lge_slice),
                        has_labels,
                        entry["label_scheme"],
                        bool(slice_has_t2),
                    ]
                )
                row += 1
    for array in (cine, lge, labels, t2):
        if isinstance(array, np.memmap):
            array.flush()
    del cine, lge, labels, t2
    table = pd.DataFrame(manifest, columns=MANIFEST_COLUMNS)
    table.to_csv(out_dir / "manifest.tsv", sep="\t", index=False)
    return table
