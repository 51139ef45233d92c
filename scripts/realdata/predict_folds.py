"""Re-predict the held-out subjects of each cross-validation fold from the fold's newest
checkpoint (EMA weights), e.g. with flip test-time augmentation (a command).

    python scripts/realdata/predict_folds.py [--task segment|scar] --runs OUT --out OUT_TTA
        [--flip-tta | --dihedral-tta]

Reads OUT/TASK/fold{K}.json (held-out subjects) and OUT/TASK/fold{K}/checkpoints; writes
OUT_TTA/TASK/fold{K}_pred.npz in the format of train.py, to be scored by
`python scripts/realdata/evaluate.py TASK --runs OUT_TTA`. --dihedral-tta: segment only.
"""

from __future__ import annotations

import argparse
import json
import types
from pathlib import Path

import numpy as np
import torch
from train import lge_slices, load_slices, save_scar_predictions, save_segment_predictions

from cine2lge.model import checkpoint as ckpt
from cine2lge.quantify.learned import ScarSpec, build_scar_net, scar_probability
from cine2lge.segment.net import SegmentSpec, build_segmenter
from cine2lge.segment.train import FLIPS, predict_probabilities


def fold_model(checkpoints: Path, task: str = "segment") -> torch.nn.Module:
    weights, metadata = ckpt.ema_weights_of_checkpoint(checkpoints)
    if task == "scar":
        model = build_scar_net(ScarSpec.from_json(metadata["spec"]))
    else:
        model = build_segmenter(SegmentSpec.from_json(metadata["spec"]))
    model.load_state_dict(weights)
    return model.eval()


@torch.no_grad()
def dihedral_probabilities(model: torch.nn.Module, images_nyx: np.ndarray) -> np.ndarray:
    """Mean softmax over the 8 in-plane symmetries (flips x transpose); an experiment beside the
    pipeline's 4 flips (docs/architecture.md: +0.001 Dice for twice the passes)."""
    out = []
    for start in range(0, len(images_nyx), 64):
        batch = torch.from_numpy(np.ascontiguousarray(images_nyx[start : start + 64])).float()
        total = 0
        for image in (batch, batch.transpose(-1, -2)):
            flipped = sum(torch.softmax(model(image.flip(d)), 1).flip(d) for d in FLIPS)
            total = total + (flipped if image is batch else flipped.transpose(-1, -2))
        out.append((total / 8).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["segment", "scar"], default="segment")
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(".gpu/data"))
    tta = parser.add_mutually_exclusive_group()
    tta.add_argument("--flip-tta", action="store_true", help="the pipeline's 4 flips")
    tta.add_argument("--dihedral-tta", action="store_true", help="8 flips x transpose")
    args = parser.parse_args()
    if args.dihedral_tta and args.task != "segment":
        parser.error("--dihedral-tta: segment only")
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    if args.task == "scar":
        data = lge_slices(types.SimpleNamespace(data=args.data), use_mask=True)
    else:
        data, _ = load_slices(args.data / "segment_real.npz")
    (args.out / args.task).mkdir(parents=True, exist_ok=True)
    for record in sorted((args.runs / args.task).glob("fold[0-9].json")):
        fold = record.stem
        test = data.subset(set(json.loads(record.read_text())["held_out"]))
        model = fold_model(args.runs / args.task / fold / "checkpoints", args.task)
        target = args.out / args.task / f"{fold}_pred.npz"
        if args.task == "scar":
            probability = scar_probability(model, test.images_nyx, cpu, flip_tta=args.flip_tta)
            save_scar_predictions(target, probability, test)
        elif args.dihedral_tta:
            save_segment_predictions(target, dihedral_probabilities(model, test.images_nyx), test)
        else:
            probability = predict_probabilities(model, test.images_nyx, cpu, flip_tta=args.flip_tta)
            save_segment_predictions(target, probability, test)
        print(f"{fold}: {len(test)} held-out slices", flush=True)


if __name__ == "__main__":
    main()
