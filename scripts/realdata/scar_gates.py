"""Can post-processing keep the learned LGE quantifier's normal hearts clean? (a command)

    python scripts/realdata/scar_gates.py --runs OUT [--data .gpu/data]

On the held-out scar probabilities of `train.py scar` (5 folds), per subject scar % of the
expert myocardium against the expert's, for: the probability threshold; a minimum component
size; and an intensity-contrast gate per component (its median LGE intensity must lie `c`
robust SDs above the subject's remote myocardium, p < 0.2). Prints r, bias, MAE per data set
and the EMIDEC normal studies <= 1 %. Every setting is shown (none is picked on these figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from evaluate import load_preds
from scipy import ndimage


def burden(probability, myocardium, image, threshold, min_px, contrast) -> float:
    """Scar % of the myocardium after the threshold, component size and contrast gates."""
    scar = (probability >= threshold) & myocardium
    remote = image[myocardium & (probability < 0.2)]
    centre = np.median(remote)
    spread = 1.4826 * np.median(np.abs(remote - centre))
    kept = 0
    for k in range(len(scar)):
        labels, n = ndimage.label(scar[k])
        for j in range(1, n + 1):
            component = labels == j
            if component.sum() < min_px:
                continue
            if (np.median(image[k][component]) - centre) / spread >= contrast:
                kept += component.sum()
    return 100 * kept / myocardium.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(".gpu/data"))
    args = parser.parse_args()
    preds = load_preds(args.runs / "scar")
    with np.load(args.data / "lge.npz") as npz:
        labels, images = npz["labels"], npz["images"].astype(np.float32)
    settings = [(t, 1, -np.inf) for t in (0.5, 0.6, 0.7, 0.8)]
    settings += [(0.5, m, -np.inf) for m in (4, 8, 16)]
    settings += [(0.5, 1, c) for c in (1.0, 1.5, 2.0, 2.5, 3.0)]
    rows = []
    for subject in dict.fromkeys(preds["subjects"].tolist()):
        keep = preds["subjects"] == subject
        index = preds["rows"][keep]
        myo, image = labels[index] >= 1, images[index]
        probability = preds["probability"][keep].astype(np.float32)
        expert = 100 * (labels[index] == 2).sum() / myo.sum()
        for t, m, c in settings:
            rows.append(
                {
                    "dataset": "emidec" if subject.startswith("emidec") else "myops",
                    "normal": subject.startswith("emidecN"),
                    "setting": f"p >= {t}, >= {m} px, contrast >= {c} SD",
                    "expert": expert,
                    "learned": burden(probability, myo, image, t, m, c),
                }
            )
    table = pd.DataFrame(rows)
    out = []
    for (setting, dataset), part in table.groupby(["setting", "dataset"], sort=False):
        error = part["learned"] - part["expert"]
        normals = part[part["normal"]]
        out.append(
            {
                "setting": setting,
                "data": dataset,
                "r": np.corrcoef(part["learned"], part["expert"])[0, 1],
                "bias": error.mean(),
                "MAE": error.abs().mean(),
                "normals <= 1 %": f"{(normals['learned'] <= 1).sum()}/{len(normals)}"
                if len(normals)
                else "-",
            }
        )
    print(pd.DataFrame(out).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
