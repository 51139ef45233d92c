from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cine2lge.model.checkpoint import WeightsChecksumError
from cine2lge.segment.net import SegmentSpec
from cine2lge.segment.predict import load_segmenter, predict_subject
from cine2lge.segment.train import (
    LabelledSlices,
    SegmentTrainer,
    SegmentTrainSettings,
    predict_probabilities,
)

from .rings import ring_classes, ring_image, ring_set

SPEC = SegmentSpec(
    channels=(8, 16, 32), strides=(2, 2), num_res_units=1, dropout=0.0, image_size=(32, 32)
)
POSTPROCESS = {
    "max_closing_px": 2,
    "min_cavity_px": 4,
    "max_wall_hole_px": 6,
    "drop_open_slices": True,
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("weights")
    images, classes = ring_set(48, 32, seed=10)
    data = LabelledSlices(images, classes, ["S"] * 48, list(range(48)))
    settings = SegmentTrainSettings(
        steps=60,
        batch_size=8,
        learning_rate=1e-2,
        ema_decay=0.5,
        log_every=30,
        val_every=60,
        checkpoint_every=60,
        augment=None,
    )
    trainer = SegmentTrainer(SPEC, settings, data, None, folder / "ckpt", torch.device("cpu"))
    trainer.run(progress=False)
    path = folder / "segment.safetensors"
    trainer.export(path)
    return path


def test_predict_subject_writes_masks_at_the_label_phase_and_qc(weights, tmp_path):
    rng = np.random.default_rng(3)
    # 3 slices x 4 frames; the ring shrinks over the frames, the last slice is empty.
    classes_styx = np.zeros((3, 4, 32, 32), np.uint8)
    for s in range(2):
        for t in range(4):
            classes_styx[s, t] = ring_classes(32, (16, 16), 6 - t * 0.5, 10 - t * 0.5)
    cine_styx = np.stack([[ring_image(c, rng) for c in row] for row in classes_styx])
    cine_styx[2] = ring_image(np.zeros((32, 32), np.uint8), rng)  # background only
    paired = tmp_path / "paired.npz"
    np.savez(paired, cine_styx=cine_styx, slice_index=np.array([4, 5, 6]))
    masks, qc_path = tmp_path / "masks.npz", tmp_path / "qc.tsv"
    predict_subject("S9", paired, weights, masks, qc_path, 0.5, POSTPROCESS)
    with np.load(masks) as out:
        assert out["classes_styx"].shape == (3, 4, 32, 32)
        assert int(out["frame"]) == 2
        assert np.array_equal(out["labels_syx"], out["classes_styx"][:, 2])
        assert out["probability_syx"].shape == (3, 4, 32, 32)
        myo = out["labels_syx"] == 2
        truth = classes_styx[:, 2] == 2
        assert 2 * (myo & truth).sum() / (myo.sum() + truth.sum()) > 0.7
        assert not out["labels_syx"][2].any()  # no ring: nothing reaches quantification
        # The quantified frame's QC, for quantification (usable slices, coverage flag).
        assert out["usable_s"].tolist() == [True, True, False]
        assert out["status_s"][0] in {"ok", "repaired"} and out["reason_s"].dtype.kind == "U"
        # 2 usable slices; the small test network predicts "myocardium" on the empty slice, so
        # it may count as an LV slice (coverage 2/3).
        assert float(out["coverage"]) >= 0.66 and str(out["flag"]) == "ok"
    qc = pd.read_csv(qc_path, sep="\t")
    assert len(qc) == 12 and qc["quantified"].sum() == 3
    assert {"reason", "usable", "coverage", "flag"} <= set(qc.columns)
    used = qc[qc["quantified"]].set_index("source_slice")
    assert used.loc[6, "status"] in {"no_myocardium", "open", "implausible"}
    assert not used.loc[6, "usable"]
    assert used.loc[4, "ring_closed"]


def test_dropped_slices_and_low_coverage_are_logged(caplog):
    from cine2lge.segment.predict import log_usable_slices

    used = pd.DataFrame(
        {
            "slice": [0, 1, 2, 3],
            "source_slice": [4, 5, 6, 7],
            "status": ["ok", "open", "implausible", "no_myocardium"],
            "reason": ["closed ring", "ring still open", "myocardium 9 px", "none"],
            "usable": [True, False, False, False],
            "coverage": [1 / 3] * 4,
            "flag": ["low_coverage"] * 4,
        }
    )
    with caplog.at_level("INFO"):
        log_usable_slices("S7", used)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages[0] == (
        "INFO",
        "subject S7: slices left out of quantification: slice 1 (source 5): open (ring still"
        " open); slice 2 (source 6): implausible (myocardium 9 px)",
    )
    assert messages[1][0] == "WARNING"
    assert messages[1][1].startswith(
        "subject S7: segmentation QC flag low_coverage: 1 usable slices (0), coverage 0.33"
    )


def test_tampered_weights_are_refused(weights, tmp_path):
    copy = tmp_path / "w.safetensors"
    copy.write_bytes(weights.read_bytes()[:-1] + b"\0")
    (tmp_path / "w.safetensors.sha256").write_text(
        (weights.parent / "segment.safetensors.sha256").read_text()
    )
    with pytest.raises(WeightsChecksumError, match="does not match"):
        load_segmenter(copy)


def test_grid_mismatch_names_subject_and_file(weights, tmp_path):
    paired = tmp_path / "paired.npz"
    np.savez(paired, cine_styx=np.zeros((1, 2, 48, 48), np.float32))
    with pytest.raises(ValueError, match=r"subject S3: .*paired.npz: cine crops \(48, 48\)"):
        predict_subject(
            "S3", paired, weights, tmp_path / "m.npz", tmp_path / "q.tsv", 0.0, POSTPROCESS
        )


def test_flip_tta_averages_the_mirrored_predictions(weights):
    model, _, _ = load_segmenter(weights)
    rng = np.random.default_rng(5)
    images = np.stack(
        [ring_image(ring_classes(32, (14, 18), 5, 9), rng)[None] for _ in range(3)]
    ).astype(np.float32)
    plain = predict_probabilities(model, images, torch.device("cpu"))
    tta = predict_probabilities(model, images, torch.device("cpu"), flip_tta=True)
    mirrored = predict_probabilities(model, images[..., ::-1], torch.device("cpu"))[..., ::-1]
    assert tta.shape == plain.shape
    np.testing.assert_allclose(tta.sum(1), 1.0, atol=1e-5)
    # An off-centre ring: the network's mirror-image answer differs, and TTA lies between.
    assert not np.allclose(plain, mirrored, atol=1e-4)
    assert np.abs(tta - plain).max() > 1e-4
    # TTA is symmetric: flipping the input flips its answer exactly.
    flipped = predict_probabilities(model, images[..., ::-1], torch.device("cpu"), flip_tta=True)
    np.testing.assert_allclose(flipped[..., ::-1], tta, atol=1e-5)
