"""External test of segmentation weights on Sunnybrook (never used in training).

    python scripts/realdata/evaluate_sunnybrook.py --data ../shared/data/sunnybrook \
        --weights resources/weights/segment_cmr.safetensors \
        [--weights2 resources/weights/segment_demo.safetensors] [--cache DIR] [--out TSV]

Three GE heart-failure patients, ED frame of the slices with both expert contours
(cine2lge.segment.sunnybrook). The cine is ingested by the project's DICOM ingest and cropped by
the pipeline's preprocess library, the LV found either from the expert labels ("labels", the
pipeline's choice for labelled subjects) or by the automatic localiser ("auto", what an
unlabelled subject gets) on the ED frame stack ("ed") or on the whole cycle ("cycle", as the
pipeline gives it). Prediction per ED frame, post-processing with the config's
`segment.postprocess`. Printed as Markdown: one row per patient, then the mean over patients
(with the lowest patient). RV predictions are ignored (no RV contours).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml

from cine2lge.segment.postprocess import PostprocessSettings
from cine2lge.segment.predict import load_segmenter
from cine2lge.segment.sunnybrook import evaluate_crops, load_sunnybrook

REPO = Path(__file__).resolve().parents[2]
KEYS = ["weights", "cine", "localise", "stage"]


def evaluate(args, cache: Path) -> pd.DataFrame:
    config = yaml.safe_load(args.config.read_text())
    settings = PostprocessSettings(**config["segment"]["postprocess"])
    grid = config["preprocess"]["grid_size"]
    flip_tta = config["segment"].get("predict", {}).get("flip_tta", True)  # as the pipeline
    models = {}
    for weights in [args.weights, args.weights2]:
        if weights is not None:
            model, spec, _ = load_segmenter(weights)
            if tuple(spec.image_size) != (grid, grid):
                raise SystemExit(f"{weights}: input {spec.image_size}, config grid {grid}")
            models[weights.stem] = model
    tables = []
    for frames, localise in (("ed", "labels"), ("ed", "auto"), ("cycle", "auto")):
        crops = load_sunnybrook(
            args.data, config["preprocess"], cache, localise, frames, config["ingest"]
        )
        for name, model in models.items():
            table = evaluate_crops(model, crops, settings, torch.device("cpu"), flip_tta=flip_tta)
            tables.append(table.assign(weights=name, cine=frames, localise=localise))
    return pd.concat(tables, ignore_index=True)


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| weights | cine | localise | stage | patient | slices | myocardium Dice | HD95 mm"
        " | blood-pool Dice | closed rings | usable | LV offset mm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['weights']} | {r['cine']} | {r['localise']} | {r['stage']} | {r['subject']}"
            f" | {r['slices']} | {r['myocardium_dice']:.3f} | {r['myocardium_hd95_mm']:.1f}"
            f" | {r['blood_pool_dice']:.3f} | {r['closed_rings']}/{r['slices']}"
            f" | {r['usable_slices']}/{r['slices']} | {r['lv_offset_mm']:.1f} |"
        )
    lines += [
        "",
        "| weights | cine | localise | stage | patients | myocardium Dice (mean) | lowest"
        " | HD95 mm (mean) | blood-pool Dice (mean) | closed rings | usable"
        " | patients without a closed ring |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for keys, g in table.groupby(KEYS, sort=False):
        lines.append(
            "| " + " | ".join(keys) + f" | {len(g)} | {g['myocardium_dice'].mean():.3f}"
            f" | {g['myocardium_dice'].min():.3f} | {g['myocardium_hd95_mm'].mean():.1f}"
            f" | {g['blood_pool_dice'].mean():.3f}"
            f" | {g['closed_rings'].sum()}/{g['slices'].sum()}"
            f" | {g['usable_slices'].sum()}/{g['slices'].sum()}"
            f" | {(g['closed_rings'] == 0).sum()} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="sunnybrook folder")
    parser.add_argument("--weights", type=Path, required=True, help="segmentation weights")
    parser.add_argument("--weights2", type=Path, default=None, help="second weights to compare")
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--cache", type=Path, default=None, help="NIfTI/crop cache (temp)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as TSV")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    if args.cache is None:
        with tempfile.TemporaryDirectory(prefix="sunnybrook_") as tmp:
            table = evaluate(args, Path(tmp))
    else:
        table = evaluate(args, args.cache)
    if args.out:
        table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    print(markdown(table))


if __name__ == "__main__":
    main()
