"""Labelled real cine for training and cross-validating the segmenter (../shared/data layouts).

Every data set is cropped by the preprocess library exactly as the pipeline crops a subject
(config `preprocess`: field of view, grid, frames, intensity percentiles), so the network sees
what `segment_subject` will give it. Loaders return `train.LabelledSlices` (subject names carry a
data-set prefix, so cross-validation folds are subject-wise across data sets) and the crop
spacing per subject; crops are cached as npz named by a hash of the settings.

- MyoPS 2020: single end-diastolic bSSFP frame C0 with expert labels (`evaluate.load_myops`).
- ACDC 2017: end-diastolic and end-systolic stacks with labels 1 RV, 2 myocardium, 3 LV cavity.
- CineMyoPS: 2D slices x 17 frames, labels 1/4/5 myocardium, 2 LV, 3 RV on frame 0 (the
  blood-myocardium contrast peaks there, i.e. end-diastole); each slice is cropped on its own
  (the slices carry their own positions).

`localise`: "labels" centres the crop on the expert myocardium (the pipeline's choice for
labelled subjects), "auto" on the automatic LV localiser (what an unlabelled subject gets).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("cine2lge.segment.realdata")

ACDC_SCHEME = {"blood_pool": [3], "myocardium": [2], "right_ventricle": [1]}
CINEMYOPS_SCHEME = {"blood_pool": [2], "myocardium": [1, 4, 5], "right_ventricle": [3]}
MYOPS_SCHEME = {"blood_pool": [500], "myocardium": [200, 1220, 2221], "right_ventricle": [600]}


def _section(preprocess_section: dict, localise: str) -> dict:
    """The config's `preprocess` section without registration (cine and labels share one grid)
    and with the crop centre of `localise`."""
    from cine2lge.segment.evaluate import myops_preprocess_section

    if localise not in ("labels", "auto"):
        raise ValueError(f"localise must be 'labels' or 'auto', not {localise!r}")
    return myops_preprocess_section(preprocess_section) | {
        "localise_from_labels": localise == "labels"
    }


def crop_labelled_cine(
    subject: str,
    cine: Path,
    labels: Path,
    scheme: dict,
    preprocess_section: dict,
    cache_dir: Path,
    localise: str = "labels",
) -> dict:
    """One subject's crops {cine_styx, labels_syx, spacing_mm, lv_method}, cached."""
    from cine2lge.preprocess.subject import Settings, preprocess_subject

    section = _section(preprocess_section, localise)
    key = hashlib.sha256(json.dumps(section, sort_keys=True).encode()).hexdigest()[:10]
    cache = Path(cache_dir) / f"{subject}_{key}.npz"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        result = preprocess_subject(
            subject, cine, Settings.from_config(section), None, labels, scheme["myocardium"]
        )
        np.savez(
            cache,
            cine_styx=result.arrays["cine_styx"],
            labels_syx=result.arrays["labels_syx"],
            spacing_mm=result.geometry["spacing_mm"],
            lv_method=result.axis.method,
        )
    with np.load(cache) as npz:
        return dict(npz)


def _collect(parts: list) -> object:
    from cine2lge.segment.train import LabelledSlices

    return LabelledSlices.concatenate(parts)


def _rows(subject: str, arrays: dict, scheme: dict, row_offset: int = 0):
    from cine2lge.segment.train import LabelledSlices, labelled_rows

    # Single labelled frame: every resampled frame is that frame, any phase fraction does.
    images, classes, rows = labelled_rows(subject, arrays, scheme, 0.0)
    return LabelledSlices(images, classes, [subject] * len(rows), [r + row_offset for r in rows])


def load_acdc(
    root: Path, preprocess_section: dict, cache_dir: Path, localise: str = "labels"
) -> tuple[object, dict[str, float]]:
    """ACDC patients: ED and ES stacks (both labelled) as rows of one subject `acdcNNN`."""
    parts, spacing = [], {}
    patients = sorted(p for p in Path(root).glob("patient*") if p.is_dir())
    if not patients:
        raise FileNotFoundError(f"ACDC folder {root}: no patientNNN folders")
    for patient in patients:
        subject = "acdc" + patient.name[-3:]
        for offset, labels in enumerate(sorted(patient.glob("*_frame*_gt.nii.gz"))):
            cine = labels.with_name(labels.name.replace("_gt", ""))
            arrays = crop_labelled_cine(
                f"{subject}_{labels.name.split('_')[1]}",
                cine,
                labels,
                ACDC_SCHEME,
                preprocess_section,
                cache_dir,
                localise,
            )
            parts.append(_rows(subject, arrays, ACDC_SCHEME, 100 * offset))
            spacing[subject] = float(arrays["spacing_mm"])
    return _collect(parts), spacing


