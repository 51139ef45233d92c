"""Subject-wise cross-validation of the diffusion model on real paired data (MyoPS 2020).

Each subject is cropped by the preprocess library (cine = C0, LGE = DE, labels = gd; the three
are co-registered, so registration is off); with `t2`, the T2 image is paired and cropped like
the LGE (preprocess `t2_syx`) and appended as one more conditioning channel. Each fold trains on
the other folds' subjects (optionally starting from given weights, e.g. the shipped demo model)
and samples the held-out subjects; the held-out predictions are scored as the pipeline's report
scores them: slice-level enhancement AUC (positive = expert scar in the slice), lesion burden of
the LGE-like image against the real LGE's (same quantification rules, expert myocardium) and
against the expert scar, and SSIM/PSNR/MAE to the real LGE in the myocardium.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cine2lge.model.data import (
    PairedSlices,
    enhancement_labels,
    enhancement_mask,
    stack_condition,
)
from cine2lge.model.net import ModelSpec
from cine2lge.model.sample import ensemble
from cine2lge.model.train import Trainer, TrainSettings

log = logging.getLogger("cine2lge.model.crossval")
MIN_SCAR_PX = 10  # a slice is scar-positive with at least this many expert scar pixels


@dataclass
class SubjectPairs:
    """One subject's paired crops: conditioning (slice, channel, y, x), LGE and labels."""

    subject: str
    condition_scyx: np.ndarray
    lge_syx: np.ndarray
    labels_syx: np.ndarray
    spacing_mm: float


def myops_cases(root: str | Path, numbers: list[str] | None = None) -> list[dict[str, Path]]:
    """Image paths of the MyoPS 2020 training cases (C0, DE, T2, gd) under `root`."""
    root = Path(root)
    cases = []
    for labels in sorted((root / "labels").glob("myops_training_*_gd.nii.gz")):
        number = labels.name.split("_")[2]
        if numbers is not None and number not in numbers:
            continue
        images = {
            k: root / "images" / labels.name.replace("_gd", f"_{k}") for k in ("C0", "DE", "T2")
        }
        missing = [str(p) for p in images.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"MyoPS case {number}: missing {', '.join(missing)}")
        cases.append({"subject": f"myops{number}", "labels": labels, **images})
    if not cases:
        raise FileNotFoundError(f"MyoPS folder {root}: no labels/myops_training_*_gd.nii.gz")
    return cases


def load_myops_pairs(
    root: str | Path,
    preprocess_section: dict,
    myocardium_labels: list[int],
    cache_dir: str | Path,
    t2: bool = False,
    numbers: list[str] | None = None,
) -> list[SubjectPairs]:
    """Paired crops of every MyoPS case (only cine slices with an LGE partner), cached as npz
    named by a hash of the settings."""
    from cine2lge.preprocess.subject import Settings, preprocess_subject
    from cine2lge.segment.evaluate import myops_preprocess_section

    section = myops_preprocess_section(preprocess_section)
    settings = Settings.from_config(section)
    key = hashlib.sha256(json.dumps([section, t2], sort_keys=True).encode()).hexdigest()[:10]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    subjects = []
    for case in myops_cases(root, numbers):
        subject = case["subject"]
        cache = cache_dir / f"{subject}_{key}.npz"
        if not cache.is_file():
            run = preprocess_subject(
                subject,
                case["C0"],
                settings,
                case["DE"],
                case["labels"],
                myocardium_labels,
                t2_path=case["T2"] if t2 else None,
            )
            paired = run.arrays["paired"]
            extras = {"t2": run.arrays["t2_syx"]} if t2 else {}
            condition = stack_condition(run.arrays["cine_styx"], extras)
            np.savez(
                cache,
                condition_scyx=condition[paired],
                lge_syx=run.arrays["lge_syx"][paired],
                labels_syx=run.arrays["labels_syx"][paired],
                spacing_mm=run.geometry["spacing_mm"],
            )
        with np.load(cache) as arrays:
            subjects.append(
                SubjectPairs(
                    subject,
                    arrays["condition_scyx"],
                    arrays["lge_syx"],
                    arrays["labels_syx"],
                    float(arrays["spacing_mm"]),
                )
            )
    return subjects


def paired_slices(subjects: list[SubjectPairs], enhancement: list[int]) -> PairedSlices:
    """The training set of some subjects: all their slices, the enhancement target from labels."""
    labels = np.concatenate([s.labels_syx for s in subjects])
    manifest = pd.DataFrame({"subject": [s.subject for s in subjects for _ in s.lge_syx]})
    return PairedSlices(
        np.concatenate([s.condition_scyx for s in subjects]).astype(np.float32),
        np.concatenate([s.lge_syx for s in subjects]).astype(np.float32),
        enhancement_mask(labels, enhancement),
        manifest,
    )


@dataclass
class Sampling:
    n_samples: int = 4
    steps: int = 10
    seed: int = 0
    batch_size: int = 8
    min_area_px: int = 10


