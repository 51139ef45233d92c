"""Subject-wise cross-validation of the diffusion model on MyoPS 2020 (a command, not a rule).

    nice -n 10 python scripts/model_crossval.py --myops ../shared/data/myops2020 \
        --out results/model/myops_cv --folds 5 --steps 300 \
        --init-weights resources/weights/cine2lge_demo.safetensors [--t2]

Single-frame cine (C0; repeated to `preprocess.frames` so the demo weights fit) -> LGE (DE),
enhancement target = expert scar (label scheme `myops`, class hyperintense; --classes changes it),
optionally + T2 as one more conditioning channel (--t2). Network, diffusion, training and
sampling settings come from config/config.yaml (`model`); --steps overrides the training steps
per fold. Writes per-slice predictions scores (`slices.tsv`), the tidy lesion table of all
held-out subjects (`lesions.tsv`) and the summary (`summary.tsv`: slice AUC, burden r of
LGE-like vs real LGE and vs the expert scar, SSIM/PSNR/MAE), and prints the summary.
"""

import argparse
import logging
from pathlib import Path

import torch
import yaml

from cine2lge.model.crossval import Sampling, cross_validate, load_myops_pairs, summarise
from cine2lge.model.net import ModelSpec
from cine2lge.model.runtime import pick_device
from cine2lge.model.stage import train_settings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--myops", type=Path, required=True, help="MyoPS 2020 folder")
parser.add_argument("--out", type=Path, required=True, help="output folder")
parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
parser.add_argument("--folds", type=int, default=5)
parser.add_argument("--only-folds", type=int, nargs="+", help="run only these folds (0-based)")
parser.add_argument("--steps", type=int, help="training steps per fold (default: config)")
parser.add_argument("--init-weights", type=Path, help="fine-tune from these weights")
parser.add_argument("--t2", action="store_true", help="T2 as an extra conditioning channel")
parser.add_argument(
    "--classes",
    nargs="+",
    default=["hyperintense"],
    help="label-scheme classes of the enhancement target (default: scar)",
)
parser.add_argument("--samples", type=int, help="K samples per slice (default: config)")
parser.add_argument("--sample-steps", type=int, help="DDIM steps per sample (default: config)")
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
torch.set_num_threads(args.threads)
config = yaml.safe_load(args.config.read_text())
model_config, scheme = config["model"], config["label_schemes"]["myops"]
device = pick_device()
subjects = load_myops_pairs(
    args.myops, config["preprocess"], scheme["myocardium"], args.out / "crops", t2=args.t2
)
logging.info("%d subjects, %d paired slices", len(subjects), sum(len(s.lge_syx) for s in subjects))
settings = train_settings(model_config, device)
if args.steps is not None:  # 0 = no training: evaluate --init-weights as they are
    settings.steps = args.steps
    settings.checkpoint_every = max(1, args.steps)
    settings.warmup_steps = min(settings.warmup_steps, args.steps // 10)
spec = ModelSpec.from_config(
    model_config["net"],
    model_config["diffusion"],
    subjects[0].condition_scyx.shape[1],
    subjects[0].condition_scyx.shape[2:],
    extra_conditions=["t2"] if args.t2 else [],
)
predict = model_config["predict"]
sampling = Sampling(
    args.samples or predict["n_samples"],
    args.sample_steps or predict["steps"],
    predict["seed"],
    predict["batch_size"],
    predict["min_area_px"],
)
tables = cross_validate(
    subjects,
    args.folds,
    spec,
    settings,
    sampling,
    scheme,
    config["quantify"],
    args.classes,
    args.out / "folds",
    device,
    init_weights=args.init_weights,
    folds=args.only_folds,
)
summary = summarise(tables["slices"], tables["burden"])
tables["slices"].to_csv(args.out / "slices.tsv", sep="\t", index=False, float_format="%.4f")
tables["burden"].to_csv(args.out / "lesions.tsv", sep="\t", index=False, float_format="%.4f")
summary.to_csv(args.out / "summary.tsv", sep="\t", index=False, float_format="%.4f")
print(summary.to_string(index=False))