def _cinemyops_volume(case: str, number: str, root: Path, out_dir: Path) -> tuple[Path, Path]:
    """Frame 0 of one CineMyoPS slice and its labels as (x, y, 1) NIfTI files."""
    import nibabel as nib

    image = nib.load(root / "image" / f"{case}_s{number}_0000.nii.gz")
    labels = nib.load(root / "label" / f"{case}_s{number}.nii.gz")
    cine_path = out_dir / f"{case}_s{number}_cine.nii.gz"
    labels_path = out_dir / f"{case}_s{number}_labels.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj, np.float32), image.affine), cine_path)
    nib.save(nib.Nifti1Image(np.asarray(labels.dataobj, np.int16), image.affine), labels_path)
    return cine_path, labels_path


def load_cinemyops(
    root: Path, preprocess_section: dict, cache_dir: Path, localise: str = "labels"
) -> tuple[object, dict[str, float]]:
    """CineMyoPS cases: each labelled slice cropped on its own (localise "auto" falls back to
    the labels: a single slice has no stack for the automatic localiser)."""
    root = Path(root)
    parts, spacing = [], {}
    label_files = sorted((root / "label").glob("Case*_s*.nii.gz"))
    if not label_files:
        raise FileNotFoundError(f"CineMyoPS folder {root}: no label/Case*_s*.nii.gz")
    with tempfile.TemporaryDirectory() as tmp:
        for labels_file in label_files:
            case, number = labels_file.name.split(".")[0].split("_s")
            subject = "cinemyops" + case[4:]
            cine, labels = _cinemyops_volume(case, number, root, Path(tmp))
            arrays = crop_labelled_cine(
                f"{subject}_s{number}",
                cine,
                labels,
                CINEMYOPS_SCHEME,
                preprocess_section,
                cache_dir,
                "labels",
            )
            parts.append(_rows(subject, arrays, CINEMYOPS_SCHEME, int(number)))
            spacing[subject] = float(arrays["spacing_mm"])
    return _collect(parts), spacing


def load_myops_cine(
    root: Path, preprocess_section: dict, cache_dir: Path, localise: str = "labels"
) -> tuple[object, dict[str, float]]:
    """MyoPS 2020: C0 with the expert labels (co-registered, on the C0 grid)."""
    parts, spacing = [], {}
    label_files = sorted((Path(root) / "labels").glob("myops_training_*_gd.nii.gz"))
    if not label_files:
        raise FileNotFoundError(f"MyoPS folder {root}: no labels/myops_training_*_gd.nii.gz")
    for labels in label_files:
        subject = "myops" + labels.name.split("_")[2]
        cine = Path(root) / "images" / labels.name.replace("_gd", "_C0")
        arrays = crop_labelled_cine(
            subject, cine, labels, MYOPS_SCHEME, preprocess_section, cache_dir, localise
        )
        parts.append(_rows(subject, arrays, MYOPS_SCHEME))
        spacing[subject] = float(arrays["spacing_mm"])
    return _collect(parts), spacing


LOADERS: dict[str, tuple[str, Callable]] = {
    "myops": ("myops2020", load_myops_cine),
    "acdc": ("acdc", load_acdc),
    "cinemyops": ("cinemyops", load_cinemyops),
}


def load_real_cine(
    data_root: Path,
    preprocess_section: dict,
    cache_dir: Path,
    sets: list[str] | None = None,
    localise: str = "labels",
) -> tuple[object, dict[str, float]]:
    """Every labelled real cine set found under `data_root` (../shared/data layout)."""
    parts, spacing = [], {}
    for name in sets or list(LOADERS):
        folder, loader = LOADERS[name]
        if not (Path(data_root) / folder).is_dir():
            log.warning("no %s under %s: skipped", folder, data_root)
            continue
        data, sp = loader(Path(data_root) / folder, preprocess_section, cache_dir, localise)
        log.info("%s: %d subjects, %d slices", name, len(sp), len(data))
        parts.append(data)
        spacing |= sp
    if not parts:
        raise FileNotFoundError(f"no labelled real cine under {data_root}")
    return _collect(parts), spacing


def dataset_of(subject: str) -> str:
    """Data-set name of a subject id made by these loaders (or 'demo')."""
    for name in LOADERS:
        if subject.startswith(name):
            return name
    return "demo"
