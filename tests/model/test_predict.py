import json

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import build_unet
from cine2lge.model.predict import load_model, predict_chunk, write_subject_outputs
from cine2lge.model.sample import ensemble


def _constant_model(spec, lge=-0.6, enhancement=0.5):
    """A network whose output is the constant (lge, enhancement): its last conv has zero weights
    (MONAI's init) so the output is the bias; with prediction_type "sample" that is x0."""
    torch.manual_seed(0)
    model = build_unet(spec)
    with torch.no_grad():
        model.out[2].conv.bias.copy_(torch.tensor([lge, enhancement]))
    return model


def _save(model, spec, path):
    ckpt.save_weights(path, model.state_dict(), {"spec": spec.to_json(), "step": "5"})
    ckpt.write_sha256(path)
    return path


def test_ensemble_of_a_constant_model_gives_known_probabilities(tiny_spec):
    model = _constant_model(tiny_spec, lge=-0.6, enhancement=0.5)
    cine = np.random.default_rng(0).uniform(0, 1, (5, 3, 16, 16)).astype(np.float32)
    out = ensemble(model, tiny_spec, cine, n_samples=3, steps=4, min_area_px=10, progress=False)
    assert out.lgelike_syx.shape == out.enhancement_prob_syx.shape == (5, 16, 16)
    assert np.allclose(out.lgelike_syx, 0.2, atol=1e-5)  # (-0.6 + 1) / 2
    assert np.all(out.enhancement_prob_syx == 1.0)
    assert np.all(out.slice_probability_s == 1.0) and np.all(out.enhancement_area_ks == 256)
    none = ensemble(model, tiny_spec, cine, n_samples=2, steps=2, min_area_px=257, progress=False)
    assert np.all(none.slice_probability_s == 0.0)


def test_ensemble_is_independent_of_batching(tiny_spec):
    torch.manual_seed(1)
    model = build_unet(tiny_spec)
    for p in model.out.parameters():
        torch.nn.init.normal_(p, std=0.1)  # a non-trivial output
    cine = np.random.default_rng(0).uniform(0, 1, (5, 3, 16, 16)).astype(np.float32)
    a = ensemble(model, tiny_spec, cine, n_samples=2, steps=3, batch_size=3, progress=False)
    b = ensemble(model, tiny_spec, cine, n_samples=2, steps=3, batch_size=64, progress=False)
    c = ensemble(model, tiny_spec, cine[2:3], n_samples=2, steps=3, progress=False)
    assert np.allclose(a.lgelike_syx, b.lgelike_syx, atol=1e-5)
    assert np.allclose(a.lgelike_syx[2], c.lgelike_syx[0], atol=1e-5)
    assert 0 < a.enhancement_prob_syx.mean() < 1  # the two samples differ somewhere


def test_wrong_frame_count_is_explained(tiny_spec):
    model = _constant_model(tiny_spec)
    with pytest.raises(ValueError, match="cine has 5 frames but the model was trained on 3"):
        ensemble(model, tiny_spec, np.zeros((1, 5, 16, 16), np.float32), progress=False)


def test_load_model_checks_sha256(tmp_path, tiny_spec):
    path = _save(_constant_model(tiny_spec), tiny_spec, tmp_path / "w.safetensors")
    model, spec, metadata = load_model(path, torch.device("cpu"))
    assert spec == tiny_spec and metadata["step"] == "5"
    (tmp_path / "w.safetensors.sha256").write_text("0" * 64 + "  w.safetensors\n")
    with pytest.raises(ckpt.WeightsChecksumError, match="does not match"):
        load_model(path, torch.device("cpu"))


def test_inference_refuses_weights_of_other_preprocessing(tmp_path, tiny_spec, caplog):
    from cine2lge.model.predict import bound_inputs

    preprocess = {
        "fov_mm": 128,
        "grid_size": 16,
        "frames": 3,
        "intensity_percentiles": [1, 99],
        "pair_tolerance_mm": 5,
        "registration": {"enabled": True},
    }
    record = ckpt.input_record(preprocess, **{"model.enhancement_classes": ["a", "b"]})
    model = _constant_model(tiny_spec)
    path = tmp_path / "w.safetensors"
    ckpt.save_weights(
        path, model.state_dict(), {"spec": tiny_spec.to_json(), "inputs": json.dumps(record)}
    )
    ckpt.write_sha256(path)
    paired = tmp_path / "paired.npz"
    np.savez(paired, cine_styx=np.zeros((1, 3, 16, 16), np.float32))

    def run(preprocess, classes=("b", "a")):
        predict_chunk(
            ["s1"],
            [paired],
            path,
            tmp_path / "chunk.npz",
            torch.device("cpu"),
            n_samples=1,
            steps=1,
            progress=False,
            configured_inputs=bound_inputs(preprocess, list(classes)),
        )

    # Free keys (LGE pairing and registration) may differ; class order does not matter.
    run({**preprocess, "pair_tolerance_mm": 9, "registration": {"enabled": False}})
    with pytest.raises(
        ValueError, match=r"trained with preprocess.fov_mm=128 but the config has 160"
    ):
        run({**preprocess, "fov_mm": 160})
    with pytest.raises(ValueError, match=r"preprocess.intensity_percentiles=\[1, 99\] but"):
        run({**preprocess, "intensity_percentiles": [2, 98]})
    with pytest.raises(ValueError, match=r"model.enhancement_classes=\['a', 'b'\] but"):
        run(preprocess, classes=["a"])

    # Weights from before the record: a warning, not an error.
    _save(model, tiny_spec, path)
    with caplog.at_level("WARNING"):
        run({**preprocess, "fov_mm": 160})
    assert "do not record the preprocessing" in caplog.text


