"""Ship trained weights: copy into resources/weights/, write the .sha256 and the model card.

    python -m cine2lge.model.card results/model/train/model.safetensors \
        resources/weights/cine2lge_demo.safetensors --note "CPU, 2 cores, 50 min, demo cohort"

The source may also be a checkpoint folder or the checkpoint directory
(results/model/train/checkpoints: its newest checkpoint's EMA weights), so a run stopped early
can be shipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cine2lge.io import atomic_path
from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import ModelSpec, build_unet, count_parameters


def last_metrics(metrics_tsv: str | Path) -> dict[str, dict[str, float]]:
    """{split: {metric: value}} at the last step each metric was logged."""
    table = pd.read_csv(metrics_tsv, sep="\t")
    last = table.sort_values("step").groupby(["split", "metric"]).tail(1)
    out: dict[str, dict[str, float]] = {}
    for row in last.itertuples():
        out.setdefault(row.split, {})[row.metric] = (float(row.value), int(row.step))
    return out


def inputs_lines(metadata: dict) -> list[str]:
    """Card lines on the preprocessing the weights were trained with (metadata `inputs`)."""
    if "inputs" not in metadata:
        return ["- No record of the preprocessing it was trained with (older weights)."]
    from cine2lge.model.predict import BOUND_PREPROCESS

    record = json.loads(metadata["inputs"])
    keys = [f"preprocess.{k}" for k in BOUND_PREPROCESS]
    bound = ", ".join(f"`{k}` {record[k]}" for k in keys if k in record)
    return [
        f"- Trained on crops made with {bound} (metadata `inputs`; inference refuses a config"
        " that differs in the keys the crops depend on)."
    ]


def model_card(weights: Path, digest: str, metadata: dict, metrics: dict, note: str) -> str:
    spec = ModelSpec.from_json(metadata["spec"])
    settings = json.loads(metadata.get("train_settings", "{}"))
    n_params = count_parameters(build_unet(spec))
    size_mb = weights.stat().st_size / 2**20
    lines = [
        "# Model card: cine2lge demo diffusion model",
        "",
        "**Synthetic-data demo model. Not a medical device; not for diagnosis.** It generates",
        "LGE-like images and an enhancement probability from cine frames of the *synthetic* demo",
        "cohort (cine2lge.phantom). It has never seen real patient data and its outputs on real",
        "images are meaningless.",
        "",
        "## Files",
        f"- `{weights.name}`: safetensors ({size_mb:.1f} MB, {n_params / 1e6:.2f} M parameters,"
        " EMA weights); the architecture is in the file's metadata (`spec`).",
        f"- `{weights.name}.sha256`: `{digest}` (checked at every load).",
        *inputs_lines(metadata),
        "",
        "## Model",
        "MONAI `DiffusionModelUNet` (2D), conditioning by channel concatenation: input = noisy",
        "(LGE, enhancement mask) + cine frames; DDPM training, deterministic DDIM sampling;",
        "enhancement probability = fraction of K samples whose mask channel is > 0.",
        "",
        "```json",
        json.dumps(json.loads(metadata["spec"]), indent=2, sort_keys=True),
        "```",
        "",
        "## Training",
        f"- Steps: {metadata.get('step', '?')}; settings:",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True),
        "```",
        f"- How it was made: {note or 'not recorded'}",
        "- Data: results/dataset/train of the default demo cohort (config `demo`); validation on",
        "  results/dataset/val. Reproduce: `snakemake results/model/train/model.safetensors`,",
        "  then `python -m cine2lge.model.card` (module docstring has the command).",
        "",
        "## Metrics (last logged values; EMA weights on the val split)",
        "",
        "| split | metric | value | step |",
        "|---|---|---|---|",
    ]
    for split in sorted(metrics):
        for metric, (value, step) in sorted(metrics[split].items()):
            lines.append(f"| {split} | {metric} | {value:.4f} | {step} |")
    lines += [
        "",
        "Test-split quality (slice AUC, burden Pearson r, SSIM/PSNR) is measured by the report",
        "stage on internal_test/external_test, not here.",
        "",
        "## Intended use and limits",
        "- Intended use: running and testing the cine2lge pipeline end to end on the synthetic",
        "  demo cohort, on a laptop, without training.",
        "- Not for diagnosis, not for research conclusions about patients, not validated on real",
        "  MR data. Train on your own data with `model.weights: train`.",
        f"- Card written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    return "\n".join(lines)


def ship_weights(
    trained: str | Path,
    shipped: str | Path,
    metrics_tsv: str | Path | None = None,
    card: str | Path | None = None,
    note: str = "",
) -> str:
    """Copy weights, write `.sha256` and MODEL_CARD.md beside them; return the sha256."""
    trained, shipped = Path(trained), Path(shipped)
    if trained.is_dir():
        weights, metadata = ckpt.ema_weights_of_checkpoint(trained)
        ckpt.save_weights(shipped, weights, metadata)
        default_metrics = trained if (trained / "metrics.tsv").is_file() else trained.parent
        default_metrics = default_metrics / "metrics.tsv"
    else:
        metadata = ckpt.read_metadata(trained)
        with atomic_path(shipped) as tmp:
            shutil.copyfile(trained, tmp)
        default_metrics = trained.with_name("metrics.tsv")
    if "spec" not in metadata:
        raise ValueError(f"model weights {trained}: no 'spec' metadata (not a cine2lge model)")
    digest = ckpt.write_sha256(shipped)
    metrics_tsv = Path(metrics_tsv) if metrics_tsv else default_metrics
    metrics = last_metrics(metrics_tsv) if metrics_tsv.is_file() else {}
    card = Path(card) if card else shipped.with_name("MODEL_CARD.md")
    with atomic_path(card) as tmp:
        tmp.write_text(model_card(shipped, digest, metadata, metrics, note))
    return digest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ship trained weights with sha256 and model card")
    parser.add_argument("trained", help="results/model/train/model.safetensors")
    parser.add_argument("shipped", help="resources/weights/cine2lge_demo.safetensors")
    parser.add_argument("--metrics", help="metrics.tsv (default: beside the trained weights)")
    parser.add_argument("--card", help="model card path (default: MODEL_CARD.md beside shipped)")
    parser.add_argument("--note", default="", help="how the weights were made (hardware, time)")
    args = parser.parse_args(argv)
    digest = ship_weights(args.trained, args.shipped, args.metrics, args.card, args.note)
    print(f"{args.shipped}: sha256 {digest}")


if __name__ == "__main__":
    main()
