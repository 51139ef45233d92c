"""Lesion quantification on the synthetic phantom against its known lesion masks.

Renders the LGE of demo subjects (cine2lge.phantom, the same code as rule demo_subject, without
writing DICOM), quantifies it with the config's rules inside the known myocardium, and compares
hyperintense (label 5), intermediate (label 4) and total lesion volume with the truth (% error of
the subject volume), and the AHA segments placed from the RV label with the phantom's own segment
of every myocardial pixel (agreement on the slices whose base/mid/apex level agrees; the phantom
splits levels by long-axis position, we by thirds of the slices).

    python bench/validate_quantify_phantom.py [--subjects 12] [--seed 2026]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from cine2lge.phantom.lesions import LEVELS, aha_segment
from cine2lge.phantom.plan import plan_subject
from cine2lge.phantom.render import CONTRASTS, acquire, lge_state, render_short_axis, stack_torso
from cine2lge.quantify.subject import quantify_arrays

REPO = Path(__file__).resolve().parents[1]


def phantom_lge(subject: str, seed: int):
    """LGE values and labels (slice, y, x) and the (slice, y, x) spacing of a demo subject."""
    plan = plan_subject(subject, seed)
    stack = plan.stack
    torso = stack_torso(plan)
    signal, labels = render_short_axis(
        plan, lge_state(), CONTRASTS["lge"], plan.lge_shift_lps, torso
    )
    points = np.stack([stack.pixel_points(k) for k in range(len(stack.slice_s))])
    values = acquire(plan, signal[:, 0], points, plan.site.lge_snr, 1.0)
    spacing = (float(stack.spacing_mm), float(stack.pixel_mm), float(stack.pixel_mm))
    return np.asarray(values, np.float32), labels[:, 0].astype(np.int16), spacing


def phantom_segment_agreement(subject: str, seed: int, model) -> float:
    """Fraction of myocardial pixels whose AHA segment equals the phantom's (same-level slices)."""
    plan = plan_subject(subject, seed)
    stack, anatomy = plan.stack, plan.anatomy
    levels = plan.lesion.level_index(stack.slice_s)
    agree = total = 0
    for k in np.flatnonzero(np.asarray(levels) == model.level_s):
        rows, columns = np.nonzero(model.segments_syx[k])
        points = (
            stack.positions_lps[k]
            + columns[:, None] * stack.pixel_mm * stack.row_cosine
            + rows[:, None] * stack.pixel_mm * stack.column_cosine
        )
        heart = anatomy.to_heart(points, plan.lge_shift_lps)
        theta = np.degrees(np.arctan2(heart[:, 1], heart[:, 0]))
        truth = aha_segment(
            theta, LEVELS[levels[k]], anatomy.anterior_insertion_deg, anatomy.rv_centre_deg
        )
        agree += int((np.asarray(truth) == model.segments_syx[k][rows, columns]).sum())
        total += rows.size
    return agree / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    scheme, settings = config["label_schemes"]["demo"], config["quantify"]
    rows = []
    for index in tqdm(range(1, args.subjects + 1), desc="phantom"):
        subject = f"demo{index:04d}"
        lge, labels, spacing = phantom_lge(subject, args.seed)
        table, model = quantify_arrays(
            subject, spacing, scheme, settings, labels_syx=labels, lge_syx=lge
        )
        subject_rows = table[table["region"] == "subject"].pivot(
            index="class", columns="source", values="volume_ml"
        )
        for lesion_class, row in subject_rows.iterrows():
            rows.append({"subject": subject, "class": lesion_class, "truth_ml": row["truth"],
                         "lge_ml": row["lge"]})  # fmt: skip
        print(f"{subject}: AHA segment agreement with the phantom"
              f" {phantom_segment_agreement(subject, args.seed, model):.3f}")  # fmt: skip
    table = pd.DataFrame(rows)
    table["error_percent"] = 100 * (table["lge_ml"] - table["truth_ml"]) / table["truth_ml"]
    print(table.to_markdown(index=False, floatfmt=".3g"))
    with_lesion = table[table["truth_ml"] > 0].groupby("class")["error_percent"]
    print("\nmean (mean absolute) % error, subjects with a lesion:")
    print(pd.concat([with_lesion.mean(), with_lesion.apply(lambda e: e.abs().mean())], axis=1))
    free = table[(table["truth_ml"] == 0) & (table["class"] == "total")]["lge_ml"]
    print(f"lesion-free subjects: {len(free)}, false-positive total volume {free.tolist()} mL")


if __name__ == "__main__":
    main()
