"""Train and cross-validate the real-data networks from the caches of prepare.py (a command).

    python scripts/realdata/train.py segment --fold 0 --folds 5 --budget 300 --out OUT
    python scripts/realdata/train.py segment --fold final --budget 300 --out OUT
    python scripts/realdata/train.py scar --fold 0 ...        # learned LGE quantifier
    python scripts/realdata/train.py cinescar --fold 0 ...    # cine -> scar UNet (baseline a)
    python scripts/realdata/train.py model --fold 0 ...       # the diffusion generator

Folds are subject-wise (`cine2lge.segment.evaluate.subject_folds`, seed 0) over the real
subjects of each cache; demo subjects (segment) always train and are never scored. `--fold
final` trains on every subject and exports the weights. `--budget` (seconds) sets the step
count from the measured speed of the first steps, so a run fits a lease on a GPU or a CPU
night; `--steps` fixes it instead. Each fold writes its held-out predictions (npz) and tables
under OUT/<task>/; the analysis is scripts/realdata/evaluate.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.runtime import pick_device
from cine2lge.quantify.learned import REFERENCES
from cine2lge.segment.evaluate import subject_folds
from cine2lge.segment.train import LabelledSlices, SegmentTrainSettings

log = logging.getLogger("realdata.train")


def load_slices(path: Path) -> tuple[LabelledSlices, dict[str, float]]:
    with np.load(path) as npz:
        data = LabelledSlices(
            npz["images"].astype(np.float32),
            npz["classes"],
            [str(s) for s in npz["subjects"]],
            npz["rows"].tolist(),
        )
        return data, json.loads(str(npz["spacing_json"]))


def split(subjects: list[str], fold: str, n_folds: int) -> tuple[set[str], list[str]]:
    """(training subjects, held-out subjects) of a fold ('final': all train, none held out)."""
    unique = list(dict.fromkeys(subjects))
    if fold == "final":
        return set(unique), []
    held_out = subject_folds(unique, n_folds, 0)[int(fold)]
    return set(unique) - set(held_out), held_out


def oversample(data: LabelledSlices, factors: list[str] | None) -> LabelledSlices:
    """Repeat the slices of subjects whose id starts with a prefix (e.g. ["myops=3"]: the data
    set closest to the intended use weighs more than the large ACDC set; ["emidecN=3"]: the
    normal EMIDEC studies, so the scar quantifier sees more hearts without scar)."""
    if not factors:
        return data
    repeat = {name: int(n) for name, n in (f.split("=") for f in factors)}
    counts = np.array(
        [next((n for name, n in repeat.items() if s.startswith(name)), 1) for s in data.subjects]
    )
    return data.take(np.repeat(np.arange(len(data)), counts))


def budget_steps(make, budget_s: float, probe_steps: int = 30) -> int:
    """Steps that fit `budget_s`: time `probe_steps` steps (after a short warm-up) of a
    throw-away trainer made by make(steps, folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        make(5, Path(tmp) / "warm").run(progress=False)
        start = time.perf_counter()
        make(probe_steps, Path(tmp) / "probe").run(progress=False)
        per_step = (time.perf_counter() - start) / probe_steps
    steps = max(probe_steps, int(budget_s / per_step))
    log.info("%.3f s per step -> %d steps in %.0f s", per_step, steps, budget_s)
    return steps


def segment_settings(config: dict, steps: int) -> SegmentTrainSettings:
    section = config["segment"]["train"]
    known = {f.name for f in fields(SegmentTrainSettings)}
    settings = SegmentTrainSettings(**{k: v for k, v in section.items() if k in known})
    return replace(settings, steps=steps, checkpoint_every=max(steps // 4, 1), val_every=10**9)


def train_fold(args, make, out: Path, inputs: dict, device) -> tuple[object, dict]:
    """Train one fold (or the final weights) with `make(steps, folder)`, budgeted unless
    --steps; export the final weights. Returns the trainer and the fold record."""
    steps = args.steps or budget_steps(make, args.budget)
    start = time.perf_counter()
    trainer = make(steps, out / f"fold{args.fold}" / "checkpoints")
    trainer.inputs = inputs
    trainer.run(progress=False)
    info = {"fold": args.fold, "steps": steps, "wall_s": time.perf_counter() - start}
    info["device"] = str(device)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    if args.fold == "final":
        trainer.export(out / "final.safetensors", out / "final_metrics.tsv")
    return trainer, info


def write_fold_record(args, out: Path, info: dict, held_out: list[str]) -> None:
    (out / f"fold{args.fold}.json").write_text(json.dumps(info | {"held_out": held_out}))
    log.info("%s fold %s: %d steps in %.0f s", args.task, args.fold, info["steps"], info["wall_s"])


def run_segmenter_like(
    args, config, data, held_out_predict, trainer_class, spec, out: Path, inputs: dict
):
    """Train `trainer_class` on data (budgeted), export final weights or predict the held-out."""
    device = pick_device()
    train_subjects, held_out = split(
        [s for s in data.subjects if not s.startswith("demo")], args.fold, args.folds
    )
    train_subjects |= {s for s in data.subjects if s.startswith("demo")}
    training = oversample(data.subset(train_subjects), args.oversample)
    settings = segment_settings(config, args.steps or 1)
    if args.batch_size:
        settings = replace(settings, batch_size=args.batch_size)
    if args.learning_rate:
        settings = replace(settings, learning_rate=args.learning_rate)
    if args.dice_batch:
        settings = replace(settings, dice_batch=True)
    if args.augment_translate is not None:
        settings.augment = dict(settings.augment) | {"translate_px": args.augment_translate}

    extra = {"init_weights": args.init_weights} if args.init_weights else {}

    def make(steps, folder):
        return trainer_class(
            spec, replace(settings, steps=steps), training, None, folder, device, **extra
        )

    trainer, info = train_fold(args, make, out, inputs, device)
    if held_out:
        held_out_predict(trainer.ema.module.eval(), data.subset(set(held_out)), device, out)
    write_fold_record(args, out, info, held_out)


def save_segment_predictions(path: Path, probability: np.ndarray, test: LabelledSlices) -> None:
    """Held-out segmentation of a fold (argmax classes beside the reference), for evaluate.py."""
    np.savez_compressed(
        path,
        predicted=probability.argmax(1).astype(np.uint8),
        classes=test.classes_nyx,
        subjects=np.array(test.subjects),
        rows=np.array(test.rows),
    )


def segment(args, config) -> None:
    from cine2lge.segment.net import SegmentSpec
    from cine2lge.segment.train import SegmentTrainer, predict_probabilities

    real, _ = load_slices(args.data / "segment_real.npz")
    parts = [real]
    if (args.data / "segment_demo.npz").is_file() and not args.no_demo:
        parts.append(load_slices(args.data / "segment_demo.npz")[0])
    data = LabelledSlices.concatenate(parts)
    spec = SegmentSpec.from_config(config["segment"]["net"], config["preprocess"]["grid_size"])

    def predict(model, test, device, out):
        probability = predict_probabilities(model, test.images_nyx, device)
        save_segment_predictions(out / f"fold{args.fold}_pred.npz", probability, test)

    inputs = ckpt.input_record(
        config["preprocess"], training_data="MyoPS C0, ACDC, CineMyoPS, demo"
    )
    run_segmenter_like(
        args, config, data, predict, SegmentTrainer, spec, args.out / "segment", inputs
    )


def save_scar_predictions(path: Path, probability: np.ndarray, test: LabelledSlices) -> None:
    """Held-out scar probabilities of one fold, as `evaluate.py scar` reads them."""
    np.savez_compressed(
        path,
        probability=probability.astype(np.float16),
        scar=test.classes_nyx,
        subjects=np.array(test.subjects),
        rows=np.array(test.rows),
    )


def lge_slices(args, use_mask: bool, image_key: str = "lge") -> LabelledSlices:
    """LGE quantifier rows (image + myocardium -> scar) of lge.npz, or the cine baseline's
    rows (cine frame -> scar) of myops_pairs.npz."""
    from cine2lge.quantify.learned import stack_inputs

    if image_key == "lge":
        sets = [args.data / "lge.npz"]
        # + the demo's train/val phantoms: always trained on, never held out (split())
        if (args.data / "lge_demo.npz").is_file() and not args.no_demo:
            sets.append(args.data / "lge_demo.npz")
        images, labels, subjects = [], [], []
        for path in sets:
            with np.load(path) as npz:
                images.append(npz["images"].astype(np.float32))
                labels.append(npz["labels"])
                subjects += [str(s) for s in npz["subjects"]]
        images, labels = np.concatenate(images), np.concatenate(labels)
        myo, scar = labels >= 1, labels == 2
    else:
        with np.load(args.data / "myops_pairs.npz") as npz:
            images = npz["condition"][:, 0].astype(np.float32)
            labels, subjects = npz["labels"], [str(s) for s in npz["subjects"]]
        myo, scar = np.isin(labels, [200, 1220, 2221]), labels == 2221
    if use_mask:  # the intensity reference is per subject, as the pipeline applies it
        inputs = np.empty((len(images), 2, *images.shape[1:]), np.float32)
        subject_of_row = np.asarray(subjects)
        for subject in dict.fromkeys(subjects):
            rows = np.flatnonzero(subject_of_row == subject)
            inputs[rows] = stack_inputs(images[rows], myo[rows], args.reference)
    else:
        inputs = stack_inputs(images, None)
    return LabelledSlices(inputs, scar.astype(np.uint8), subjects, list(range(len(subjects))))


def scar(args, config, use_mask: bool = True, image_key: str = "lge") -> None:
    from cine2lge.quantify.learned import ScarSpec, ScarTrainer, scar_probability

    data = lge_slices(args, use_mask, image_key)
    net = config["segment"]["net"]
    spec = ScarSpec(
        image_size=(config["preprocess"]["grid_size"],) * 2,
        in_channels=2 if use_mask else 1,
        reference=args.reference if use_mask else "none",
        **net,
    )

    # as the pipeline: quantify.learned.flip_tta for LGE; the cine -> scar network has none
    flip_tta = image_key == "lge" and bool(config["quantify"]["learned"].get("flip_tta", True))

    def predict(model, test, device, out):
        probability = scar_probability(model, test.images_nyx, device, flip_tta=flip_tta)
        save_scar_predictions(out / f"fold{args.fold}_pred.npz", probability, test)

    task = "scar" if image_key == "lge" else "cinescar"
    training_data = "EMIDEC LGE + MyoPS DE" if image_key == "lge" else "MyoPS C0"
    if any(s.startswith("demo") for s in data.subjects):
        training_data += " + demo phantoms (train/val)"
    inputs = ckpt.input_record(
        config["preprocess"],
        training_data=training_data,
        target="scar: EMIDEC infarct + no-reflow (3, 4); MyoPS scar (2221)"
        if image_key == "lge"
        else "scar: MyoPS scar (2221)",
    )
    run_segmenter_like(args, config, data, predict, ScarTrainer, spec, args.out / task, inputs)


def model(args, config) -> None:
    """The diffusion generator on MyoPS pairs (cine C0 -> LGE + scar)."""
    from cine2lge.model.crossval import Sampling, SubjectPairs, evaluate_subject, paired_slices
    from cine2lge.model.data import enhancement_labels
    from cine2lge.model.net import ModelSpec
    from cine2lge.model.stage import train_settings
    from cine2lge.model.train import Trainer

    device = pick_device()
    with np.load(args.data / "myops_pairs.npz") as npz:
        arrays = {k: npz[k] for k in npz}
    names = [str(s) for s in arrays["subjects"]]
    spacing = json.loads(str(arrays["spacing_json"]))
    pairs = {}
    for name in dict.fromkeys(names):
        keep = np.array([n == name for n in names])
        pairs[name] = SubjectPairs(
            name,
            arrays["condition"][keep].astype(np.float32),
            arrays["lge"][keep].astype(np.float32),
            arrays["labels"][keep],
            spacing[name],
        )
    scheme = config["label_schemes"]["myops"]
    enhancement = enhancement_labels(scheme, ["hyperintense"], "myops")
    train_subjects, held_out = split(names, args.fold, args.folds)
    training = paired_slices([pairs[n] for n in pairs if n in train_subjects], enhancement)
    model_config = config["model"]
    settings = train_settings(model_config, device)
    settings.val_every = 10**9
    if args.batch_size:
        settings.batch_size = args.batch_size
    first = next(iter(pairs.values()))
    spec = ModelSpec.from_config(
        model_config["net"],
        model_config["diffusion"],
        first.condition_scyx.shape[1],
        first.condition_scyx.shape[2:],
    )
    out = args.out / "model"
    out.mkdir(parents=True, exist_ok=True)

    def make(steps, folder):
        s = replace(settings, steps=steps, checkpoint_every=max(steps // 4, 1))
        s.warmup_steps = min(settings.warmup_steps, max(steps // 10, 1))
        return Trainer(spec, s, training, None, folder, device)

    inputs = ckpt.input_record(
        config["preprocess"],
        **{
            "model.enhancement_classes": ["hyperintense"],
            "model.label_scheme": "myops",
            "label_schemes": {"myops": scheme},
        },
    )
    trainer, info = train_fold(args, make, out, inputs, device)
    if held_out:
        net = trainer.ema.module.eval()
        predict = model_config["predict"]
        sampling = Sampling(args.samples, args.sample_steps, 0, 256, predict["min_area_px"])
        slices, burdens, arrays_out, kept = [], [], {}, {}
        for name in held_out:
            table, burden = evaluate_subject(
                net,
                spec,
                pairs[name],
                sampling,
                scheme,
                config["quantify"],
                enhancement,
                device,
                predictions=kept,
            )
            slices.append(table.assign(fold=args.fold))
            burdens.append(burden.assign(fold=args.fold))
            arrays_out[f"{name}_probability"] = kept[name].enhancement_prob_syx.astype(np.float16)
            arrays_out[f"{name}_lgelike"] = kept[name].lgelike_syx.astype(np.float16)
        import pandas as pd

        pd.concat(slices).to_csv(out / f"fold{args.fold}_slices.tsv", sep="\t", index=False)
        pd.concat(burdens).to_csv(out / f"fold{args.fold}_lesions.tsv", sep="\t", index=False)
        np.savez_compressed(out / f"fold{args.fold}_pred.npz", **arrays_out)
    write_fold_record(args, out, info, held_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["segment", "scar", "cinescar", "model"])
    parser.add_argument("--fold", default="final", help="fold index or 'final'")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(".gpu/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--steps", type=int, help="training steps (default: from --budget)")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float, help="segment/scar: peak AdamW rate")
    parser.add_argument("--augment-translate", type=float, help="translate_px augmentation")
    parser.add_argument("--init-weights", type=Path, help="segment: fine-tune from these weights")
    parser.add_argument("--oversample", nargs="+", help="subject-id prefix=repeats, e.g. myops=3")
    parser.add_argument(
        "--no-demo", action="store_true", help="segment/scar: real data only (no demo phantoms)"
    )
    parser.add_argument("--samples", type=int, default=8, help="model: K samples per slice")
    parser.add_argument("--sample-steps", type=int, default=10, help="model: DDIM steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--dice-batch", action="store_true", help="segment/scar: Dice over the batch, not per slice"
    )
    parser.add_argument(
        "--reference",
        default="none",
        choices=REFERENCES,
        help="scar: intensity reference of the LGE channel (ScarSpec.reference)",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {args.task}{args.fold} %(message)s"
    )
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    if args.task in ("model", "cinescar"):  # record the cache's preprocessing in the weights
        with np.load(args.data / "myops_pairs.npz") as npz:
            config["preprocess"] = json.loads(str(npz["preprocess_json"]))
    (args.out / args.task).mkdir(parents=True, exist_ok=True)
    if args.task == "segment":
        segment(args, config)
    elif args.task == "scar":
        scar(args, config)
    elif args.task == "cinescar":
        scar(args, config, use_mask=False, image_key="cine")
    else:
        model(args, config)


if __name__ == "__main__":
    main()
