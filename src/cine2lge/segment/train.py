"""Training of the segmentation UNet: Dice-CE loss, MONAI augmentation, AdamW + EMA, resumable.

Same conventions as the diffusion model (cine2lge.model.train): the batch and augmentation of
step n are pure functions of (seed, n), checkpoints (cine2lge.model.checkpoint) hold weights, EMA,
optimiser and RNG states, SIGTERM saves a checkpoint, and the exported weights are the EMA
weights as safetensors with the spec in the metadata.

Training rows: every crop slice with labelled myocardium (and, where the subject has an LGE, a
paired LGE slice: the labels sit on the LGE crop, which registration aligned with the cine), its
image being the cine frame closest to the cardiac phase the labels were drawn at.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.transforms import Compose

from cine2lge.augment import augment_batch
from cine2lge.augment import augmentation as shared_augmentation
from cine2lge.io import atomic_path
from cine2lge.model import checkpoint as ckpt
from cine2lge.model.data import step_seed
from cine2lge.segment.evaluate import dice_per_class, reference_rows
from cine2lge.segment.net import (
    CLASSES,
    WEIGHTS_FORMAT,
    SegmentSpec,
    build_segmenter,
    label_frame,
)
from cine2lge.training import ResumableTrainer, array_digest

log = logging.getLogger("cine2lge.segment.train")


@dataclass
class LabelledSlices:
    """Training rows: images (N, 1, y, x) float32 in [0, 1], classes (N, y, x) uint8, and the
    subject and crop row of each."""

    images_nyx: np.ndarray
    classes_nyx: np.ndarray
    subjects: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.classes_nyx)

    def take(self, index) -> LabelledSlices:
        """Rows at integer positions (repeats allowed)."""
        index = np.asarray(index, dtype=int)
        return LabelledSlices(
            self.images_nyx[index],
            self.classes_nyx[index],
            [self.subjects[i] for i in index],
            [self.rows[i] for i in index],
        )

    def subset(self, subjects: set[str]) -> LabelledSlices:
        return self.take([i for i, s in enumerate(self.subjects) if s in subjects])

    @staticmethod
    def concatenate(parts: list[LabelledSlices]) -> LabelledSlices:
        return LabelledSlices(
            np.concatenate([p.images_nyx for p in parts]),
            np.concatenate([p.classes_nyx for p in parts]),
            sum((p.subjects for p in parts), []),
            sum((p.rows for p in parts), []),
        )


def labelled_rows(subject: str, arrays: dict, scheme: dict, phase_fraction: float):
    """(images (n, 1, y, x), classes (n, y, x), rows) of one subject's paired.npz arrays."""
    if "labels_syx" not in arrays:
        raise ValueError(f"subject {subject}: paired.npz has no labels_syx (no 'myo' labels)")
    cine_styx, labels_syx = arrays["cine_styx"], arrays["labels_syx"]
    if cine_styx.shape[0] != labels_syx.shape[0] or cine_styx.shape[2:] != labels_syx.shape[1:]:
        raise ValueError(
            f"subject {subject}: cine_styx {cine_styx.shape} and labels_syx"
            f" {labels_syx.shape} are not on the same (slice, y, x) crop grid"
        )
    rows, classes = reference_rows(arrays, scheme)
    frame = label_frame(cine_styx.shape[1], phase_fraction)
    images = cine_styx[rows, frame][:, None].astype(np.float32)
    return images, classes, rows.tolist()


def load_labelled(
    paired: dict[str, str | Path], schemes: dict[str, dict], phase_fraction: float
) -> LabelledSlices:
    """Training rows of several subjects ({subject: paired.npz}, {subject: label scheme})."""
    images, classes, subjects, rows = [], [], [], []
    for subject, path in paired.items():
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in ("cine_styx", "labels_syx", "paired") if k in npz}
        try:
            x, y, r = labelled_rows(subject, arrays, schemes[subject], phase_fraction)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        images.append(x)
        classes.append(y)
        subjects += [subject] * len(r)
        rows += r
    if not images or sum(len(c) for c in classes) == 0:
        raise ValueError(f"no labelled slices with myocardium in {len(paired)} subjects")
    return LabelledSlices(np.concatenate(images), np.concatenate(classes), subjects, rows)


