"""Quantify one LGE NIfTI with a label map: the pipeline's quantification outside Snakemake.

`cine2lge quantify-lge --lge LGE.nii.gz --labels LABELS.nii.gz --scheme NAME --out lesions.tsv`
runs `quantify_arrays` (the function behind rule quantify_lesions) with the `quantify` section
and `label_schemes[NAME]` of the configuration: the workflow's config/config.yaml, updated by
`--configfile` as Snakemake's --configfile does (nested keys merged), and validated by the
workflow's schema when the checkout has it. Arrays are read as (slice, y, x) from the NIfTI's
(x, y, z) axes; in-plane and slice spacing and the anterior direction (AHA numbering) come
from the affine. A file whose affine is unset (the NIfTI default: unit axes, 1 mm, no
origin, as some EMIDEC images carry beside labels with the true spacing) takes the other file's
affine, with a warning. The table has the lesions.tsv columns (docs/quantify.md): source
`lge`, and `truth` when the scheme has lesion classes.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import yaml

from cine2lge.io import CHECKOUT, atomic_path, in_checkout

from . import aha
from .subject import quantify_arrays

log = logging.getLogger(__name__)

CONFIG = Path("config") / "config.yaml"
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _find(relative: Path) -> Path | None:
    found = in_checkout(relative)
    return found if found.is_file() else None


def load_config(configfile: str | Path | None = None) -> dict:
    """The workflow's config/config.yaml (current directory first, then the checkout the package
    was installed from), updated by `configfile`, validated against the workflow's schema."""
    default = _find(CONFIG)
    config = yaml.safe_load(default.read_text()) if default else {}
    if configfile is not None:
        config = _merge(config, yaml.safe_load(Path(configfile).read_text()) or {})
    if not config:
        raise FileNotFoundError(
            f"no configuration: {CONFIG} not found in {Path.cwd()} or {CHECKOUT}; pass --configfile"
        )
    schema = _find(SCHEMA)
    if schema is not None:
        import jsonschema

        validator = jsonschema.Draft202012Validator(yaml.safe_load(schema.read_text()))
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
            raise ValueError(f"configuration invalid at {where}: {errors[0].message}")
    return config


def _unset(affine: np.ndarray) -> bool:
    """True for the NIfTI default affine: axis-aligned 1 mm unit axes and no origin."""
    return bool(np.allclose(np.abs(affine[:3, :3]), np.eye(3)) and np.allclose(affine[:3, 3], 0.0))


def read_syx(path: str | Path, dtype=np.float32):
    """(array (slice, y, x), NIfTI image) of a 3D NIfTI file."""
    image = nib.load(str(path))
    data = np.asarray(image.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3D short-axis stack, got shape {data.shape}")
    if np.issubdtype(dtype, np.integer):
        data = np.rint(data)
    return data.astype(dtype).transpose(2, 1, 0), image


def quantify_lge(
    lge_path: str | Path,
    labels_path: str | Path,
    scheme_name: str,
    out_path: str | Path,
    config: dict,
    subject: str | None = None,
) -> pd.DataFrame:
    """Quantify one LGE volume with its label map; write and return the lesions.tsv table."""
    schemes = config.get("label_schemes", {})
    if scheme_name not in schemes:
        raise KeyError(f"label scheme {scheme_name!r} not in the configuration ({sorted(schemes)})")
    lge_syx, lge_image = read_syx(lge_path)
    labels_syx, labels_image = read_syx(labels_path, np.int32)
    if lge_syx.shape != labels_syx.shape:
        raise ValueError(
            f"{labels_path} has shape {labels_syx.shape[::-1]}, {lge_path} {lge_syx.shape[::-1]}:"
            " the labels must be on the LGE's grid"
        )
    affine = lge_image.affine
    if not np.allclose(affine, labels_image.affine, atol=0.1):
        unset = [_unset(image.affine) for image in (lge_image, labels_image)]
        if unset[0] == unset[1]:
            raise ValueError(f"{labels_path} and {lge_path} have different affines (voxel grids)")
        affine = labels_image.affine if unset[0] else lge_image.affine
        log.warning(
            "%s has an unset affine (1 mm unit axes): the affine of %s is used for both",
            *((lge_path, labels_path) if unset[0] else (labels_path, lge_path)),
        )
    zooms = nib.affines.voxel_sizes(affine)
    spacing_mm = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    settings = config["quantify"]
    anterior_deg = None
    if settings.get("aha", {}).get("direction", "auto") == "auto":
        direction_ras = affine[:3, :3] / np.asarray(zooms, dtype=float)
        anterior_deg = aha.anterior_angle_deg(direction_ras)
    subject = subject or Path(lge_path).name.split(".nii")[0]
    table, _ = quantify_arrays(
        subject,
        spacing_mm,
        schemes[scheme_name],
        settings,
        labels_syx=labels_syx,
        lge_syx=lge_syx,
        anterior_deg=anterior_deg,
    )
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
