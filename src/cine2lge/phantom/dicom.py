"""DICOM encoding of the phantom's series: single-frame MR Image Storage, explicit VR little endian.

Study- and series-level elements are encoded once per series; each instance only encodes its
own elements (UID, position, trigger time, pixels) and the two tag-sorted runs are merged. This
writes exactly the bytes pydicom's dcmwrite would (tested) at a fraction of the cost.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element, write_file_meta_info
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


CHARACTER_SET = "ISO_IR 100"
_ENCODINGS = convert_encodings([CHARACTER_SET])


def _buffer() -> DicomBytesIO:
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = False, True
    return buffer


def _encode(dataset: Dataset) -> list[tuple[int, bytes]]:
    """(tag, encoded element) of every element, in tag order."""
    correct_ambiguous_vr(dataset, True)
    chunks = []
    for element in dataset:
        buffer = _buffer()
        write_data_element(buffer, element, _ENCODINGS)
        chunks.append((int(element.tag), buffer.getvalue()))
    return chunks


@dataclass
class Series:
    """A series' shared elements (as a dataset and pre-encoded)."""

    dataset: Dataset
    chunks: list


def series_dataset(elements: dict) -> Series:
    """Shared study/series elements of all instances of a series."""
    dataset = Dataset()
    dataset.SpecificCharacterSet = CHARACTER_SET
    for keyword, value in elements.items():
        if value is not None:
            setattr(dataset, keyword, value)
    return Series(dataset, _encode(dataset))


def instance_dataset(
    series: Series,
    sop_instance_uid: str,
    instance_number: int,
    position_lps: np.ndarray,
    orientation: np.ndarray,
    values: np.ndarray,
    storage: Storage,
    extra: dict,
    window: tuple[float, float],
) -> tuple[Series, Dataset]:
    """The elements of one image (file meta attached): UIDs, geometry, stored pixels.

    `values` (rows, columns) are real-world values; they are encoded with `storage`;
    `window` is the series' (centre, width).
    """
    dataset = Dataset()
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
    dataset.WindowCenter = _ds(window[0])
    dataset.WindowWidth = _ds(window[1])
    dataset.add_new(0x7FE00010, "OW", stored.astype(stored.dtype.newbyteorder("<")).tobytes())
    return series, dataset


def window_of(values: np.ndarray) -> tuple[float, float]:
    """Display window (centre, width) from robust percentiles of a series' real values."""
    low, high = np.percentile(values[..., ::4, ::4], [1, 99.5])
    return round(0.5 * (low + high), 1), round(max(high - low, 1.0), 1)


def encode_file(series: Series, instance: Dataset) -> bytes:
    """Complete DICOM file: preamble, file meta, shared + instance elements in tag order."""
    buffer = _buffer()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, instance.file_meta, enforce_standard=True)
    merged = heapq.merge(series.chunks, _encode(instance), key=lambda chunk: chunk[0])
    previous = -1
    for tag, chunk in merged:
        if tag == previous:
            raise ValueError(f"DICOM element {tag:08X} set both per series and per instance")
        previous = tag
        buffer.write(chunk)
    return buffer.getvalue()


def as_dataset(series: Series, instance: Dataset) -> Dataset:
    """The same instance as one pydicom Dataset (for checks against pydicom's writer)."""
    dataset = Dataset()
    dataset.update(series.dataset)
    dataset.update(instance)
    dataset.file_meta = instance.file_meta
    return dataset


def save(series_and_instance: tuple[Series, Dataset], path: Path) -> None:
    Path(path).write_bytes(encode_file(*series_and_instance))
