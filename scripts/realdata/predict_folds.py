"""Re-predict the held-out subjects of each cross-validation fold from the fold's newest
checkpoint (EMA weights), e.g. with flip test-time augmentation (a command).

    python scripts/realdata/predict_folds.py --runs OUT --out OUT_TTA [--flip-tta | --dihedral-tta]

Reads OUT/segment/fold{K}.json (held-out subjects) and OUT/segment/fold{K}/checkpoints; writes
OUT_TTA/segment/fold{K}_pred.npz in the format of train.py, to be scored by
`python scripts/realdata/evaluate.py segment --runs OUT_TTA`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from train import load_slices, save_segment_predictions

from cine2lge.model import checkpoint as ckpt
from cine2lge.segment.net import SegmentSpec, build_segmenter
from cine2lge.segment.train import FLIPS, predict_probabilities


def fold_model(checkpoints: Path) -> torch.nn.Module:
    weights, metadata = ckpt.ema_weights_of_checkpoint(checkpoints)
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
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(".gpu/data"))
    tta = parser.add_mutually_exclusive_group()
    tta.add_argument("--flip-tta", action="store_true", help="the pipeline's 4 flips")
    tta.add_argument("--dihedral-tta", action="store_true", help="8 flips x transpose")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, _ = load_slices(args.data / "segment_real.npz")
    (args.out / "segment").mkdir(parents=True, exist_ok=True)
    for record in sorted((args.runs / "segment").glob("fold[0-9].json")):
        fold = record.stem
        test = data.subset(set(json.loads(record.read_text())["held_out"]))
        model = fold_model(args.runs / "segment" / fold / "checkpoints")
        if args.dihedral_tta:
            probability = dihedral_probabilities(model, test.images_nyx)
        else:
            probability = predict_probabilities(
                model, test.images_nyx, torch.device("cpu"), flip_tta=args.flip_tta
            )
        save_segment_predictions(args.out / "segment" / f"{fold}_pred.npz", probability, test)
        print(f"{fold}: {len(test)} held-out slices", flush=True)


if __name__ == "__main__":
    main()
