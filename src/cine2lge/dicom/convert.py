"""Frames of a chosen stack -> float32 volume with its RAS affine, and the checks that guarantee
it is the right volume (or an IngestError naming subject, file and problem).

Layout: pixels are written into an array allocated (time, slice, y, x) in C order, so that its
transpose is the NIfTI (x, y, slice, time) volume, Fortran-contiguous, written without a copy.
Slices are sorted by position along the slice normal; phases by TriggerTime ranked within each
slice (trigger times differ slightly between slices on real scanners).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.pixels import get_decoder

from cine2lge.dicom import IngestError
from cine2lge.dicom.classify import frame_normals, position_groups, settings
from cine2lge.dicom.discover import Frame
from cine2lge.geometry import affine_ras, slice_normal

log = logging.getLogger(__name__)

CONVERT_DEFAULTS = {
    "slice_gap_tolerance": 0.2,  # fraction of the slice step
    "fill_slice_gaps": False,
    "drop_incomplete_slices": False,
    "max_inplane_shift_px": 0.5,
}
PIXEL_TAG = b"\xe0\x7f\x10\x00"


@dataclass
class Volume:
    """A converted stack. `data_tsyx` is (time, slice, y, x); `.nifti_xyzt` its NIfTI view."""

    data_tsyx: np.ndarray
    affine: np.ndarray
    trigger_times_ms: list[float]
    slice_positions_mm: list[float]
    frames: list[Frame]  # the frames used, slice-major then phase
    qc: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def nifti_xyzt(self) -> np.ndarray:
        return self.data_tsyx.T

    @property
    def nifti_xyz(self) -> np.ndarray:
        return self.data_tsyx[0].T


def _reference_frame(frames: list[Frame], cfg: dict) -> Frame:
    """The frame most others agree with, so the odd file out is the one blamed.

    File order is arbitrary (often hashed names), so "the first file" could be the bad one.
    """
    normals = frame_normals(frames)
    parallel = np.abs(normals @ normals.T) >= np.cos(np.radians(cfg["max_angle_deg"]))
    shape = Counter((f.rows, f.columns) for f in frames)
    spacing = Counter(tuple(np.round(f.pixel_spacing, 3)) for f in frames)
    votes = [
        parallel[i].sum()
        + shape[(f.rows, f.columns)]
        + spacing[tuple(np.round(f.pixel_spacing, 3))]
        for i, f in enumerate(frames)
    ]
    return frames[int(np.argmax(votes))]


def _check_consistent(frames: list[Frame], subject: str, cfg: dict) -> np.ndarray:
    first = _reference_frame(frames, cfg)
    normal = slice_normal(np.array(first.orientation))
    angles = np.degrees(np.arccos(np.clip(np.abs(frame_normals(frames) @ normal), 0, 1)))
    for frame, angle in zip(frames, angles, strict=True):
        if (frame.rows, frame.columns) != (first.rows, first.columns):
            raise IngestError(
                f"subject {subject}: file {frame.name}: inconsistent matrix {frame.rows}x"
                f"{frame.columns}, most files (e.g. {first.name}) are {first.rows}x"
                f"{first.columns}"
            )
        if frame.pixel_spacing != first.pixel_spacing and (
            abs(frame.pixel_spacing[0] - first.pixel_spacing[0]) > 1e-3
            or abs(frame.pixel_spacing[1] - first.pixel_spacing[1]) > 1e-3
        ):
            raise IngestError(
                f"subject {subject}: file {frame.name}: inconsistent PixelSpacing"
                f" {frame.pixel_spacing}, most files (e.g. {first.name}) have"
                f" {first.pixel_spacing}"
            )
        if angle > cfg["max_angle_deg"]:
            raise IngestError(
                f"subject {subject}: file {frame.name}: non-parallel slices, its plane is"
                f" {angle:.1f} deg from that of most files (e.g. {first.name}, limit"
                f" {cfg['max_angle_deg']} deg)"
            )
    return normal


def _dedupe(group: list[Frame], subject: str, warnings: list[str]) -> list[Frame]:
    """Drop exact copies of a frame (same SOPInstanceUID and frame number)."""
    seen, kept = set(), []
    for frame in group:
        key = (frame.sop_uid, frame.frame_index)
        if key in seen:
            warnings.append(
                f"subject {subject}: file {frame.name}: duplicate copy of an image, ignored"
            )
            continue
        seen.add(key)
        kept.append(frame)
    return kept


def _order_phases(group: list[Frame], subject: str, position_mm: float) -> list[Frame]:
    missing = [f.name for f in group if f.trigger_time_ms is None]
    if missing:
        raise IngestError(
            f"subject {subject}: file {missing[0]}: missing TriggerTime in a cine slice"
            f" ({len(missing)} file(s) at position {position_mm:.1f} mm)"
        )
    group = sorted(group, key=lambda f: (f.trigger_time_ms, f.name, f.frame_index))
    for a, b in zip(group, group[1:], strict=False):
        if abs(a.trigger_time_ms - b.trigger_time_ms) < 1e-3:
            raise IngestError(
                f"subject {subject}: files {a.name} and {b.name}: duplicated phase, same"
                f" TriggerTime {a.trigger_time_ms} ms at slice position {position_mm:.1f} mm"
            )
    return group


def _slice_layout(
    distances: np.ndarray,
    subject: str,
    names: list[str],
    cfg: dict,
    warnings: list[str],
    default_step: float,
) -> tuple[float, list[int]]:
    """Slice step and the output index of each found slice (gaps leave empty indices)."""
    if len(distances) == 1:
        return default_step, [0]
    diffs = np.diff(distances)
    step = float(np.min(diffs))
    ratios = diffs / step
    whole = np.round(ratios)
    if np.any(np.abs(ratios - whole) > cfg["slice_gap_tolerance"]):
        k = int(np.argmax(np.abs(ratios - whole)))
        raise IngestError(
            f"subject {subject}: files {names[k]} and {names[k + 1]}: irregular slice spacing,"
            f" {diffs[k]:.2f} mm where the smallest step is {step:.2f} mm"
        )
    if np.any(whole > 1):
        k = int(np.argmax(whole))
        message = (
            f"subject {subject}: files {names[k]} and {names[k + 1]}: slice gap of"
            f" {diffs[k]:.2f} mm ({int(whole[k]) - 1} missing slice(s) at step {step:.2f} mm)"
        )
        if not cfg["fill_slice_gaps"]:
            raise IngestError(message)
        warnings.append(message + ", filled with zeros")
    index = np.concatenate([[0], np.cumsum(whole)]).astype(int)
    # The mean step over the whole stack is more precise than any single difference.
    return float((distances[-1] - distances[0]) / index[-1]), index.tolist()


def read_frame_pixels(frames: list[Frame], subject: str) -> dict[tuple, np.ndarray]:
    """Raw pixel arrays (y, x) of frames, keyed by (path, frame_index); one read per file."""
    by_file = defaultdict(list)
    for frame in frames:
        by_file[frame.path].append(frame)
    pixels = {}
    for path, file_frames in by_file.items():
        pixels.update(_read_file(path, file_frames, subject))
    return pixels


def _dtype(frame: Frame) -> np.dtype:
    kind = "i" if frame.signed else "u"
    return np.dtype(f"<{kind}{frame.bits_allocated // 8}")


def _read_native(frame: Frame) -> np.ndarray | None:
    """Pixel data read at the offset recorded with the header; None when pydicom must do it."""
    expected = frame.rows * frame.columns * frame.bits_allocated // 8
    with open(frame.path, "rb") as stream:
        stream.seek(frame.pixel_offset)
        head = stream.read(12)
        if head[:4] != PIXEL_TAG:
            return None
        if head[4:6] in (b"OW", b"OB"):
            length, start = int.from_bytes(head[8:12], "little"), 12
        else:
            length, start = int.from_bytes(head[4:8], "little"), 8
        if length == 0xFFFFFFFF:
            return None
        if length not in (expected, expected + 1):  # + 1: padding to an even length
            raise ValueError(
                f"pixel data holds {length} bytes, Rows x Columns x BitsAllocated needs {expected}"
            )
        stream.seek(frame.pixel_offset + start)
        raw = stream.read(expected)
    if len(raw) < expected:
        raise EOFError(f"truncated pixel data: {len(raw)} of {expected} bytes")
    return np.frombuffer(raw, _dtype(frame)).reshape(frame.rows, frame.columns)


def _read_file(path, file_frames: list[Frame], subject: str) -> dict:
    name = file_frames[0].name
    try:
        if len(file_frames) == 1 and file_frames[0].pixel_offset is not None:
            pixels = _read_native(file_frames[0])
            if pixels is not None:
                return {(path, file_frames[0].frame_index): pixels}
        ds = pydicom.dcmread(path)
        array = ds.pixel_array
    except IngestError:
        raise
    except Exception as error:
        syntax, hint = "?", ""
        try:
            uid = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
            syntax = uid.name
            if uid.is_compressed and not get_decoder(uid).is_available:
                # pylibjpeg-libjpeg (GPL-3.0) is an optional extra: it alone reads JPEG Lossless.
                hint = (
                    " no decoder for it is installed: pip install 'cine2lge[gpl-codecs]'"
                    " (pylibjpeg-libjpeg, GPL-3.0) or python-gdcm;"
                )
        except Exception:  # the message about the original error matters more
            pass
        raise IngestError(
            f"subject {subject}: file {name}: cannot read pixel data (transfer syntax {syntax}):"
            f"{hint} {type(error).__name__}: {error}"
        ) from error
    frames_yx = array.reshape(-1, file_frames[0].rows, file_frames[0].columns)
    if len(frames_yx) < max(f.frame_index for f in file_frames) + 1:
        raise IngestError(
            f"subject {subject}: file {name}: pixel data holds {len(frames_yx)} frames, header"
            f" describes {max(f.frame_index for f in file_frames) + 1}"
        )
    return {(path, f.frame_index): frames_yx[f.frame_index] for f in file_frames}


def stack_volume(
    frames: list[Frame],
    subject: str,
    cine: bool,
    overrides: dict | None = None,
    default_step_mm: float = 1.0,
    threads: int = 1,
) -> Volume:
    """Sort, check and read the frames of one stack into a float32 Volume."""
    cfg = {
        **settings(overrides),
        **CONVERT_DEFAULTS,
        **{k: v for k, v in (overrides or {}).items() if k in CONVERT_DEFAULTS},
    }
    warnings: list[str] = []
    normal = _check_consistent(frames, subject, cfg)
    groups = position_groups(frames, normal, cfg["position_tolerance_mm"])
    groups = [_dedupe(g, subject, warnings) for g in groups]
    distances = [float(np.mean([np.dot(f.position_lps, normal) for f in g])) for g in groups]
    if cine:
        groups = [_order_phases(g, subject, d) for g, d in zip(groups, distances, strict=True)]
        counts = [len(g) for g in groups]
        n_phases = max(set(counts), key=counts.count)
        incomplete = [k for k, c in enumerate(counts) if c != n_phases]
        for k in incomplete:
            message = (
                f"subject {subject}: file {groups[k][0].name}: slice at {distances[k]:.1f} mm has"
                f" {counts[k]} phases, the other slices {n_phases} (missing or extra phases)"
            )
            if not cfg["drop_incomplete_slices"]:
                raise IngestError(message)
            warnings.append(message + ", slice dropped")
        keep = [k for k in range(len(groups)) if k not in incomplete]
        groups, distances = [groups[k] for k in keep], [distances[k] for k in keep]
    else:
        n_phases = 1
        for g in groups:
            if len(g) > 1:
                raise IngestError(
                    f"subject {subject}: files {g[0].name} and {g[1].name}: {len(g)} different"
                    " images at one slice position of a single-phase series"
                )
    first = groups[0][0]
    row_cosine, column_cosine = np.array(first.orientation[:3]), np.array(first.orientation[3:])
    for g in groups:
        offset = np.array(g[0].position_lps) - np.array(first.position_lps)
        shift_px = max(
            abs(offset @ row_cosine) / first.pixel_spacing[1],
            abs(offset @ column_cosine) / first.pixel_spacing[0],
        )
        if shift_px > cfg["max_inplane_shift_px"]:
            raise IngestError(
                f"subject {subject}: file {g[0].name}: slice shifted in-plane by {shift_px:.1f}"
                f" pixels relative to {first.name}: slices are not stacked along their normal"
            )
    step, slice_index = _slice_layout(
        np.array(distances), subject, [g[0].name for g in groups], cfg, warnings, default_step_mm
    )
    data_tsyx = np.zeros((n_phases, slice_index[-1] + 1, first.rows, first.columns), np.float32)
    used = [f for g in groups for f in g]
    pixels = _read_all(used, subject, threads)
    for k, g in zip(slice_index, groups, strict=True):
        for t, frame in enumerate(g):
            target = data_tsyx[t, k]
            np.multiply(
                pixels[(frame.path, frame.frame_index)],
                frame.rescale_slope,
                out=target,
                casting="unsafe",
            )
            if frame.rescale_intercept:
                target += frame.rescale_intercept
    affine = affine_ras(first.orientation, first.position_lps, first.pixel_spacing, step)
    triggers_sp = np.array([[f.trigger_time_ms or 0.0 for f in g] for g in groups])
    trigger_times = np.median(triggers_sp, axis=0).tolist() if cine else []
    spread = float(np.ptp(triggers_sp, axis=0).max()) if cine else 0.0
    missing_slices = sorted(set(range(slice_index[-1] + 1)) - set(slice_index))
    qc = {
        "shape": list(data_tsyx.T.shape if cine else data_tsyx[0].T.shape),
        "pixel_spacing_mm": [first.pixel_spacing[1], first.pixel_spacing[0]],
        "slice_step_mm": round(step, 4),
        "n_frames": len(used),
        "missing_slices": missing_slices,
        "trigger_time_spread_ms": round(spread, 3),
        "orientation": orientation_label(normal),
    }
    for message in warnings:
        log.warning(message)
    return Volume(data_tsyx, affine, trigger_times, distances, used, qc, warnings)


def _read_all(frames: list[Frame], subject: str, threads: int) -> dict:
    """Pixels of all frames; files are split between threads (decoders release the GIL)."""
    if threads <= 1 or len(frames) < 64:
        return read_frame_pixels(frames, subject)
    by_file = defaultdict(list)
    for frame in frames:
        by_file[frame.path].append(frame)
    files = list(by_file.values())
    chunks = [[f for fs in files[i::threads] for f in fs] for i in range(threads)]
    pixels = {}
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(lambda chunk: read_frame_pixels(chunk, subject), chunks):
            pixels.update(part)
    return pixels


def orientation_label(normal_lps: np.ndarray) -> str:
    """Closest anatomical plane of a slice normal (short-axis stacks are oblique)."""
    axis = int(np.argmax(np.abs(normal_lps)))
    plane = ("sagittal", "coronal", "axial")[axis]
    if np.max(np.abs(normal_lps)) > 0.99:
        return f"{plane} (normal LPS {np.round(normal_lps, 3).tolist()})"
    return f"oblique, closest to {plane} (normal LPS {np.round(normal_lps, 3).tolist()})"