def _identity_geometry(n_slices, size, spacing=2.0, thickness=8.0):
    """Crop rows on the source grid: crop pixel (x, y) of row k = source voxel (x, y, k)."""
    affine = np.diag([spacing, spacing, thickness, 1.0])
    rows = [
        {
            "source_slice": k,
            "origin_mm": [0.0, 0.0, thickness * k],
            "direction": np.eye(3).tolist(),
            "spacing_mm": [spacing, spacing, thickness],
        }
        for k in range(n_slices)
    ]
    return affine, {
        "grid_size": size,
        "cine": {
            "rows": rows,
            "source_shape": [size, size, n_slices],
            "source_affine": affine.tolist(),
        },
    }


def test_chunk_then_subject_outputs(tmp_path, tiny_spec):
    weights = _save(
        _constant_model(tiny_spec, lge=0.0, enhancement=0.5), tiny_spec, tmp_path / "w.safetensors"
    )
    rng = np.random.default_rng(0)
    paired = {}
    for subject, n in (("s1", 3), ("s2", 2)):
        paired[subject] = tmp_path / subject / "paired.npz"
        paired[subject].parent.mkdir()
        np.savez(
            paired[subject],
            cine_styx=rng.uniform(0, 1, (n, 3, 16, 16)).astype(np.float32),
            slice_index=np.arange(n) + 1,
        )
    chunk = tmp_path / "chunk000.npz"
    predict_chunk(
        ["s1", "s2"],
        [paired["s1"], paired["s2"]],
        weights,
        chunk,
        torch.device("cpu"),
        n_samples=2,
        steps=3,
        min_area_px=5,
        progress=False,
    )
    with np.load(chunk) as arrays:
        assert arrays["s1.lgelike_syx"].shape == (3, 16, 16)
        assert arrays["s2.enhancement_area_ks"].shape == (2, 2)

    # s2: 2 crop rows on a source grid with 3 slices; slice_index says rows are slices 1 and 2.
    affine, geometry = _identity_geometry(3, 16)
    for k, row in enumerate(geometry["cine"]["rows"][:2]):
        row["source_slice"] = k + 1
        row["origin_mm"][2] = 8.0 * (k + 1)
    geometry["cine"]["rows"] = geometry["cine"]["rows"][:2]
    (tmp_path / "geometry.json").write_text(json.dumps(geometry))
    cine = nib.Nifti1Image(np.zeros((16, 16, 3, 4), np.float32), affine)
    nib.save(cine, tmp_path / "cine.nii.gz")
    out = tmp_path / "model" / "s2"
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
    lgelike = nib.load(out / "lgelike.nii.gz")
    assert lgelike.shape == (16, 16, 3) and np.allclose(lgelike.affine, affine)
    data = lgelike.get_fdata()
    assert np.all(data[:, :, 0] == 0) and np.allclose(data[:, :, 1:], 0.5, atol=1e-4)
    assert np.allclose(nib.load(out / "enhancement_prob.nii.gz").get_fdata()[:, :, 1:], 1.0)
    table = pd.read_csv(out / "slice_probability.tsv", sep="\t")
    assert table["subject"].tolist() == ["s2", "s2"] and table["slice"].tolist() == [1, 2]
    assert table["probability"].tolist() == [1.0, 1.0]
    with np.load(out / "prediction.npz") as prediction:
        assert float(prediction["subject_probability"]) == 1.0
        assert prediction["enhancement_prob_syx"].shape == (2, 16, 16)
    files = sorted((out / "lgelike_dicom").iterdir())
    assert len(files) == 3 and pydicom.dcmread(files[0]).PatientID == "s2"


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction", "epsilon"])
def test_ddim_with_an_oracle_network_recovers_the_target(tiny_spec, prediction_type):
    """An oracle that knows x0 answers with the exact epsilon / v / x0 of the current sample:
    deterministic DDIM must then land on x0 whatever the prediction type."""
    from dataclasses import replace

    from cine2lge.model.net import build_train_scheduler
    from cine2lge.model.sample import sample_targets

    spec = replace(tiny_spec, prediction_type=prediction_type)
    alphas = build_train_scheduler(spec).alphas_cumprod
    clean = torch.rand(3, 2, 16, 16) * 1.6 - 0.8

    def oracle(x, t):
        a = alphas[t].view(-1, 1, 1, 1)
        sample = x[:, :2]
        noise = (sample - a.sqrt() * clean) / (1 - a).sqrt()
        if prediction_type == "sample":
            return clean
        if prediction_type == "epsilon":
            return noise
        return a.sqrt() * noise - (1 - a).sqrt() * clean

    out = sample_targets(oracle, spec, torch.zeros(3, 3, 16, 16), steps=7, noise_seed=4)
    assert torch.allclose(out, clean, atol=1e-4)
