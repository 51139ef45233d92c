"""Readers of the real data sets in ../shared/data for the localisation tests.

Each returns (cine SourceVolume, expert myocardium centres in world mm per source slice) so the
tests can compare the image-based LV axis with the expert labels/contours.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from cine2lge.geometry import affine_ras, slice_positions_mm
from cine2lge.preprocess.volume import SourceVolume

MYOPS_MYOCARDIUM = [200, 1220, 2221]
CINEMYOPS_MYOCARDIUM = [1, 4, 5]


def myops_subjects(root: Path) -> list[str]:
    return sorted(p.name.split("_")[2] for p in (root / "myops2020/labels").glob("*_gd.nii.gz"))


def label_centres(labels_xys: np.ndarray, affine: np.ndarray, myocardium: list[int]) -> dict:
    """{slice: world centre of the myocardium label} for every slice with myocardium."""
    centres = {}
    for k in range(labels_xys.shape[2]):
        xy = np.argwhere(np.isin(labels_xys[:, :, k], myocardium))
        if len(xy):
            centres[k] = (affine @ np.array([*xy.mean(0), k, 1.0]))[:3]
    return centres


def myops(root: Path, number: str) -> tuple[SourceVolume, dict]:
    cine = SourceVolume.load(root / f"myops2020/images/myops_training_{number}_C0.nii.gz")
    labels = nib.load(root / f"myops2020/labels/myops_training_{number}_gd.nii.gz")
    return cine, label_centres(np.asarray(labels.dataobj), labels.affine, MYOPS_MYOCARDIUM)


def cinemyops(root: Path) -> tuple[SourceVolume, dict]:
    """Case1002: per-slice, per-frame 2D NIfTIs stacked into (x, y, slice, time)."""
    images = sorted((root / "cinemyops/image").glob("Case1002_s*_*.nii.gz"))
    by_slice = defaultdict(list)
    for path in images:
        by_slice[int(path.name.split("_")[1][1:])].append(path)
    slices = sorted(by_slice)
    first = [nib.load(sorted(by_slice[s])[0]) for s in slices]
    origins = np.stack([im.affine[:3, 3] for im in first])
    affine = first[0].affine.copy()
    affine[:3, 2] = (origins[-1] - origins[0]) / (len(slices) - 1)
    data = np.stack(
        [
            np.stack([np.asarray(nib.load(p).dataobj)[:, :, 0] for p in sorted(by_slice[s])], -1)
            for s in slices
        ],
        2,
    ).astype(np.float32)
    labels = np.stack(
        [
            np.asarray(nib.load(root / f"cinemyops/label/Case1002_s{s:02d}.nii.gz").dataobj)[
                :, :, 0
            ]
            for s in slices
        ],
        2,
    )
    return SourceVolume(data, affine), label_centres(labels, affine, CINEMYOPS_MYOCARDIUM)


def _polygon_centroid(xy: np.ndarray) -> np.ndarray:
    x, y = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    return np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6 * area)


def sunnybrook(root: Path, patient: str) -> tuple[SourceVolume, dict]:
    """SCD00001 etc.: cine DICOM sorted into (x, y, slice, time); centres from the epicardial
    (outer) contours, or the endocardial ones where a slice has no outer contour."""
    link = dict(
        line.strip().split(",")
        for line in (root / "sunnybrook/link.csv").open()
        if not line.startswith("patient")
    )
    files = sorted((root / "sunnybrook/dicom" / patient).glob("*.dcm"))
    headers = [pydicom.dcmread(p) for p in files]
    orientation = np.array(headers[0].ImageOrientationPatient, float)
    position = np.array([h.ImagePositionPatient for h in headers], float)
    along = np.round(slice_positions_mm(position, orientation), 2)
    levels = np.unique(along)
    by_level = defaultdict(list)
    for h, a in zip(headers, along, strict=True):
        by_level[a].append(h)
    n_frames = min(len(v) for v in by_level.values())
    data = np.zeros((headers[0].Columns, headers[0].Rows, len(levels), n_frames), np.float32)
    instance_slice = {}
    for k, level in enumerate(levels):
        frames = sorted(by_level[level], key=lambda h: float(h.TriggerTime))[:n_frames]
        for t, h in enumerate(frames):
            data[:, :, k, t] = h.pixel_array.T * float(getattr(h, "RescaleSlope", 1) or 1)
        for h in by_level[level]:
            instance_slice[int(h.InstanceNumber)] = k
    first = min(
        headers,
        key=lambda h: float(
            np.array(h.ImagePositionPatient, float) @ np.cross(orientation[:3], orientation[3:])
        ),
    )
    step = float(np.diff(levels).mean()) if len(levels) > 1 else 1.0
    affine = affine_ras(orientation, first.ImagePositionPatient, first.PixelSpacing, step)
    contours = root / "sunnybrook/contours" / link[patient]
    per_slice = defaultdict(dict)
    for kind in ("o", "i"):
        for path in sorted((contours / f"{kind}-contours").glob("*.txt")):
            instance = int(path.name.split("-")[2])
            k = instance_slice[instance]
            xy = np.loadtxt(path)
            per_slice[k].setdefault(kind, _polygon_centroid(xy))
    centres = {}
    for k, found in per_slice.items():
        x, y = found.get("o", found.get("i"))
        centres[k] = (affine @ np.array([x, y, k, 1.0]))[:3]
    return SourceVolume(data, affine), centres


def in_plane_distance_mm(axis, cine: SourceVolume, centres: dict) -> tuple[float, list[float]]:
    """Subject-level distance: in-plane distance between the mean expert centre and the axis at
    the same level; plus the per-slice distances."""
    per_slice = []
    for k, centre in centres.items():
        plane = cine.plane(k)
        found = axis.centre_in(plane)
        d = plane.project(centre) - found
        per_slice.append(float(np.linalg.norm(d - (d @ plane.normal) * plane.normal)))
    mean_expert = np.mean(list(centres.values()), axis=0)
    normal = cine.plane(0).normal
    # The axis point at the expert centre's level along the normal.
    along = float(axis.direction @ normal)
    found = axis.point_mm + ((mean_expert - axis.point_mm) @ normal / along) * axis.direction
    d = mean_expert - found
    return float(np.linalg.norm(d - (d @ normal) * normal)), per_slice
