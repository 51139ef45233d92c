"""Agreement of automatic scar burden on real LGE with expert scar labels (MyoPS 2020).

For each rule, inside the expert myocardium ({200, 1220, 2221}) of every MyoPS training subject:
automatic lesion mass as % of LV myocardium vs the expert scar (2221): Pearson r, bias and 95 %
limits of agreement (automatic - expert, Bland-Altman), and the mean Dice of the masks.

    python bench/validate_quantify_myops.py [--data ../shared/data/myops2020] [--out table.tsv]

Prints a Markdown table (docs/quantify.md) and writes the per-subject values when --out is given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from cine2lge.quantify import aha
from cine2lge.quantify.remote import remote_reference
from cine2lge.quantify.thresholds import lesion_masks

MYOPS = {"myocardium": [200, 1220, 2221], "right_ventricle": [600], "hyperintense": [2221]}
# name -> (rule, scope of the maximum for max-based rules)
RULES = {
    "nsd2": ({"method": "nsd", "n_sd": 2}, None),
    "nsd3": ({"method": "nsd", "n_sd": 3}, None),
    "nsd5": ({"method": "nsd", "n_sd": 5}, None),
    "nsd6": ({"method": "nsd", "n_sd": 6}, None),
    "fwhm (max per subject)": ({"method": "fwhm"}, "subject"),
    "fwhm (max per slice)": ({"method": "fwhm"}, "slice"),
    "pmax40 (max per slice)": ({"method": "percent_max", "percent": 40}, "slice"),
    "pmax60 (max per slice)": ({"method": "percent_max", "percent": 60}, "slice"),
}
MIN_COMPONENT_MM2 = 10.0


def load_subject(label_path: Path):
    """LGE and labels as (slice, y, x) arrays and the (slice, y, x) spacing in mm."""
    labels_image = nib.load(label_path)
    lge_path = label_path.parent.parent / "images" / label_path.name.replace("_gd", "_DE")
    lge_xys = np.asarray(nib.load(lge_path).dataobj, dtype=np.float32)
    labels_xys = np.asarray(labels_image.dataobj).astype(np.int16)
    zooms = labels_image.header.get_zooms()
    spacing_mm = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    return lge_xys.transpose(2, 1, 0), labels_xys.transpose(2, 1, 0), spacing_mm


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def evaluate(data: Path, scopes=("slice", "subject")) -> pd.DataFrame:
    rows = []
    for label_path in tqdm(sorted((data / "labels").glob("*_gd.nii.gz")), desc="MyoPS"):
        lge, labels, spacing_mm = load_subject(label_path)
        myocardium = np.isin(labels, MYOPS["myocardium"])
        expert = labels == 2221
        model = aha.segment_model(myocardium, labels == 600)
        min_px = int(np.ceil(MIN_COMPONENT_MM2 / (spacing_mm[1] * spacing_mm[2])))
        expert_percent = 100.0 * expert.sum() / myocardium.sum()
        for scope in scopes:
            remote = remote_reference(lge, model.segments_syx, scope=scope)
            for name, (rule, max_scope) in RULES.items():
                if max_scope and scope == "subject":
                    continue  # the remote scope only matters through the detection threshold
                started = time.perf_counter()
                masks = lesion_masks(
                    lge,
                    myocardium,
                    remote,
                    rule,
                    None,
                    min_component_px=min_px,
                    max_scope=max_scope or "slice",
                )
                seconds = time.perf_counter() - started
                rows.append(
                    {
                        "subject": label_path.name[: -len("_gd.nii.gz")],
                        "scope": scope,
                        "rule": name,
                        "expert_percent": expert_percent,
                        "auto_percent": 100.0 * masks["total"].sum() / myocardium.sum(),
                        "dice": dice(masks["total"], expert),
                        "remote_in_scar_percent": 100.0
                        * (remote.mask_syx & expert).sum()
                        / max(remote.mask_syx.sum(), 1),
                        "seconds": seconds,
                    }
                )
    return pd.DataFrame(rows)


def agreement(per_subject: pd.DataFrame) -> pd.DataFrame:
    summary = []
    for (scope, rule), part in per_subject.groupby(["scope", "rule"], sort=False):
        difference = part["auto_percent"] - part["expert_percent"]
        r, p = stats.pearsonr(part["auto_percent"], part["expert_percent"])
        bias, sd = difference.mean(), difference.std(ddof=1)
        summary.append(
            {
                "remote": scope,
                "rule": rule,
                "n": len(part),
                "pearson_r": r,
                "p": p,
                "bias_pct_lv": bias,
                "loa_low": bias - 1.96 * sd,
                "loa_high": bias + 1.96 * sd,
                "dice_mean": part["dice"].mean(),
                "dice_median": part["dice"].median(),
            }
        )
    return pd.DataFrame(summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "myops2020"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    per_subject = evaluate(args.data)
    if args.out:
        per_subject.to_csv(args.out, sep="\t", index=False, float_format="%.4g")
    table = agreement(per_subject)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print(
        f"\nexpert scar {per_subject['expert_percent'].mean():.1f} % of LV on average;"
        f" rule time per subject median {per_subject['seconds'].median() * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
