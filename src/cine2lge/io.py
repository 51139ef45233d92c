"""Atomic output writing (a failed job never leaves a half-written file behind) and finding the
checkout's own files (config, shipped weights) from outside it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np

# The checkout the package runs from (an editable install): config/, workflow/, resources/.
CHECKOUT = Path(__file__).resolve().parents[2]


def in_checkout(path: str | Path) -> Path:
    """A relative path not found from the working directory is taken from the checkout, as the
    workflow takes it from its own directory (common.smk: workflow_file)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return CHECKOUT / path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates owner-only files; give outputs the usual umask-based permissions.
        umask = os.umask(0)
        os.umask(umask)
        if tmp.is_file():
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_nifti(data: np.ndarray, affine: np.ndarray, path: str | Path, dtype=np.float32) -> None:
    """Write a NIfTI atomically with qform and sform set to `affine` (RAS)."""
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez_compressed, atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        np.savez_compressed(stream, **arrays)
