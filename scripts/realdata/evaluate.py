"""Score the held-out predictions of scripts/realdata/train.py (subject-wise cross-validation).

    python scripts/realdata/evaluate.py segment --runs OUT [--data .gpu/data]
    python scripts/realdata/evaluate.py scar --runs OUT
    python scripts/realdata/evaluate.py native --runs OUT [--shared ../shared/data]
    python scripts/realdata/evaluate.py model --runs OUT [--cinescar OUT2]

segment: myocardium Dice / HD95 per held-out subject: raw argmax; post-processed (the
pipeline's `segment.postprocess`, a dropped slice scored as empty); usable (the slices the
pipeline quantifies, those passing slice QC); share of slices with a closed ring, subjects left
without a usable slice; per data set and pooled (mean with a subject-bootstrap 95 % CI).
scar: learned LGE quantifier, scar % of the myocardium per subject against the expert's, per data
set: Pearson r, ICC(3,1), bias and 95 % limits of agreement, MAE, normal studies <= 1 %.
native: as a user runs it, `cine2lge quantify-lge` (cine2lge.quantify.nifti.quantify_lge, the
config's keys) on the native-resolution EMIDEC / MyoPS LGE with the expert myocardium: the
learned quantifier with each subject's held-out fold weights (the folds' final EMA checkpoints),
and the config's rules; per subject and the agreement table. Writes OUT/scar/native*.tsv.
model: the generator's enhancement probability (pixel AUROC inside the expert myocardium, pooled
and per subject; slice AUC), LGE-like burden r against real LGE and expert scar (subject
level), myocardial SSIM; beside (a) a cine -> scar UNet (`--cinescar`) and (b) wall thinning.
Tables are printed as Markdown and written under OUT/<task>/evaluation*.tsv.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from cine2lge.segment.evaluate import evaluate_subject
from cine2lge.segment.postprocess import PostprocessSettings, clean_stack
from cine2lge.segment.realdata import dataset_of
from cine2lge.stats.agreement import bland_altman, cluster_bootstrap, icc, pearson
from cine2lge.stats.roc import clustered_auc_ci

RNG_SEED = 2026


def bootstrap_mean(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % CI over subjects (one value per subject, so resampling the values is the
    subject-clustered bootstrap of cine2lge.stats)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float(np.mean(values)) if len(values) else np.nan, np.nan, np.nan
    ci = cluster_bootstrap(np.arange(len(values)), lambda rows: values[rows].mean(), seed=RNG_SEED)
    return float(values.mean()), ci["ci_low"], ci["ci_high"]


def fmt(mean: float, low: float, high: float, digits: int = 3) -> str:
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def load_preds(folder: Path) -> dict[str, np.ndarray]:
    parts = [dict(np.load(p)) for p in sorted(folder.glob("fold[0-9]_pred.npz"))]
    if not parts:
        raise FileNotFoundError(f"no fold*_pred.npz in {folder}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def segment(args, config) -> None:
    preds = load_preds(args.runs / "segment")
    with np.load(args.data / "segment_real.npz") as npz:
        spacing = json.loads(str(npz["spacing_json"]))
    settings = PostprocessSettings(**config["segment"]["postprocess"])
    rows, qc_rows = [], []
    subjects, stacks = preds["subjects"], preds["rows"] // 100  # ACDC: ED rows, ES rows + 100
    for subject in dict.fromkeys(subjects.tolist()):
        raw_parts, clean_parts, ref_parts, usable_parts = [], [], [], []
        for stack in np.unique(stacks[subjects == subject]):
            keep = (subjects == subject) & (stacks == stack)
            raw = preds["predicted"][keep]
            cleaned, qc = clean_stack(raw, settings)
            raw_parts.append(raw)
            clean_parts.append(cleaned)
            ref_parts.append(preds["classes"][keep])
            usable_parts.append(qc["usable"].to_numpy(bool))
            qc_rows.append(
                {
                    "subject": subject,
                    "stack": int(stack),
                    "slices": len(qc),
                    "closed": int(qc["ring_closed"].sum()),
                    "usable": int(qc["usable"].sum()),
                    "flag": qc["flag"].iloc[0],
                }
            )
        sp = (spacing[subject],) * 2
        usable, reference = np.concatenate(usable_parts), np.concatenate(ref_parts)
        # "usable": the slices the pipeline quantifies (slice QC passed); dropped slices are
        # counted in the closed-ring / usable columns instead of as empty predictions.
        for stage, predicted, ref in (
            ("raw", np.concatenate(raw_parts), reference),
            ("postprocessed", np.concatenate(clean_parts), reference),
            ("usable", np.concatenate(clean_parts)[usable], reference[usable]),
        ):
            table = evaluate_subject(subject, predicted, ref, sp)
            rows.append(table.assign(stage=stage, dataset=dataset_of(subject)))
    table = pd.concat(rows, ignore_index=True)
    qc = pd.DataFrame(qc_rows).assign(dataset=lambda d: d["subject"].map(dataset_of))
    out = args.runs / "segment"
    table.to_csv(out / "evaluation.tsv", sep="\t", index=False, float_format="%.4f")
    qc.to_csv(out / "evaluation_qc.tsv", sep="\t", index=False)
    myo = table[(table["class"] == "myocardium")]
    print(
        "| data set | subjects | stage | myocardium Dice | min | HD95 mm | closed rings | "
        "subjects without usable slice |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dataset in [*sorted(myo["dataset"].unique()), "pooled"]:
        part = myo if dataset == "pooled" else myo[myo["dataset"] == dataset]
        q = qc if dataset == "pooled" else qc[qc["dataset"] == dataset]
        per_subject_usable = q.groupby("subject")["usable"].sum()
        for stage, s in part.groupby("stage", sort=False):
            print(
                f"| {dataset} | {s['subject'].nunique()} | {stage} |"
                f" {fmt(*bootstrap_mean(s['dice']))} | {s['dice'].min():.3f} |"
                f" {fmt(*bootstrap_mean(s['hd95_mm']), digits=1)} |"
                f" {q['closed'].sum()}/{q['slices'].sum()} |"
                f" {(per_subject_usable == 0).sum()} |"
            )


def agreement_row(name: str, test: np.ndarray, reference: np.ndarray, normal=None) -> dict:
    """Subject-level agreement with cine2lge.stats: Pearson r, ICC(3,1), Bland-Altman, MAE."""
    ba = bland_altman(reference, test)
    row = {
        "method": name,
        "n": len(test),
        "r": pearson(test, reference)["r"],
        "icc": icc(np.column_stack([test, reference]))["icc3_1"],
        "bias": ba["bias"],
        "loa_low": ba["loa_low"],
        "loa_high": ba["loa_high"],
        "mae": np.abs(test - reference).mean(),
    }
    if normal is not None and normal.any():
        row["normals_le_1pct"] = f"{(test[normal] <= 1.0).sum()}/{normal.sum()}"
    return row


def scar(args, config) -> None:
    preds = load_preds(args.runs / "scar")
    with np.load(args.data / "lge.npz") as npz:
        labels, subjects = npz["labels"], npz["subjects"]
    rows = []
    for subject in dict.fromkeys(preds["subjects"].tolist()):
        keep = preds["subjects"] == subject
        index = preds["rows"][keep]
        assert (subjects[index] == subject).all()
        myo = labels[index] >= 1
        rows.append(
            {
                "subject": subject,
                "dataset": "emidec" if subject.startswith("emidec") else "myops",
                "normal": subject.startswith("emidecN"),
                "expert": 100 * (labels[index] == 2).sum() / myo.sum(),
                "learned": 100 * ((preds["probability"][keep] >= 0.5) & myo).sum() / myo.sum(),
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(args.runs / "scar" / "evaluation.tsv", sep="\t", index=False, float_format="%.3f")
    summary = pd.DataFrame(
        [
            agreement_row(
                f"learned ({d})",
                part["learned"].to_numpy(),
                part["expert"].to_numpy(),
                part["normal"].to_numpy(),
            )
            | {"dataset": d}
            for d, part in table.groupby("dataset")
        ]
    )
    summary.to_csv(args.runs / "scar" / "evaluation_summary.tsv", sep="\t", index=False)
    print(summary.to_markdown(index=False, floatfmt=".3f"))


def fold_weights(run: Path, fold: str) -> Path:
    """The final EMA checkpoint of a train.py fold as a weights file (+ .sha256) beside it."""
    from cine2lge.model import checkpoint as ckpt

    target = run / f"fold{fold}.safetensors"
    if not target.is_file():
        latest = ckpt.latest_checkpoint(run / f"fold{fold}" / "checkpoints")
        state, metadata = ckpt.load_weights(latest / "ema.safetensors")
        module = {k.removeprefix("module."): v for k, v in state.items() if k != "n_averaged"}
        ckpt.save_weights(target, module, metadata)
        ckpt.write_sha256(target)
    return target


def native(args, config) -> None:
    import tempfile
    import time

    from prepare import lge_cases

    from cine2lge.quantify.nifti import quantify_lge

    run = args.runs / "scar"
    fold_of = {}
    for record in sorted(run.glob("fold[0-9].json")):
        info = json.loads(record.read_text())
        fold_of.update(dict.fromkeys(info["held_out"], str(info["fold"])))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for subject, lge, labels, scheme in lge_cases(args.shared):
            if subject not in fold_of:
                continue
            weights = fold_weights(run, fold_of[subject])
            row = {"subject": subject, "dataset": scheme, "normal": subject.startswith("emidecN")}
            for method in ("learned", "rules"):
                settings = dict(config["quantify"], method=method)
                settings["learned"] = dict(settings["learned"], weights=str(weights))
                start = time.perf_counter()
                table = quantify_lge(
                    lge,
                    labels,
                    scheme,
                    Path(tmp) / "lesions.tsv",
                    config | {"quantify": settings},
                    subject,
                )
                row[f"{method}_s"] = time.perf_counter() - start
                whole = table[(table["region"] == "subject") & (table["class"] == "total")]
                burden = whole.set_index("source")["percent_lv"]
                row["expert"], row[method] = burden["truth"], burden["lge"]
            rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(run / "native.tsv", sep="\t", index=False, float_format="%.3f")
    summary = pd.DataFrame(
        [
            agreement_row(
                f"{method} ({d})",
                part[method].to_numpy(),
                part["expert"].to_numpy(),
                part["normal"].to_numpy(),
            )
            | {"dataset": d, "s_per_subject": part[f"{method}_s"].mean()}
            for method in ("learned", "rules")
            for d, part in table.groupby("dataset")
        ]
    )
    summary.to_csv(run / "native_summary.tsv", sep="\t", index=False)
    print(summary.to_markdown(index=False, floatfmt=".3f"))


def wall_thinning(myo_yx: np.ndarray, n_sectors: int = 24) -> np.ndarray:
    """No-learning cine cue: per pixel of the myocardium, how much thinner its angular sector's
    wall is than the slice's median sector (0 = median or thicker, 1 = no wall)."""
    score = np.zeros(myo_yx.shape, np.float32)
    if myo_yx.sum() < 10:
        return score
    cy, cx = ndimage.center_of_mass(ndimage.binary_fill_holes(myo_yx))
    yy, xx = np.indices(myo_yx.shape)
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * n_sectors).astype(int)
    sector = np.clip(sector, 0, n_sectors - 1)
    area = np.bincount(sector[myo_yx], minlength=n_sectors).astype(float)
    median = np.median(area[area > 0]) if (area > 0).any() else 1.0
    thinning = np.clip(1.0 - area / median, 0.0, 1.0)
    score[myo_yx] = thinning[sector[myo_yx]]
    return score