@dataclass
class SegmentTrainSettings:
    """The config's `segment.train` section (documented in config/config.yaml)."""

    steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    ema_decay: float = 0.99
    seed: int = 2026
    log_every: int = 50
    val_every: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    # Dice over the whole batch instead of per slice: a slice without the class (a normal
    # heart for the scar quantifier) gets a Dice gradient against false positives too; per
    # slice its Dice term is flat (1 - eps / (eps + predicted)) and only cross-entropy acts.
    dice_batch: bool = False
    augment: dict = field(
        default_factory=lambda: {
            "flip_prob": 0.5,
            "rotate90_prob": 0.5,
            "affine_prob": 0.7,
            "rotate_deg": 20.0,
            "scale": 0.15,
            "translate_px": 6.0,
            "noise_prob": 0.3,
            "noise_std": 0.05,
            "gamma_prob": 0.3,
            "gamma": [0.7, 1.5],
            "intensity_scale": 0.2,
        }
    )

    def learning_rate_at(self, step: int) -> float:
        """Constant for the first half, then linear decay to 5 % at `steps`."""
        half = self.steps / 2
        if step < half:
            return self.learning_rate
        return self.learning_rate * max(0.05, 1.0 - (step - half) / max(1.0, half))


def augmentation(**settings) -> Compose:
    """One random geometric transform for image and labels (nearest for the labels), then
    intensity changes (gamma, gain, noise) on the image only, since scanners differ in contrast
    (cine2lge.augment)."""
    return shared_augmentation(("image", "classes"), ("bilinear", "nearest"), "image", **settings)