def cross_validate(
    subjects: list[SubjectPairs],
    n_folds: int,
    spec: ModelSpec,
    settings: TrainSettings,
    sampling: Sampling,
    scheme: dict,
    quantify_settings: dict,
    enhancement_classes: list[str],
    work_dir: str | Path,
    device: torch.device,
    init_weights: str | Path | None = None,
    folds: list[int] | None = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """{"slices": per-slice table, "burden": tidy lesion table} of all held-out predictions."""
    from cine2lge.segment.evaluate import subject_folds

    enhancement = enhancement_labels(scheme, enhancement_classes, "myops")
    by_name = {s.subject: s for s in subjects}
    slice_tables, burden_tables = [], []
    for k, held_out in enumerate(subject_folds(list(by_name), n_folds, seed)):
        if folds is not None and k not in folds:
            continue
        training = paired_slices(
            [s for name, s in by_name.items() if name not in held_out], enhancement
        )
        log.info(
            "fold %d: training on %d slices, %d held-out subjects", k, len(training), len(held_out)
        )
        trainer = Trainer(
            spec,
            settings,
            training,
            None,
            Path(work_dir) / f"fold{k}",
            device,
            init_weights=init_weights,
        )
        trainer.resume()
        trainer.run(progress=False)
        model = trainer.ema.module.eval()
        for name in held_out:
            slices, burden = evaluate_subject(
                model, spec, by_name[name], sampling, scheme, quantify_settings, enhancement, device
            )
            slice_tables.append(slices.assign(fold=k))
            burden_tables.append(burden.assign(fold=k))
    return {
        "slices": pd.concat(slice_tables, ignore_index=True),
        "burden": pd.concat(burden_tables, ignore_index=True),
    }


def evaluate_subject(
    model,
    spec: ModelSpec,
    subject: SubjectPairs,
    sampling: Sampling,
    scheme: dict,
    quantify_settings: dict,
    enhancement: list[int],
    device: torch.device,
    predictions: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample one held-out subject and score it: per-slice table and tidy burden table.
    `predictions`: a dict that receives the subject's ensemble (pixel-level analyses)."""
    from cine2lge.quantify.subject import quantify_arrays
    from cine2lge.stats.similarity import subject_similarity

    prediction = ensemble(
        model,
        spec,
        subject.condition_scyx,
        n_samples=sampling.n_samples,
        steps=sampling.steps,
        seed=sampling.seed,
        batch_size=sampling.batch_size,
        min_area_px=sampling.min_area_px,
        device=device,
        progress=False,
    )
    if predictions is not None:
        predictions[subject.subject] = prediction
    myocardium = np.isin(subject.labels_syx, scheme["myocardium"])
    scar_px = enhancement_mask(subject.labels_syx, enhancement).sum(axis=(1, 2))
    slices = subject_similarity(
        subject.subject, subject.lge_syx, prediction.lgelike_syx, myocardium
    )
    slices["scar_px"] = scar_px
    slices["scar_positive"] = scar_px >= MIN_SCAR_PX
    slices["probability"] = prediction.slice_probability_s
    spacing = (subject.spacing_mm, subject.spacing_mm, subject.spacing_mm)  # % LV is unitless
    burden, _ = quantify_arrays(
        subject.subject,
        spacing,
        scheme,
        quantify_settings,
        labels_syx=subject.labels_syx,
        lge_syx=subject.lge_syx,
        lgelike_syx=prediction.lgelike_syx,
        probability_syx=prediction.enhancement_prob_syx,
    )
    return slices, burden


def summarise(slices: pd.DataFrame, burden: pd.DataFrame) -> pd.DataFrame:
    """One row per metric: slice AUC (DeLong CI), burden Pearson r per (test, reference, level,
    class), mean SSIM/PSNR/MAE in the myocardium."""
    from cine2lge.stats.agreement import bland_altman, paired_burden, pearson
    from cine2lge.stats.roc import delong

    rows = []
    auc = delong(slices["scar_positive"], slices["probability"])
    rows.append(
        {
            "metric": "slice_auc",
            "comparison": "probability vs expert scar",
            "level": "slice",
            "class": "scar",
            "n": auc["n_pos"] + auc["n_neg"],
            "value": auc["auc"],
            "ci_low": auc["ci_low"],
            "ci_high": auc["ci_high"],
            "note": auc["note"],
        }
    )
    for test, reference in (
        ("lgelike", "lge"),
        ("lgelike", "truth"),
        ("lge", "truth"),
        ("probability", "truth"),
    ):
        for level in ("subject", "slice"):
            pairs = paired_burden(burden, "percent_lv", level, reference=reference, test=test)
            for lesion_class, part in pairs.groupby("class"):
                r = pearson(part["reference"], part["test"])
                ba = bland_altman(part["reference"], part["test"])
                rows.append(
                    {
                        "metric": "burden_r",
                        "comparison": f"{test} vs {reference}",
                        "level": level,
                        "class": lesion_class,
                        "n": r["n"],
                        "value": r["r"],
                        "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"],
                        "note": f"bias {ba['bias']:.2f} %LV; {r['note']}".strip("; "),
                    }
                )
    for metric in ("ssim_myo", "psnr_myo", "mae_myo"):
        values = slices[metric].replace([np.inf, -np.inf], np.nan).dropna()
        rows.append(
            {
                "metric": metric,
                "comparison": "lgelike vs lge",
                "level": "slice",
                "class": "",
                "n": len(values),
                "value": values.mean(),
                "ci_low": np.nan,
                "ci_high": np.nan,
                "note": f"SD {values.std():.3f}",
            }
        )
    return pd.DataFrame(rows)
