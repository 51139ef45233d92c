"""Subject-wise cross-validation of the cine segmentation on MyoPS 2020 (a command, not a rule).

    nice -n 10 python scripts/segment_crossval.py --myops ../shared/data/myops2020 \
        --out results/segment/myops_cv --folds 5 \
        --init-weights resources/weights/segment_demo.safetensors

Crops every subject with the preprocess library (config `preprocess`, but registration off
unless --register: MyoPS C0, DE and labels are distributed co-registered; cine = C0, LGE = DE,
labels = gd, label scheme `myops`), trains one network per fold (config `segment`; --steps
overrides the step count; --init-weights fine-tunes from trained weights of the same network
instead of a random start; --only-folds runs some folds, for quick exploration) and writes
per-subject Dice/HD95 (`cv.tsv`: raw argmax and post-processed) and their mean/SD
(`cv_summary.tsv`). Measured figures: docs/architecture.md (3b segment).
"""

import argparse
import logging
from dataclasses import fields
from pathlib import Path

import torch
import yaml

from cine2lge.segment.evaluate import cross_validate, load_myops, summarise
from cine2lge.segment.net import SegmentSpec
from cine2lge.segment.postprocess import PostprocessSettings
from cine2lge.segment.train import SegmentTrainSettings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--myops", type=Path, required=True, help="MyoPS 2020 folder")
parser.add_argument("--out", type=Path, required=True, help="output folder")
parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
parser.add_argument("--folds", type=int, default=5)
parser.add_argument("--steps", type=int, help="training steps per fold (default: config)")
parser.add_argument("--only-folds", type=int, nargs="+", help="run only these fold indices")
parser.add_argument(
    "--init-weights", type=Path, help="fine-tune every fold from these weights (same network spec)"
)
parser.add_argument(
    "--register",
    action="store_true",
    help="register DE to C0 (default off: MyoPS is distributed co-registered)",
)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
torch.set_num_threads(1)
config = yaml.safe_load(args.config.read_text())
section = config["segment"]
data, spacing_mm = load_myops(
    args.myops,
    config["preprocess"],
    config["label_schemes"]["myops"],
    section["label_phase_fraction"],
    args.out / "crops",
    register=args.register,
)
logging.info("%d subjects, %d labelled slices", len(spacing_mm), len(data))
known = {f.name for f in fields(SegmentTrainSettings)}
settings = SegmentTrainSettings(**{k: v for k, v in section["train"].items() if k in known})
if args.steps:
    settings.steps = settings.checkpoint_every = settings.val_every = args.steps
spec = SegmentSpec.from_config(section["net"], config["preprocess"]["grid_size"])
table = cross_validate(
    data,
    args.folds,
    spec,
    settings,
    PostprocessSettings(**section["postprocess"]),
    spacing_mm,
    args.out / "folds",
    init_weights=args.init_weights,
    folds=args.only_folds,
)
table.to_csv(args.out / "cv.tsv", sep="\t", index=False, float_format="%.4f")
summary = summarise(table, ["stage"])
summary.to_csv(args.out / "cv_summary.tsv", sep="\t", index=False, float_format="%.4f")
print(summary.to_string(index=False))