class SegmentBatches:
    """Deterministic batches: batch(step) is a pure function of (data, seed, step)."""

    def __init__(self, data: LabelledSlices, batch_size: int, seed: int, augment: dict | None):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.transform = augmentation(**augment) if augment else None

    def indices(self, step: int) -> np.ndarray:
        n, per_epoch = len(self.data), max(1, len(self.data) // self.batch_size)
        epoch, position = divmod(step, per_epoch)
        order = np.random.default_rng(step_seed(self.seed, epoch, stream=1)).permutation(n)
        order = np.tile(order, 1 + self.batch_size // max(1, n))  # tiny data sets wrap around
        return order[position * self.batch_size : (position + 1) * self.batch_size]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (B, 1, H, W) float32, classes (B, 1, H, W) int64) on the CPU."""
        index = np.sort(self.indices(step))
        images = self.data.images_nyx[index].copy()
        classes = self.data.classes_nyx[index][:, None].astype(np.float32)
        if self.transform is not None:
            batch = {"image": images, "classes": classes}
            augment_batch(self.transform, batch, step_seed(self.seed, step, stream=2))
        return (
            torch.from_numpy(np.ascontiguousarray(images)),
            torch.from_numpy(np.rint(classes).astype(np.int64)),
        )


class SegmentTrainer(ResumableTrainer):
    """Dice-CE UNet segmentation; the shared mechanics are in ResumableTrainer."""

    job = "segmentation training"
    rule = "train_segment"
    progress_label = "segment train"
    val_digits = 3

    def __init__(
        self,
        spec: SegmentSpec,
        settings: SegmentTrainSettings,
        train_data: LabelledSlices,
        val_data: LabelledSlices | None,
        checkpoint_dir: str | Path,
        device: torch.device,
        phase_fraction: float = 0.0,
        init_weights: str | Path | None = None,
    ):
        super().__init__(spec, settings, checkpoint_dir, device)
        self.train_data, self.val_data = train_data, val_data
        self.phase_fraction = phase_fraction
        model = build_segmenter(spec).to(device)
        self.init_weights = init_weights
        if init_weights is not None:
            load_initial_weights(model, spec, init_weights)
        self.start_optimiser(model)
        self.loss_function = DiceCELoss(to_onehot_y=True, softmax=True, batch=settings.dice_batch)
        self.batches = SegmentBatches(
            train_data, settings.batch_size, settings.seed, settings.augment
        )

    def metadata(self) -> dict[str, str]:
        return {
            "format": WEIGHTS_FORMAT,
            "spec": self.spec.to_json(),
            "classes": json.dumps(CLASSES),
            "phase_fraction": str(self.phase_fraction),
            "train_settings": json.dumps(asdict(self.settings), sort_keys=True),
            "train_subjects": str(len(set(self.train_data.subjects))),
            "train_slices": str(len(self.train_data)),
            "step": str(self.step),
            **({"init_weights": Path(self.init_weights).name} if self.init_weights else {}),
        }

    def data_fingerprint(self) -> dict[str, str]:
        """Digests of the labelled slices trained on (images at the label phase, classes) and
        of the initial weights; the val subjects change the logged Dice only."""
        data = self.train_data
        return {
            "train_data": array_digest({"images": data.images_nyx, "classes": data.classes_nyx}),
            "init_weights": ckpt.sha256_of(self.init_weights) if self.init_weights else "none",
        }

    def train_step(self) -> float:
        self.model.train()
        images, classes = self.batches.batch(self.step)
        self.set_learning_rate()
        loss = self.loss_function(self.model(images.to(self.device)), classes.to(self.device))
        self.optimise(loss)
        return float(loss.detach())

    def train_metrics(self, mean_loss: float) -> dict[str, float]:
        return {"loss": mean_loss}

    def describe(self) -> str:
        val = 0 if self.val_data is None else len(self.val_data)
        return (
            f"segmentation {self.spec.to_json()} on {len(self.train_data)} slices of"
            f" {len(set(self.train_data.subjects))} subjects (val {val}), device {self.device}"
        )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Dice per class of the EMA model's argmax on the val slices (pooled over slices)."""
        if self.val_data is None or len(self.val_data) == 0:
            return {}
        predicted = predict_classes(self.ema.module, self.val_data.images_nyx, self.device)
        dice = dice_per_class(predicted, self.val_data.classes_nyx)
        return {f"dice_{name}": value for name, value in dice.items()}

    def export(self, weights_path: str | Path, metrics_path: str | Path | None = None) -> str:
        """Write the EMA weights (safetensors + metadata + .sha256); return the sha256."""
        super().export(weights_path, metrics_path)
        return ckpt.write_sha256(weights_path)


def load_initial_weights(model: torch.nn.Module, spec: SegmentSpec, weights: str | Path) -> None:
    """Start fine-tuning from trained weights (sha256-checked); their spec must equal `spec`."""
    ckpt.verify_sha256(weights)
    state, metadata = ckpt.load_weights(weights)
    if metadata.get("format") != WEIGHTS_FORMAT or "spec" not in metadata:
        raise ValueError(
            f"initial weights {weights}: format {metadata.get('format')!r},"
            f" expected {WEIGHTS_FORMAT!r}"
        )
    theirs = SegmentSpec.from_json(metadata["spec"])
    if theirs != spec:
        raise ValueError(
            f"initial weights {weights}: network {theirs.to_json()} differs from"
            f" the configured {spec.to_json()} (segment.net, preprocess.grid_size)"
        )
    model.load_state_dict(state)


@torch.no_grad()
def predict_classes(
    model: torch.nn.Module,
    images_nyx: np.ndarray,
    device: torch.device,
    batch_size: int = 64,
    flip_tta: bool = False,
) -> np.ndarray:
    """Argmax classes (N, y, x) uint8 of images (N, 1, y, x)."""
    probability = predict_probabilities(model, images_nyx, device, batch_size, flip_tta)
    return probability.argmax(1).astype(np.uint8)


# Flip test-time augmentation: the identity and the three in-plane mirror images (nnU-Net's
# mirroring). Cross-validated on real cine: +0.004 pooled myocardium Dice (docs/architecture.md).
FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


@torch.no_grad()
def predict_probabilities(
    model: torch.nn.Module,
    images_nyx: np.ndarray,
    device: torch.device,
    batch_size: int = 64,
    flip_tta: bool = False,
) -> np.ndarray:
    """Softmax class probabilities (N, class, y, x) float32 of images (N, 1, y, x); with
    flip_tta, the mean over the identity and the in-plane flips (4 forward passes)."""
    model.eval()
    flips = FLIPS if flip_tta else FLIPS[:1]
    out = []
    for start in range(0, len(images_nyx), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images_nyx[start : start + batch_size]))
        batch = batch.float().to(device)
        total = sum(torch.softmax(model(batch.flip(d)), dim=1).flip(d) for d in flips)
        out.append((total / len(flips)).cpu().numpy())
    if not out:
        return np.zeros((0, len(CLASSES), *images_nyx.shape[2:]), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


def train_segmenter(
    train_paired: dict[str, str],
    val_paired: dict[str, str],
    schemes: dict[str, dict],
    section: dict,
    grid_size: int,
    checkpoint_dir: str | Path,
    weights_path: str | Path,
    metrics_path: str | Path,
    use_gpu: bool = False,
    threads: int | None = None,
    init_weights: str | Path | None = None,
    preprocess: dict | None = None,
) -> SegmentTrainer:
    """Stage entry (rule train_segment): train on the labelled subjects' paired.npz files.

    `section` is the config's `segment` section, `schemes` the label scheme of each subject,
    `preprocess` the config section the paired.npz were made with (recorded in the weights).
    """
    from cine2lge.model.runtime import pick_device, set_threads

    set_threads(threads)
    phase = float(section["label_phase_fraction"])
    train_data = load_labelled(train_paired, schemes, phase)
    val_data = load_labelled(val_paired, schemes, phase) if val_paired else None
    spec = SegmentSpec.from_config(section["net"], grid_size)
    known = {f.name for f in fields(SegmentTrainSettings)}  # the rest are job resources
    settings = SegmentTrainSettings(**{k: v for k, v in section["train"].items() if k in known})
    trainer = SegmentTrainer(
        spec,
        settings,
        train_data,
        val_data,
        checkpoint_dir,
        pick_device(use_gpu),
        phase,
        init_weights=init_weights,
    )
    used = {json.dumps(schemes[s], sort_keys=True) for s in set(train_data.subjects)}
    trainer.inputs = ckpt.input_record(
        preprocess, label_schemes=[json.loads(text) for text in sorted(used)]
    )
    trainer.fit(weights_path, metrics_path)
    return trainer


def model_card(
    weights: Path, digest: str, metadata: dict, metrics: dict, note: str, evaluation: str = ""
) -> str:
    """Markdown model card of shipped segmentation weights."""
    from datetime import UTC, datetime

    from cine2lge.model.card import inputs_lines

    spec = SegmentSpec.from_json(metadata["spec"])
    n_params = sum(p.numel() for p in build_segmenter(spec).parameters())
    lines = [
        "# Model card: cine2lge demo cine segmentation (LV blood pool, myocardium, RV)",
        "",
        "**Synthetic-data demo model. Not a medical device; not for diagnosis.** Trained on the",
        "*synthetic* demo cohort (cine2lge.phantom) only; it has never seen real patient images",
        "and is not expected to segment real cine MR well. Train on your own labels",
        "(`segment.weights: train`, sheet rows with `myo` in `segment.train_splits`).",
        "",
        "## Files",
        f"- `{weights.name}`: safetensors ({weights.stat().st_size / 2**20:.2f} MB,"
        f" {n_params / 1e6:.3f} M parameters, EMA weights); architecture in the metadata"
        " (`spec`).",
        f"- `{weights.name}.sha256`: `{digest}` (checked at every load).",
        *inputs_lines(metadata),
        "",
        "## Model",
        "MONAI `UNet` (2D, instance norm), input one cine frame of the preprocess crop (64 x 64,",
        "2 mm pixels, intensities in [0, 1]), output 4 classes: background, LV blood pool,",
        "myocardium, RV. Loss Dice + cross-entropy (MONAI `DiceCELoss`); MONAI flips, 90-degree",
        "rotations, affine, gamma, gain and noise augmentation. Post-processing (largest",
        "components, hole filling, closed-ring check, QC table): cine2lge.segment.postprocess.",
        "",
        "```json",
        json.dumps(json.loads(metadata["spec"]), indent=2, sort_keys=True),
        "```",
        "",
        "## Training",
        f"- Steps: {metadata.get('step', '?')}; {metadata.get('train_slices', '?')} labelled"
        f" slices of {metadata.get('train_subjects', '?')} subjects; frame at RR fraction"
        f" {metadata.get('phase_fraction', '?')} (the demo LGE's phase, whose labels are used).",
        f"- How it was made: {note or 'not recorded'}",
        "- Reproduce: a config file with `segment: {weights: train}` added after"
        " config/config.yaml (`--configfile config/config.yaml mine.yaml`), target"
        " `results/segment/train/model.safetensors`, then `python scripts/segment_ship.py`"
        " (see its docstring).",
        "",
        "```json",
        json.dumps(json.loads(metadata.get("train_settings", "{}")), indent=2, sort_keys=True),
        "```",
        "",
        "## Metrics (last logged values; EMA weights; val = demo val split)",
        "",
        "| split | metric | value | step |",
        "|---|---|---|---|",
    ]
    for split in sorted(metrics):
        for metric, (value, step) in sorted(metrics[split].items()):
            lines.append(f"| {split} | {metric} | {value:.4f} | {step} |")
    if evaluation:
        lines += ["", "## Evaluation", "", evaluation]
    lines += [
        "",
        "## Intended use and limits",
        "- Running and testing the pipeline end to end on the synthetic demo cohort.",
        "- Not validated on real MR data. Real-data figures (MyoPS cross-validation, trained on",
        "  MyoPS itself) are in docs and the engineer's report, not properties of these weights.",
        f"- Card written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    return "\n".join(lines)


def ship_weights(
    trained: str | Path,
    shipped: str | Path,
    metrics_tsv: str | Path | None = None,
    note: str = "",
    evaluation: str = "",
) -> str:
    """Copy trained weights to `shipped`, write its `.sha256` and `<stem>_MODEL_CARD.md`."""
    import shutil

    from cine2lge.model.card import last_metrics

    trained, shipped = Path(trained), Path(shipped)
    metadata = ckpt.read_metadata(trained)
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise ValueError(
            f"weights {trained}: format {metadata.get('format')!r} is not {WEIGHTS_FORMAT!r}"
        )
    with atomic_path(shipped) as tmp:
        shutil.copyfile(trained, tmp)
    digest = ckpt.write_sha256(shipped)
    metrics_tsv = Path(metrics_tsv) if metrics_tsv else trained.with_name("metrics.tsv")
    metrics = last_metrics(metrics_tsv) if metrics_tsv.is_file() else {}
    with atomic_path(shipped.with_name(f"{shipped.stem}_MODEL_CARD.md")) as tmp:
        tmp.write_text(model_card(shipped, digest, metadata, metrics, note, evaluation))
    return digest
