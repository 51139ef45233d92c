"""config model.probability_weights: the enhancement probability from a discriminative
cine -> scar network (cine2lge.quantify.learned), the LGE-like image from the generator."""

import json

import numpy as np
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import build_unet
from cine2lge.model.predict import predict_chunk, write_subject_outputs
from cine2lge.model.sample import ensemble
from cine2lge.quantify.learned import WEIGHTS_FORMAT, ScarSpec, build_scar_net, scar_probability

PREPROCESS = {"fov_mm": 128, "grid_size": 16, "frames": 3, "intensity_percentiles": [1, 99]}


def _generator(spec, path):
    """A generator whose output is constant (x0 = -0.6, enhancement 0.5: every sample enhanced)."""
    torch.manual_seed(0)
    model = build_unet(spec)
    with torch.no_grad():
        model.out[2].conv.bias.copy_(torch.tensor([-0.6, 0.5]))
    ckpt.save_weights(path, model.state_dict(), {"spec": spec.to_json(), "step": "5"})
    ckpt.write_sha256(path)
    return path


def _scar_net(path, in_channels=1, preprocess=None):
    """A random-initialised cine -> scar UNet saved as ScarTrainer exports it."""
    spec = ScarSpec(channels=(4, 8), strides=(2,), image_size=(16, 16), in_channels=in_channels)
    torch.manual_seed(3)
    model = build_scar_net(spec).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)  # probabilities well spread over [0, 1]
    metadata = {"format": WEIGHTS_FORMAT, "spec": spec.to_json(), "step": "7"}
    if preprocess is not None:
        metadata["inputs"] = json.dumps(ckpt.input_record(preprocess, target="scar"))
    ckpt.save_weights(path, model.state_dict(), metadata)
    ckpt.write_sha256(path)
    return model


@pytest.fixture
def paired(tmp_path):
    rng = np.random.default_rng(0)
    paths = {}
    for subject, n in (("s1", 3), ("s2", 2)):
        paths[subject] = tmp_path / subject / "paired.npz"
        paths[subject].parent.mkdir()
        np.savez(
            paths[subject],
            cine_styx=rng.uniform(0, 1, (n, 3, 16, 16)).astype(np.float32),
            slice_index=np.arange(n),
        )
    return paths


def _run(tmp_path, spec, paired, name, **kwargs):
    chunk = tmp_path / f"{name}.npz"
    predict_chunk(
        ["s1", "s2"],
        [paired["s1"], paired["s2"]],
        _generator(spec, tmp_path / "generator.safetensors"),
        chunk,
        torch.device("cpu"),
        n_samples=2,
        steps=2,
        min_area_px=5,
        progress=False,
        **kwargs,
    )
    with np.load(chunk) as arrays:
        return chunk, {key: arrays[key] for key in arrays.files}


def test_probability_weights_make_the_probability(tmp_path, tiny_spec, paired):
    net = _scar_net(tmp_path / "scar.safetensors", preprocess=PREPROCESS)
    _, default = _run(tmp_path, tiny_spec, paired, "default")
    chunk, scar = _run(
        tmp_path,
        tiny_spec,
        paired,
        "scar",
        probability_weights=tmp_path / "scar.safetensors",
        configured_preprocess={**PREPROCESS, "frames": 8},  # the network reads one frame
    )
    assert str(default["probability_source"]).startswith("generator generator.safetensors")
    source = str(scar["probability_source"])
    assert source.startswith("discriminative cine -> scar network scar.safetensors")
    assert "step 7" in source and "target scar" in source
    for subject in ("s1", "s2"):
        with np.load(paired[subject]) as arrays:
            cine = arrays["cine_styx"]
        expected = scar_probability(net, cine[:, :1], torch.device("cpu"))
        probability = scar[f"{subject}.enhancement_prob_syx"]
        assert np.allclose(probability, expected, atol=1e-6)
        assert 0.05 < probability.std() and np.all(default[f"{subject}.enhancement_prob_syx"] == 1)
        # Slice probability: the 5th largest pixel probability (min_area_px 5).
        fifth = np.sort(expected.reshape(len(expected), -1), axis=1)[:, -5]
        assert np.allclose(scar[f"{subject}.slice_probability_s"], fifth, atol=1e-6)
        assert np.array_equal(
            scar[f"{subject}.enhancement_area_ks"], (expected >= 0.5).sum(axis=(1, 2))[None]
        )
        # The LGE-like image is the generator's either way.
        assert np.array_equal(scar[f"{subject}.lgelike_syx"], default[f"{subject}.lgelike_syx"])

    out = tmp_path / "out"
    geometry = {
        "grid_size": 16,
        "cine": {
            "rows": [
                {
                    "source_slice": k,
                    "origin_mm": [0.0, 0.0, 8.0 * k],
                    "direction": np.eye(3).tolist(),
                    "spacing_mm": [2.0, 2.0, 8.0],
                }
                for k in range(2)
            ],
            "source_shape": [16, 16, 2],
            "source_affine": np.diag([2.0, 2.0, 8.0, 1.0]).tolist(),
        },
    }
    (tmp_path / "geometry.json").write_text(json.dumps(geometry))
    import nibabel as nib

    nib.save(
        nib.Nifti1Image(np.zeros((16, 16, 2), np.float32), np.diag([2.0, 2.0, 8.0, 1.0])),
        tmp_path / "cine.nii.gz",
    )
    write_subject_outputs(
        "s2",
        chunk,
        paired["s2"],
        tmp_path / "geometry.json",
        tmp_path / "cine.nii.gz",
        out / "prediction.npz",
        out / "lgelike.nii.gz",
        out / "enhancement_prob.nii.gz",
        out / "slice_probability.tsv",
        out / "lgelike_dicom",
    )
    with np.load(out / "prediction.npz") as prediction:
        assert str(prediction["probability_source"]) == source
        assert np.allclose(prediction["subject_probability"], scar["s2.slice_probability_s"].max())


