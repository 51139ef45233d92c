"""Image similarity of LGE-like to real LGE: SSIM, PSNR, MAE in the crop and in the myocardium.

Both images are percentile-normalised to [0, 1] by preprocessing, so `data_range` is 1 by default.
SSIM in the myocardium is the mean of skimage's SSIM map over the mask (the map uses the whole
image around each pixel); PSNR and MAE use only the pixels inside the region.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

NAN = float("nan")


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images, NaN for no pixels)."""
    if reference.size == 0:
        return NAN
    mse = float(np.mean((np.asarray(test, float) - np.asarray(reference, float)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def slice_similarity(
    reference_yx: np.ndarray,
    test_yx: np.ndarray,
    mask_yx: np.ndarray | None = None,
    data_range: float = 1.0,
) -> dict:
    """SSIM, PSNR, MAE of one slice in the whole crop and (if `mask_yx` given) in the mask."""
    ref = np.asarray(reference_yx, dtype=float)
    tst = np.asarray(test_yx, dtype=float)
    if ref.shape != tst.shape or ref.ndim != 2:
        raise ValueError(f"slices need equal 2-D shapes, got {ref.shape} and {tst.shape}")
    ssim_crop, ssim_map = structural_similarity(ref, tst, data_range=data_range, full=True)
    out = {
        "ssim_crop": float(ssim_crop),
        "psnr_crop": psnr(ref, tst, data_range),
        "mae_crop": float(np.mean(np.abs(tst - ref))),
        "ssim_myo": NAN,
        "psnr_myo": NAN,
        "mae_myo": NAN,
        "myo_pixels": 0,
    }
    if mask_yx is not None:
        mask = np.asarray(mask_yx, dtype=bool)
        if mask.shape != ref.shape:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {ref.shape}")
        if mask.any():
            out.update(
                ssim_myo=float(ssim_map[mask].mean()),
                psnr_myo=psnr(ref[mask], tst[mask], data_range),
                mae_myo=float(np.mean(np.abs(tst[mask] - ref[mask]))),
                myo_pixels=int(mask.sum()),
            )
    return out


def subject_similarity(
    subject: str,
    lge_syx: np.ndarray,
    lgelike_syx: np.ndarray,
    myocardium_syx: np.ndarray | None = None,
    data_range: float = 1.0,
    paired_s: np.ndarray | None = None,
):
    """Per-slice similarity table of one subject (columns subject, slice, metrics); `paired_s`
    marks the slices that have a real LGE partner (others are skipped; default all)."""
    import pandas as pd

    if lge_syx.shape != lgelike_syx.shape:
        raise ValueError(
            f"{subject}: real LGE {lge_syx.shape} and LGE-like {lgelike_syx.shape} differ in shape"
        )
    paired_s = np.ones(lge_syx.shape[0], bool) if paired_s is None else np.asarray(paired_s, bool)
    rows = []
    for s in np.flatnonzero(paired_s):
        mask = None if myocardium_syx is None else myocardium_syx[s]
        rows.append(
            {
                "subject": subject,
                "slice": int(s),
                **slice_similarity(lge_syx[s], lgelike_syx[s], mask, data_range),
            }
        )
    return pd.DataFrame(rows)


def similarity_npz(subject, paired_npz, prediction_npz, myocardium_labels, data_range=1.0):
    """Similarity of a subject from the preprocess and model outputs (paired.npz,
    prediction.npz); the myocardium is the union of `myocardium_labels` in `labels_syx`."""
    with np.load(paired_npz) as paired, np.load(prediction_npz) as prediction:
        if "lge_syx" not in paired:
            raise ValueError(f"{subject}: {paired_npz} has no lge_syx (subject without LGE)")
        if "lgelike_syx" not in prediction:
            raise ValueError(f"{subject}: {prediction_npz} has no lgelike_syx")
        lge, lgelike = paired["lge_syx"], prediction["lgelike_syx"]
        myo = np.isin(paired["labels_syx"], myocardium_labels) if "labels_syx" in paired else None
        # preprocess zeroes the LGE of cine slices without an LGE partner and flags them
        paired_s = paired["paired"] if "paired" in paired else None
    return subject_similarity(subject, lge, lgelike, myo, data_range, paired_s)


def summarise_similarity(per_slice, split_of: dict):
    """Mean, SD and median of every metric per split, over slices and over subject means
    (the subject mean counts each subject once, whatever its slice count)."""
    import pandas as pd

    metrics = [c for c in per_slice.columns if c.split("_")[0] in ("ssim", "psnr", "mae")]
    table = per_slice.assign(split=per_slice["subject"].map(split_of))
    # PSNR of identical images is inf; keep it out of means rather than poison them
    table[metrics] = table[metrics].replace([np.inf, -np.inf], np.nan)
    rows = []
    for level, data in (
        ("slice", table),
        ("subject", table.groupby(["split", "subject"], as_index=False)[metrics].mean()),
    ):
        for split, part in data.groupby("split"):
            for metric in metrics:
                values = part[metric].dropna()
                rows.append(
                    {
                        "split": split,
                        "level": level,
                        "metric": metric,
                        "n": len(values),
                        "mean": values.mean(),
                        "sd": values.std(ddof=1) if len(values) > 1 else NAN,
                        "median": values.median(),
                    }
                )
    return pd.DataFrame(rows, columns=["split", "level", "metric", "n", "mean", "sd", "median"])
