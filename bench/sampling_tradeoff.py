"""Sampling cost vs quality of the diffusion model: K samples x DDIM steps (a benchmark).

For each (K, steps) pair it samples the test subjects of a finished pipeline run (their
results/preprocess/{subject}/paired.npz) with the configured weights and prints wall seconds,
seconds per slice, and the slice-level enhancement AUC and pixel Dice of the probability map
against the subjects' labels (demo ground truth), so that `model.predict.n_samples` / `steps`
can be chosen knowing what speed costs in quality.

    python bench/sampling_tradeoff.py --run /path/to/workdir --grid 4x10 4x5 2x10 --threads 2
    python bench/sampling_tradeoff.py --run . --splits internal_test --grid 4x10 4x6

Run it on an otherwise idle machine: the times are wall-clock.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from cine2lge.model.data import enhancement_labels
from cine2lge.model.predict import load_model
from cine2lge.model.sample import ensemble
from cine2lge.stats.roc import auc_score


def load_subjects(run: Path, splits: list[str], scheme: dict, classes: list[str]):
    """Concatenated cine, enhancement truth and subject of every labelled slice of the splits."""
    sheet = pd.read_csv(run / "config" / "subjects.tsv", sep="\t", dtype=str)
    labels = enhancement_labels(scheme, classes)
    cines, truth, names = [], [], []
    for subject in sheet.loc[sheet["split"].isin(splits), "subject"]:
        with np.load(run / "results" / "preprocess" / subject / "paired.npz") as paired:
            if "labels_syx" not in paired:
                continue
            cines.append(paired["cine_styx"])
            truth.append(np.isin(paired["labels_syx"], labels))
            names += [subject] * len(paired["cine_styx"])
    if not cines:
        raise SystemExit(f"{run}: no labelled preprocess outputs of splits {splits}")
    return np.concatenate(cines), np.concatenate(truth), names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="working dir of a finished run")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--splits", nargs="+", default=["internal_test", "external_test"])
    parser.add_argument("--grid", nargs="+", default=["4x10", "4x5", "2x10"], help="KxSTEPS")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    model_config = config["model"]
    weights = Path(model_config["weights"])
    model, spec, _ = load_model(weights, torch.device("cpu"))
    scheme = config["label_schemes"][model_config["label_scheme"]]
    cine, truth, _ = load_subjects(
        args.run, args.splits, scheme, model_config["enhancement_classes"]
    )
    positive = truth.reshape(len(truth), -1).sum(1) >= model_config["predict"]["min_area_px"]
    print(f"{len(cine)} slices ({positive.sum()} with enhancement) of splits {args.splits}")
    print(f"{'K':>3}{'steps':>6}{'seconds':>9}{'s/slice':>9}{'slice AUC':>11}{'pixel Dice':>12}")
    for item in args.grid:
        k, steps = (int(v) for v in item.lower().split("x"))
        start = time.perf_counter()
        prediction = ensemble(
            model,
            spec,
            cine,
            n_samples=k,
            steps=steps,
            seed=model_config["predict"]["seed"],
            batch_size=model_config["predict"]["batch_size"],
            min_area_px=model_config["predict"]["min_area_px"],
            progress=False,
        )
        seconds = time.perf_counter() - start
        predicted = prediction.enhancement_prob_syx >= 0.5
        overlap = 2 * np.logical_and(predicted, truth).sum()
        dice = overlap / max(1, predicted.sum() + truth.sum())
        auc = auc_score(positive, prediction.slice_probability_s)
        print(
            f"{k:>3}{steps:>6}{seconds:>9.1f}{seconds / len(cine):>9.2f}{auc:>11.3f}{dice:>12.3f}"
        )


if __name__ == "__main__":
    main()