def model(args, config) -> None:
    runs = args.runs / "model"
    with np.load(args.data / "myops_pairs.npz") as npz:
        labels, names = npz["labels"], [str(s) for s in npz["subjects"]]
    names = np.array(names)
    preds = {}
    for path in sorted(runs.glob("fold[0-9]_pred.npz")):
        with np.load(path) as npz:
            preds |= {k: npz[k].astype(np.float32) for k in npz}
    cine_baseline = None
    if args.cinescar:
        cine_baseline = load_preds(args.cinescar / "cinescar")
    sources = ["diffusion", "thinning"] + (["cine_unet"] if cine_baseline is not None else [])
    pixel_rows, slice_rows = [], []
    for subject in sorted({k.rsplit("_", 1)[0] for k in preds}):
        keep = names == subject
        lab = labels[keep]
        myo = np.isin(lab, [200, 1220, 2221])
        scar = lab == 2221
        maps = {
            "diffusion": preds[f"{subject}_probability"],
            "thinning": np.stack([wall_thinning(m) for m in myo]),
        }
        if cine_baseline is not None:
            index = np.flatnonzero(keep)
            row_of = {r: i for i, r in enumerate(cine_baseline["rows"])}
            maps["cine_unet"] = np.stack(
                [cine_baseline["probability"][row_of[r]] for r in index]
            ).astype(np.float32)
        for source in sources:
            score = maps[source]
            y, s = scar[myo], score[myo]
            pixel_rows.append(
                {
                    "subject": subject,
                    "source": source,
                    "scar_pct": 100 * y.mean(),
                    "auroc": roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan,
                    "burden_pct": 100 * (s >= 0.5).mean(),
                    "y": y,
                    "s": s,
                }
            )
            for k in range(len(lab)):
                slice_rows.append(
                    {
                        "subject": subject,
                        "source": source,
                        "positive": scar[k].sum() >= 10,
                        "score": float(score[k][myo[k]].max()) if myo[k].any() else 0.0,
                    }
                )
    pixels = pd.DataFrame(pixel_rows)
    slices = pd.DataFrame(slice_rows)
    burden = pd.concat(
        [pd.read_csv(p, sep="\t") for p in sorted(runs.glob("fold[0-9]_lesions.tsv"))]
    )
    subject_level = burden[(burden["region"] == "subject") & (burden["class"] == "hyperintense")]
    wide = subject_level.pivot_table(index="subject", columns="source", values="percent_lv")
    sim = pd.concat([pd.read_csv(p, sep="\t") for p in sorted(runs.glob("fold[0-9]_slices.tsv"))])
    lines = [
        "| cue | pixel AUROC pooled [CI] | pixel AUROC per subject (mean [CI]) | slice AUC [CI] |"
        " subject burden r vs expert scar [CI] |",
        # pooled pixel and slice AUC: subject-clustered CIs (a subject's pixels and slices are
        # left out together, cine2lge.stats.roc.clustered_auc_ci); r: Fisher z over subjects
        "|---|---|---|---|---|",
    ]
    for source in sources:
        part = pixels[pixels["source"] == source]
        pixel_subjects = np.repeat(part["subject"].to_numpy(), [len(y) for y in part["y"]])
        pooled = clustered_auc_ci(
            np.concatenate(part["y"].tolist()), np.concatenate(part["s"].tolist()), pixel_subjects
        )
        sl = slices[slices["source"] == source]
        slice_auc = clustered_auc_ci(sl["positive"], sl["score"], sl["subject"])
        r = pearson(part["burden_pct"], part["scar_pct"])
        lines.append(
            f"| {source} | {fmt(pooled['estimate'], pooled['ci_low'], pooled['ci_high'])} |"
            f" {fmt(*bootstrap_mean(part['auroc']))} |"
            f" {fmt(slice_auc['estimate'], slice_auc['ci_low'], slice_auc['ci_high'])} |"
            f" {fmt(r['r'], r['ci_low'], r['ci_high'])} |"
        )
    print("\n".join(lines))
    if {"lgelike", "lge", "truth"} <= set(wide.columns):
        for a, b in (("lgelike", "lge"), ("lgelike", "truth"), ("lge", "truth")):
            r = pearson(wide[a], wide[b])["r"]
            print(f"subject hyperintense %LV r, {a} vs {b}: {r:.3f} (n {len(wide)})")
    ssim = sim.groupby("subject")["ssim_myo"].mean()
    print(f"myocardial SSIM (subject means): {fmt(*bootstrap_mean(ssim.to_numpy()))}")
    pixels.drop(columns=["y", "s"]).to_csv(runs / "evaluation_pixels.tsv", sep="\t", index=False)
    (runs / "evaluation.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["segment", "scar", "native", "model"])
    parser.add_argument("--runs", type=Path, required=True, help="--out of train.py")
    parser.add_argument("--data", type=Path, default=Path(".gpu/data"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--cinescar", type=Path, help="model: --out of the cinescar folds")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="native: data")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    {"segment": segment, "scar": scar, "native": native, "model": model}[args.task](args, config)


if __name__ == "__main__":
    main()
