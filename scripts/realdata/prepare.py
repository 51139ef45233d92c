"""Crop the labelled real data of ../shared/data (and the demo cohort) into compact npz files for
the real-data training commands (scripts/realdata/train.py). A command, not a rule.

    python scripts/realdata/prepare.py --data ../shared/data --out .gpu/data \
        [--demo results/preprocess --sheet config/subjects.tsv]

Writes (float16 images, crops of the preprocess library with the settings of --config):
- `segment_real.npz`: labelled cine slices of MyoPS (C0), ACDC (ED + ES), CineMyoPS (frame 0);
- `segment_demo.npz`: labelled demo slices of the sheet's train/val subjects (needs the demo
  cohort preprocessed: `snakemake results/preprocess/demo0001/paired.npz ...`);
- `lge.npz`: labelled LGE slices of EMIDEC (infarct + no-reflow) and MyoPS (DE, scar 2221);
- `lge_demo.npz`: LGE slices of the demo sheet's train/val phantoms (scar = hyperintense +
  intermediate), so that the learned quantifier also reads the phantom's (and a young
  generator's) synthetic contrast; the test phantoms stay unseen;
- `myops_pairs.npz`: MyoPS paired cine (C0, `--frames` frames) / LGE / labels for the generator.
The images never leave the machine they were cropped on except as these training caches; do not
commit them (patient data).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cine2lge.segment.realdata import crop_labelled_cine, load_real_cine


def pack(path: Path, data, spacing: dict[str, float], **extra) -> None:
    subjects = np.array(data.subjects)
    np.savez_compressed(
        path,
        images=data.images_nyx.astype(np.float16),
        classes=data.classes_nyx.astype(np.uint8),
        subjects=subjects,
        rows=np.array(data.rows),
        spacing_json=json.dumps(spacing),
        **extra,
    )
    logging.info("%s: %d slices of %d subjects", path.name, len(subjects), len(set(subjects)))


def _on_label_grid(image: Path, label: Path, cache: Path) -> Path:
    """Some EMIDEC images carry a unit affine (1 mm pixels) while their labels carry the true
    spacing: the image is given the labels' affine (same voxel grid)."""
    import nibabel as nib

    img, lab = nib.load(image), nib.load(label)
    if img.shape[:3] != lab.shape[:3] or np.allclose(img.affine, lab.affine, atol=1e-3):
        return image
    logging.warning("%s: affine differs from its labels'; the labels' affine is used", image.name)
    fixed = cache / "regridded" / image.name
    fixed.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj, np.float32), lab.affine), fixed)
    return fixed


def lge_cases(data_root: Path) -> list[tuple[str, Path, Path, str]]:
    """(subject, LGE, labels, label scheme name) of the labelled real LGE of ../shared/data."""
    emidec = [
        (
            f"emidec{p.name.split('_')[1]}",
            p,
            p.parent.parent / "labels" / p.name.replace("_img", "_gt"),
        )
        for p in sorted((data_root / "emidec" / "images").glob("Case_*_img.nii.gz"))
    ]
    myops = [
        (
            f"myops{p.name.split('_')[2]}",
            p.parent.parent / "images" / p.name.replace("_gd", "_DE"),
            p,
        )
        for p in sorted((data_root / "myops2020" / "labels").glob("myops_training_*_gd.nii.gz"))
    ]
    return [(*c, "emidec") for c in emidec] + [(*c, "myops") for c in myops]


def lge_sets(data_root: Path, preprocess: dict, schemes: dict, cache: Path):
    """(images (N, y, x), labels (N, y, x) in {0 other, 1 myocardium, 2 scar}, subjects)."""
    images, labels, subjects, spacing = [], [], [], {}
    cases = [(s, i, lab, schemes[name]) for s, i, lab, name in lge_cases(data_root)]
    for subject, image, label, scheme in cases:
        image = _on_label_grid(image, label, cache)
        arrays = crop_labelled_cine(
            f"lge_{subject}", image, label, scheme, preprocess, cache, "labels"
        )
        myo = np.isin(arrays["labels_syx"], scheme["myocardium"])
        scar = np.isin(arrays["labels_syx"], scheme["hyperintense"]) & myo
        keep = myo.any(axis=(1, 2))
        images.append(arrays["cine_styx"][keep, 0])
        labels.append((myo.astype(np.uint8) + scar)[keep])
        subjects += [subject] * int(keep.sum())
        spacing[subject] = float(arrays["spacing_mm"])
    return np.concatenate(images), np.concatenate(labels), subjects, spacing


