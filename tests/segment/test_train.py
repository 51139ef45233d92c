from __future__ import annotations

import numpy as np
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.segment.evaluate import dice_per_class
from cine2lge.segment.net import SegmentSpec
from cine2lge.segment.train import (
    LabelledSlices,
    SegmentBatches,
    SegmentTrainer,
    SegmentTrainSettings,
    labelled_rows,
    predict_classes,
)

from .rings import ring_classes, ring_set

SPEC = SegmentSpec(
    channels=(8, 16, 32), strides=(2, 2), num_res_units=1, dropout=0.0, image_size=(32, 32)
)
CPU = torch.device("cpu")
DEMO = {"blood_pool": [1], "myocardium": [2, 4, 5], "right_ventricle": [3]}


def rings(n, seed):
    images, classes = ring_set(n, 32, seed)
    return LabelledSlices(images, classes, [f"S{i % 4}" for i in range(n)], list(range(n)))


def settings(**changes):
    base = {
        "steps": 60,
        "batch_size": 8,
        "learning_rate": 1e-2,
        "ema_decay": 0.9,
        "log_every": 10,
        "val_every": 60,
        "checkpoint_every": 30,
        "augment": None,
    }
    return SegmentTrainSettings(**(base | changes))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("segment")
    trainer = SegmentTrainer(
        SPEC, settings(), rings(48, 0), rings(8, 1), folder / "ckpt", CPU, phase_fraction=0.75
    )
    losses = [trainer.train_step() for _ in range(60)]
    return trainer, losses, folder


def test_loss_falls_and_rings_are_learnt(trained):
    trainer, losses, _ = trained
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    val = rings(8, 1)
    dice = dice_per_class(predict_classes(trainer.model, val.images_nyx, CPU), val.classes_nyx)
    assert dice["myocardium"] > 0.7 and dice["blood_pool"] > 0.8


def test_export_writes_checked_weights_with_spec(trained, tmp_path):
    trainer, _, _ = trained
    weights = tmp_path / "segment.safetensors"
    digest = trainer.export(weights)
    assert ckpt.verify_sha256(weights) == digest
    metadata = ckpt.read_metadata(weights)
    assert SegmentSpec.from_json(metadata["spec"]) == SPEC
    assert metadata["format"] == "cine2lge-segment-v1" and metadata["phase_fraction"] == "0.75"


def test_resume_continues_from_the_checkpoint(tmp_path):
    torch.set_num_threads(1)
    data = rings(16, 2)
    whole = SegmentTrainer(
        SPEC, settings(steps=12, checkpoint_every=6), data, None, tmp_path / "a", CPU
    )
    whole.run(progress=False)
    first = SegmentTrainer(
        SPEC, settings(steps=12, checkpoint_every=6), data, None, tmp_path / "b", CPU
    )
    for _ in range(6):  # a job killed after its checkpoint at step 6
        first.train_step()
    first.save_checkpoint()
    second = SegmentTrainer(
        SPEC, settings(steps=12, checkpoint_every=6), data, None, tmp_path / "b", CPU
    )
    assert second.resume() and second.step == 6
    second.run(progress=False)
    for name, value in whole.model.state_dict().items():
        assert torch.allclose(value.float(), second.model.state_dict()[name].float()), name


def test_augmented_batches_are_reproducible_and_keep_labels_integral():
    data = rings(16, 3)
    augment = SegmentTrainSettings().augment
    a = SegmentBatches(data, 4, seed=5, augment=augment).batch(7)
    b = SegmentBatches(data, 4, seed=5, augment=augment).batch(7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (4, 1, 32, 32) and a[1].dtype == torch.int64
    assert set(torch.unique(a[1]).tolist()) <= {0, 1, 2, 3}


def test_labelled_rows_take_the_label_phase_frame_and_paired_rows():
    classes = ring_classes(32, (16, 16), 5, 8)
    labels_syx = np.stack([classes, classes, np.zeros_like(classes)]).astype(np.int16)
    labels_syx[labels_syx == 2] = 5  # hyperintense myocardium is myocardium
    cine_styx = np.zeros((3, 8, 32, 32), np.float32)
    cine_styx[:, 6] = 1.0  # the frame at 0.75 of the cycle
    arrays = {
        "cine_styx": cine_styx,
        "labels_syx": labels_syx,
        "paired": np.array([True, False, True]),
    }
    images, out, rows = labelled_rows("S1", arrays, DEMO, 0.75)
    assert rows == [0]  # row 1 unpaired, row 2 without myocardium
    assert images.shape == (1, 1, 32, 32) and images.min() == 1.0
    assert np.array_equal(out[0], classes)
    with pytest.raises(ValueError, match="subject S2: paired.npz has no labels_syx"):
        labelled_rows("S2", {"cine_styx": cine_styx}, DEMO, 0.75)


def test_fine_tuning_starts_from_the_initial_weights(trained, tmp_path):
    trainer, _, _ = trained
    weights = tmp_path / "start.safetensors"
    trainer.export(weights)
    tuned = SegmentTrainer(
        SPEC, settings(), rings(8, 2), None, tmp_path / "ckpt", CPU, init_weights=weights
    )
    start = ckpt.load_weights(weights)[0]
    for name, value in tuned.model.state_dict().items():
        assert torch.equal(value, start[name]), name
    val = rings(8, 1)  # the trained network's skill before any fine-tuning step
    dice = dice_per_class(predict_classes(tuned.model, val.images_nyx, CPU), val.classes_nyx)
    assert dice["myocardium"] > 0.7
    assert tuned.metadata()["init_weights"] == weights.name


def test_initial_weights_of_another_network_are_refused(trained, tmp_path):
    trainer, _, _ = trained
    weights = tmp_path / "start.safetensors"
    trainer.export(weights)
    wider = SegmentSpec(
        channels=(16, 32, 64), strides=(2, 2), num_res_units=1, dropout=0.0, image_size=(32, 32)
    )
    with pytest.raises(ValueError, match="start.safetensors: network .* differs"):
        SegmentTrainer(
            wider, settings(), rings(8, 2), None, tmp_path / "ckpt", CPU, init_weights=weights
        )


def _false_positive_gradient(trainer) -> float:
    """Gradient of the loss on a normal slice's false-positive blob (foreground logits) in a
    batch of 4 slices with scar and 4 without, from a confident network (background p 0.998)."""
    classes = torch.zeros(8, 1, 64, 64, dtype=torch.int64)
    classes[:4, 0, 20:28, 20:25] = 1
    logits = torch.zeros(8, 2, 64, 64)
    logits[:, 0] = 8.0
    logits[:, 1, 20:28, 20:25] = 8.5  # the scar, found
    logits[4:, 1, 40:43, 40:43] = 8.5  # a false positive in each normal slice
    logits.requires_grad_(True)
    trainer.loss_function(logits, classes).backward()
    return logits.grad[4:, 1, 40:43, 40:43].mean().item()


def test_batch_dice_penalises_false_positives_in_slices_without_the_class(tmp_path):
    """Per-slice Dice is flat in a slice without scar (1 - eps / (eps + predicted)), so only
    cross-entropy acts on its false positives; Dice over the batch pushes them down too."""
    per_slice, batch = (
        _false_positive_gradient(
            SegmentTrainer(
                SPEC, settings(dice_batch=flag), rings(8, 0), None, tmp_path / f"{flag}", CPU
            )
        )
        for flag in (False, True)
    )
    assert per_slice > 0 and batch > 4 * per_slice
