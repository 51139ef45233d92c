"""Fast NIfTI-1 writing: the header from nibabel, the voxels as one buffer, gzip in parallel.

nibabel compresses single-threaded at zlib level 6. Here the voxel buffer is cut into blocks that
are deflated in threads (zlib releases the GIL) and written as concatenated gzip members, which
every gzip reader (Python's gzip, nibabel, zlib's gzread used by ITK, FSL, dcm2niix) reads as one
stream — the same trick as pigz. Levels 0-3 use ISA-L (package isal) when installed: level 1
compresses float32 MR volumes ~20x faster than nibabel's zlib level 6, files ~10 % larger.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from cine2lge.io import atomic_path

try:  # Intel ISA-L deflate: ~4x faster than zlib at levels 0-3, same gzip format
    from isal import isal_zlib
except ImportError:  # pragma: no cover - isal is a dependency; zlib keeps things working
    isal_zlib = None

BLOCK_BYTES = 4 << 20
NIFTI_DATA_OFFSET = 352  # 348-byte header + 4-byte "no extension" flag


def _gzip_member(block: memoryview, level: int) -> bytes:
    engine = isal_zlib if isal_zlib is not None and level <= 3 else zlib
    compressor = engine.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return compressor.compress(block) + compressor.flush()


def nifti_bytes_header(data_shape: tuple, affine: np.ndarray, dtype) -> bytes:
    """The 352 bytes preceding the voxels of a single-file NIfTI-1 with qform = sform = affine."""
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(data_shape)
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_xyzt_units("mm", "msec" if len(data_shape) > 3 else None)
    header["vox_offset"] = NIFTI_DATA_OFFSET
    header["scl_slope"], header["scl_inter"] = 1.0, 0.0
    return header.binaryblock + b"\x00" * 4


def save_nifti_fast(
    data: np.ndarray, affine: np.ndarray, path: str | Path, compresslevel: int = 1, threads: int = 1
) -> None:
    """Write `data` (x, y, slice[, time]) atomically as .nii or .nii.gz (by the file name).

    `data` should be Fortran-contiguous (e.g. the transpose of a C-ordered (time, slice, y, x)
    array): its bytes are then written without any copy.
    """
    path = Path(path)
    data = np.asfortranarray(data)
    voxels = memoryview(data.T.reshape(-1)).cast("B")  # F-order bytes of `data`
    header = nifti_bytes_header(data.shape, affine, data.dtype)
    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        if not path.name.endswith(".gz"):
            stream.write(header)
            stream.write(voxels)
            return
        stream.write(_gzip_member(memoryview(header), compresslevel))
        blocks = [voxels[i : i + BLOCK_BYTES] for i in range(0, len(voxels), BLOCK_BYTES)]
        if threads <= 1:
            for block in blocks:
                stream.write(_gzip_member(block, compresslevel))
            return
        with ThreadPoolExecutor(threads) as pool:
            for member in pool.map(lambda b: _gzip_member(b, compresslevel), blocks):
                stream.write(member)