def demo_lge_sets(paired: dict[str, Path], scheme: dict):
    """lge_sets' arrays of the demo phantoms' paired LGE crops (scar = both lesion classes)."""
    images, labels, subjects = [], [], []
    for subject, path in paired.items():
        with np.load(path) as npz:
            lge, classes = npz["lge_syx"], npz["labels_syx"]
        myo = np.isin(classes, scheme["myocardium"])
        scar = np.isin(classes, scheme["hyperintense"] + scheme["intermediate"]) & myo
        keep = myo.any(axis=(1, 2))
        images.append(lge[keep])
        labels.append((myo.astype(np.uint8) + scar)[keep])
        subjects += [subject] * int(keep.sum())
    return np.concatenate(images), np.concatenate(labels), subjects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(".gpu/data"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--cache", type=Path, default=Path(".work/crops"))
    parser.add_argument("--demo", type=Path, default=Path("results/preprocess"))
    parser.add_argument("--sheet", type=Path, default=Path("config/subjects.tsv"))
    parser.add_argument("--frames", type=int, default=1, help="cine frames of myops_pairs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = yaml.safe_load(args.config.read_text())
    preprocess = config["preprocess"]
    args.out.mkdir(parents=True, exist_ok=True)

    data, spacing = load_real_cine(args.data, preprocess, args.cache)
    pack(args.out / "segment_real.npz", data, spacing)

    sheet = pd.read_csv(args.sheet, sep="\t")
    demo = sheet[sheet["split"].isin(["train", "val"])]["subject"].tolist()
    paired = {
        s: args.demo / s / "paired.npz" for s in demo if (args.demo / s / "paired.npz").is_file()
    }
    if paired:
        from cine2lge.segment.train import load_labelled

        scheme = config["label_schemes"]["demo"]
        demo_data = load_labelled(paired, dict.fromkeys(paired, scheme), 0.75)
        pack(args.out / "segment_demo.npz", demo_data, dict.fromkeys(paired, 2.0))
        images, labels, subjects = demo_lge_sets(paired, scheme)
        np.savez_compressed(
            args.out / "lge_demo.npz",
            images=images.astype(np.float16),
            labels=labels,
            subjects=np.array(subjects),
            spacing_json=json.dumps(dict.fromkeys(paired, 2.0)),
        )
    else:
        logging.warning("no demo paired.npz under %s: segment_demo.npz not written", args.demo)

    images, labels, subjects, spacing = lge_sets(
        args.data, preprocess, config["label_schemes"], args.cache
    )
    np.savez_compressed(
        args.out / "lge.npz",
        images=images.astype(np.float16),
        labels=labels,
        subjects=np.array(subjects),
        spacing_json=json.dumps(spacing),
    )
    logging.info("lge.npz: %d slices of %d subjects", len(subjects), len(set(subjects)))

    from cine2lge.model.crossval import load_myops_pairs

    section = json.loads(json.dumps(preprocess)) | {"frames": args.frames}
    pairs = load_myops_pairs(
        args.data / "myops2020",
        section,
        config["label_schemes"]["myops"]["myocardium"],
        args.cache / "pairs",
    )
    np.savez_compressed(
        args.out / "myops_pairs.npz",
        condition=np.concatenate([p.condition_scyx for p in pairs]).astype(np.float16),
        lge=np.concatenate([p.lge_syx for p in pairs]).astype(np.float16),
        labels=np.concatenate([p.labels_syx for p in pairs]).astype(np.int16),
        subjects=np.array([p.subject for p in pairs for _ in p.lge_syx]),
        spacing_json=json.dumps({p.subject: p.spacing_mm for p in pairs}),
        preprocess_json=json.dumps(section),
    )
    logging.info("myops_pairs.npz: %d slices", sum(len(p.lge_syx) for p in pairs))


if __name__ == "__main__":
    main()
