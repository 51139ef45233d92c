"""DICOM encoding of the phantom's series: single-frame MR Image Storage, explicit VR little endian.

Study- and series-level elements are built once per series and shared (read-only) by the
instances; each instance only adds its own elements (UID, position, trigger time, pixels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from cine2lge.phantom.scanner import Storage

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


class UidSource:
    """Deterministic UIDs: the same (seed, subject, parts) always gives the same UID."""

    def __init__(self, seed: int, subject: str):
        self._parts = ["cine2lge-demo", str(seed), subject]

    def __call__(self, *parts) -> str:
        return str(generate_uid(entropy_srcs=self._parts + [str(part) for part in parts]))


def _ds(value: float) -> str:
    """Decimal string (DS, at most 16 characters)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if len(text) <= 16 else f"{value:.8g}"


def ds_vector(values) -> list[str]:
    return [_ds(float(v)) for v in values]


def series_dataset(elements: dict) -> Dataset:
    """Dataset holding the study/series elements shared by all instances of a series."""
    dataset = Dataset()
    for keyword, value in elements.items():
        if value is not None:
            setattr(dataset, keyword, value)
    return dataset


def instance_dataset(
    series: Dataset,
    sop_instance_uid: str,
    instance_number: int,
    position_lps: np.ndarray,
    orientation: np.ndarray,
    values: np.ndarray,
    storage: Storage,
    extra: dict,
) -> Dataset:
    """One image: shared series elements + instance elements + stored pixels.

    `values` (rows, columns) are real-world values; they are encoded with `storage`.
    """
    dataset = Dataset()
    dataset.update(series)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CINE2LGE_DEMO"
    dataset.file_meta = meta
    dataset.SOPClassUID = MR_IMAGE_STORAGE
    dataset.SOPInstanceUID = sop_instance_uid
    dataset.InstanceNumber = int(instance_number)
    dataset.ImagePositionPatient = ds_vector(position_lps)
    dataset.ImageOrientationPatient = ds_vector(orientation)
    for keyword, value in extra.items():
        setattr(dataset, keyword, value)
    stored = storage.encode(values)
    dataset.Rows, dataset.Columns = stored.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = storage.bits_stored
    dataset.HighBit = storage.bits_stored - 1
    dataset.PixelRepresentation = storage.pixel_representation
    if storage.slope != 1.0 or storage.intercept != 0.0:
        dataset.RescaleSlope = _ds(storage.slope)
        dataset.RescaleIntercept = _ds(storage.intercept)
        dataset.RescaleType = "US"
    low, high = np.percentile(values, [1, 99.5])
    dataset.WindowCenter = _ds(round(0.5 * (low + high), 1))
    dataset.WindowWidth = _ds(round(max(high - low, 1.0), 1))
    dataset.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    return dataset


def save(dataset: Dataset, path: Path) -> None:
    dataset.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=True)
