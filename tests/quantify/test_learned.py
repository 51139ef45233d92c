"""The learned LGE scar quantifier (quantify.method: learned): network, trainer, pipeline hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from cine2lge.model import checkpoint as ckpt
from cine2lge.quantify.learned import (
    ScarSpec,
    ScarTrainer,
    learned_scar,
    load_scar_model,
    referenced,
    scar_probability,
    scar_rows,
    stack_inputs,
)
from cine2lge.quantify.subject import quantify_arrays
from cine2lge.segment.train import LabelledSlices, SegmentTrainSettings

CPU = torch.device("cpu")


def _ring_lge(rng, n=6, size=32):
    """LGE-like rings: bright scar in one sector of half the slices."""
    images, labels = [], []
    for k in range(n):
        yy, xx = np.indices((size, size))
        radius = np.hypot(yy - size / 2, xx - size / 2)
        myo = (radius >= size / 6) & (radius < size / 4)
        scar = myo & (xx > size / 2 + 3) if k % 2 else np.zeros_like(myo)
        image = 0.2 + 0.05 * rng.standard_normal((size, size))
        image[scar] = 0.9
        labels.append(myo.astype(np.int16) + scar)
        images.append(np.clip(image, 0, 1).astype(np.float32))
    return np.stack(images), np.stack(labels)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    images, labels = _ring_lge(rng, 8)
    data = scar_rows("s1", images, labels, {"myocardium": [1, 2], "hyperintense": [2]}, True)
    settings = SegmentTrainSettings(steps=150, batch_size=8, checkpoint_every=60, augment={})
    folder = tmp_path_factory.mktemp("scar")
    trainer = ScarTrainer(
        ScarSpec(channels=(8, 16), strides=(2,), image_size=(32, 32)),
        settings,
        data,
        data,
        folder / "ck",
        CPU,
    )
    trainer.run(progress=False)
    trainer.export(folder / "scar.safetensors")
    ckpt.write_sha256(folder / "scar.safetensors")
    return folder / "scar.safetensors", images, labels


def test_rows_mark_scar_inside_the_myocardium_only():
    images, labels = _ring_lge(np.random.default_rng(1), 4)
    labels[0, 0, 0] = 2  # a scar label outside the myocardium scheme is still myocardium here
    data = scar_rows("s", images, labels, {"myocardium": [1], "hyperintense": [2]}, True)
    assert isinstance(data, LabelledSlices) and data.images_nyx.shape[1] == 2
    myo = data.images_nyx[:, 1] > 0.5
    assert not (data.classes_nyx.astype(bool) & ~myo).any()
    cine_only = scar_rows("s", images, labels, {"myocardium": [1, 2], "hyperintense": [2]}, False)
    assert cine_only.images_nyx.shape[1] == 1


def test_myocardial_reference_puts_normal_myocardium_at_zero_in_every_subject():
    """Two studies of the same rings whose crop normalisation differs by an offset (as EMIDEC's
    normal hearts against its infarcts) give the same referenced image."""
    images, labels = _ring_lge(np.random.default_rng(2), 4)
    myo = labels >= 1
    brighter = images + 0.3
    for image in (images, brighter):
        shifted = referenced(image, myo, "myocardium_q25")
        assert np.percentile(shifted[myo], 25) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(
        referenced(brighter, myo, "myocardium_q25"),
        referenced(images, myo, "myocardium_q25"),
        atol=1e-5,
    )
    np.testing.assert_array_equal(referenced(images, myo, "none"), images)
    stacked = stack_inputs(brighter, myo, "myocardium_q25")
    assert stacked.shape == (4, 2, 32, 32) and set(np.unique(stacked[:, 1])) == {0.0, 1.0}
    with pytest.raises(ValueError, match="needs the myocardium mask"):
        stack_inputs(images, None, "myocardium_q25")
    with pytest.raises(ValueError, match="reference 'blood'"):
        ScarSpec(reference="blood")


def test_weights_record_their_reference_and_inference_applies_it(tmp_path):
    """The spec in the weights' metadata carries the reference, so learned_scar references the
    image as the network was trained: an offset study gives the same mask."""
    rng = np.random.default_rng(3)
    images, labels = _ring_lge(rng, 8)
    data = scar_rows(
        "s", images, labels, {"myocardium": [1, 2], "hyperintense": [2]}, True, "myocardium_q25"
    )
    settings = SegmentTrainSettings(steps=60, batch_size=8, checkpoint_every=60, augment={})
    spec = ScarSpec(channels=(8, 16), strides=(2,), image_size=(32, 32), reference="myocardium_q25")
    trainer = ScarTrainer(spec, settings, data, None, tmp_path / "ck", CPU)
    trainer.run(progress=False)
    trainer.export(tmp_path / "ref.safetensors")
    ckpt.write_sha256(tmp_path / "ref.safetensors")
    _, loaded = load_scar_model(tmp_path / "ref.safetensors")
    assert loaded.reference == "myocardium_q25"
    myo = labels >= 1
    plain = learned_scar(images, myo, tmp_path / "ref.safetensors")
    offset = learned_scar(images + 0.25, myo, tmp_path / "ref.safetensors")
    np.testing.assert_array_equal(plain, offset)


def test_trained_network_finds_the_bright_sector_and_nothing_outside(trained):
    weights, images, labels = trained
    model, spec = load_scar_model(weights)  # checks the sha256 and the format
    myo = labels >= 1
    probability = scar_probability(model, stack_inputs(images, myo), CPU)
    assert (probability[~myo] == 0).all()
    scar = learned_scar(images, myo, weights, 0.5, 1)
    truth = labels == 2
    dice = 2 * (scar & truth).sum() / (scar.sum() + truth.sum())
    assert dice > 0.7  # 150 CPU steps on trivial rings


def test_flip_tta_probability_is_mirror_symmetric(trained):
    """The mean over the in-plane flips commutes with a flip of the input (not so without it)."""
    weights, images, labels = trained
    model, _ = load_scar_model(weights)
    inputs = stack_inputs(images, labels >= 1)
    mirrored = np.ascontiguousarray(inputs[..., ::-1])
    plain = scar_probability(model, inputs, CPU, flip_tta=True)
    flipped = scar_probability(model, mirrored, CPU, flip_tta=True)
    np.testing.assert_allclose(flipped, plain[..., ::-1], atol=1e-5)


def test_config_flip_tta_reaches_the_network(trained, repo, monkeypatch):
    import cine2lge.quantify.learned as learned

    weights, images, labels = trained
    seen = []
    original = learned.scar_probability

    def spy(*args, **kwargs):
        seen.append(kwargs["flip_tta"])
        return original(*args, **kwargs)

    monkeypatch.setattr(learned, "scar_probability", spy)
    config = yaml.safe_load((repo / "config/config.yaml").read_text())["quantify"]
    assert config["learned"]["flip_tta"] is True  # the shipped default
    for flip_tta in (True, False):
        settings = config | {"method": "learned", "learned": {"weights": str(weights)}}
        settings["learned"]["flip_tta"] = flip_tta
        quantify_arrays(
            "s1",
            (8.0, 2.0, 2.0),
            {"myocardium": [1, 2], "hyperintense": [2]},
            settings,
            labels_syx=labels,
            lge_syx=images,
        )
        assert seen and set(seen) == {flip_tta}
        seen.clear()


def test_pipeline_method_learned_is_used_for_lge_and_lgelike(trained, repo):
    weights, images, labels = trained
    config = yaml.safe_load((repo / "config/config.yaml").read_text())["quantify"]
    settings = config | {
        "method": "learned",
        "learned": {"weights": str(weights), "threshold": 0.5},
    }
    scheme = {"myocardium": [1, 2], "hyperintense": [2]}
    table, _ = quantify_arrays(
        "s1",
        (8.0, 2.0, 2.0),
        scheme,
        settings,
        labels_syx=labels,
        lge_syx=images,
        lgelike_syx=images,
    )
    subject = table[(table["region"] == "subject") & (table["class"] == "hyperintense")]
    by_source = subject.set_index("source")["percent_lv"]
    assert set(subject["rule"]) >= {"learned"}
    assert by_source["lge"] == pytest.approx(by_source["lgelike"])  # same image, same method
    assert abs(by_source["lge"] - by_source["truth"]) < 5.0
    intermediate = table[(table["region"] == "subject") & (table["class"] == "intermediate")]
    assert (intermediate[intermediate["source"] == "lge"]["percent_lv"] == 0).all()


def test_native_resolution_stacks_are_resampled_onto_the_weights_grid(trained):
    """The training rings drawn at 1 mm (the weights' grid: 2 mm) in scanner units, as
    `cine2lge quantify-lge` reads native LGE: the scar is found on the native pixels; a stack
    already on the grid is used as it is."""
    weights, images, labels = trained
    myo = labels >= 1
    on_grid = learned_scar(images, myo, weights, 0.5, 1)
    np.testing.assert_array_equal(on_grid, learned_scar(images, myo, weights, spacing_yx=(2, 2)))
    rng = np.random.default_rng(5)
    yy, xx = np.indices((80, 72)) + 0.5  # mm of the pixel centres; the rings' centre at (40, 32)
    radius = np.hypot(yy - 40, xx - 32)
    ring = (radius >= 32 / 3) & (radius < 16)
    native_myo = np.repeat(ring[None], 4, 0)
    truth = native_myo & (xx > 38)[None] & (np.arange(4) % 2 == 1)[:, None, None]
    native = 0.2 + 0.05 * rng.standard_normal(native_myo.shape)
    native[truth] = 0.9
    native = 800.0 * np.clip(native, 0, 1) + 50.0
    scar = learned_scar(native, native_myo, weights, 0.5, 1, spacing_yx=(1.0, 1.0))
    assert scar.shape == native.shape and not (scar & ~native_myo).any()
    assert 2 * (scar & truth).sum() / (scar.sum() + truth.sum()) > 0.7
    expected = 100 * truth.sum() / native_myo.sum()
    assert 100 * scar.sum() / native_myo.sum() == pytest.approx(expected, abs=5)
    with pytest.raises(ValueError, match="give its pixel spacing"):
        learned_scar(native, native_myo, weights)


def test_wrong_weights_are_refused(tmp_path, repo):
    with pytest.raises(ValueError, match="not learned-quantifier weights"):
        load_scar_model(repo / "resources/weights/segment_cmr.safetensors")


def test_shipped_weights_load_and_are_documented(repo):
    weights = repo / "resources/weights/lge_scar.safetensors"
    model, spec = load_scar_model(weights)
    assert spec.in_channels == 2 and spec.image_size == (64, 64)
    card = (repo / "resources/weights/lge_scar_MODEL_CARD.md").read_text()
    assert ckpt.sha256_of(weights) in card and "CC BY-NC-SA 4.0" in card


@pytest.mark.realdata
def test_shipped_weights_on_real_lge(shared_data, repo, tmp_path):
    """EMIDEC subjects were in the training data: a guard against a broken export; the
    cross-validated figures are in docs/quantify.md."""
    from cine2lge.segment.realdata import crop_labelled_cine

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    scheme = {"myocardium": [2, 3, 4], "hyperintense": [3, 4]}
    found, expert = [], []
    for case in ("P001", "P008", "N012"):
        image = shared_data / f"emidec/images/Case_{case}_img.nii.gz"
        labels = shared_data / f"emidec/labels/Case_{case}_gt.nii.gz"
        arrays = crop_labelled_cine(case, image, labels, scheme, config["preprocess"], tmp_path)
        myo = np.isin(arrays["labels_syx"], scheme["myocardium"])
        if not myo.any():
            pytest.skip(f"EMIDEC {case}: image and label affines differ (see prepare.py)")
        scar = learned_scar(
            arrays["cine_styx"][:, 0], myo, repo / config["quantify"]["learned"]["weights"]
        )
        found.append(100 * scar.sum() / myo.sum())
        expert.append(100 * np.isin(arrays["labels_syx"], [3, 4]).sum() / myo.sum())
    assert np.corrcoef(found, expert)[0, 1] > 0.8, (found, expert)