def test_default_keeps_the_generator_probability(tmp_path, tiny_spec, paired):
    """probability_weights null: the chunk holds the generator ensemble's own arrays."""
    from cine2lge.model.predict import load_model

    _, chunk = _run(tmp_path, tiny_spec, paired, "default", probability_weights=None)
    model, spec, _ = load_model(tmp_path / "generator.safetensors", torch.device("cpu"))
    with np.load(paired["s1"]) as arrays:
        cine = arrays["cine_styx"]
    expected = ensemble(model, spec, cine, n_samples=2, steps=2, min_area_px=5, progress=False)
    assert np.array_equal(chunk["s1.enhancement_prob_syx"], expected.enhancement_prob_syx)
    assert np.array_equal(chunk["s1.slice_probability_s"], expected.slice_probability_s)
    assert np.array_equal(chunk["s1.enhancement_area_ks"], expected.enhancement_area_ks)


def test_wrong_probability_weights_are_refused(tmp_path, tiny_spec, paired):
    generator = _generator(tiny_spec, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="probability_weights .*other.safetensors: not usable"):
        _run(tmp_path, tiny_spec, paired, "a", probability_weights=generator)
    _scar_net(tmp_path / "lge_scar.safetensors", in_channels=2)
    with pytest.raises(ValueError, match="takes 2 input channels"):
        _run(
            tmp_path, tiny_spec, paired, "b", probability_weights=tmp_path / "lge_scar.safetensors"
        )
    _scar_net(tmp_path / "scar.safetensors", preprocess=PREPROCESS)
    with pytest.raises(ValueError, match=r"preprocess.fov_mm=128 but the config has 160"):
        _run(
            tmp_path,
            tiny_spec,
            paired,
            "c",
            probability_weights=tmp_path / "scar.safetensors",
            configured_preprocess={**PREPROCESS, "fov_mm": 160},
        )
    (tmp_path / "scar.safetensors.sha256").write_text("0" * 64 + "  scar.safetensors\n")
    with pytest.raises(ckpt.WeightsChecksumError, match="does not match"):
        _run(tmp_path, tiny_spec, paired, "d", probability_weights=tmp_path / "scar.safetensors")


def test_stage_passes_the_probability_weights(tmp_path, tiny_spec, paired, repo):
    """predict_subjects (rule predict_chunk) passes the rule's input and the preprocess on."""
    import yaml

    from cine2lge.model.stage import predict_subjects

    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    model = {**config["model"], "predict": {**config["model"]["predict"], "n_samples": 1}}
    model["predict"]["steps"] = 1
    _scar_net(tmp_path / "scar.safetensors", preprocess=PREPROCESS)
    generator = _generator(tiny_spec, tmp_path / "generator.safetensors")
    chunk = tmp_path / "chunk.npz"
    run = dict(threads=1, progress=False, probability_weights=tmp_path / "scar.safetensors")
    predict_subjects(["s1"], [paired["s1"]], generator, chunk, model, **run)
    with np.load(chunk) as arrays:
        assert str(arrays["probability_source"]).startswith("discriminative")
    with pytest.raises(ValueError, match=r"grid_size=16 but the config has 64"):
        predict_subjects(
            ["s1"], [paired["s1"]], generator, chunk, model, preprocess=config["preprocess"], **run
        )
