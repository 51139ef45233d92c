import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.net import build_unet


def test_weights_round_trip_exactly_with_metadata(tmp_path, tiny_spec):
    model = build_unet(tiny_spec)
    path = tmp_path / "w.safetensors"
    ckpt.save_weights(path, model.state_dict(), {"spec": tiny_spec.to_json()})
    loaded, metadata = ckpt.load_weights(path)
    assert metadata["spec"] == tiny_spec.to_json()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert path.read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9c"  # not a pickle


def test_sha256_sidecar_detects_a_changed_file(tmp_path):
    path = tmp_path / "w.safetensors"
    ckpt.save_weights(path, {"a": torch.arange(4.0)}, {})
    digest = ckpt.write_sha256(path)
    assert (tmp_path / "w.safetensors.sha256").read_text() == f"{digest}  w.safetensors\n"
    assert ckpt.verify_sha256(path) == digest
    ckpt.save_weights(path, {"a": torch.arange(5.0)}, {})
    with pytest.raises(ckpt.WeightsChecksumError, match=r"w\.safetensors: sha256 .* not match"):
        ckpt.verify_sha256(path)


def test_missing_sha256_is_an_error(tmp_path):
    path = tmp_path / "w.safetensors"
    ckpt.save_weights(path, {"a": torch.zeros(1)}, {})
    with pytest.raises(ckpt.WeightsChecksumError, match="checksum file .*sha256 not found"):
        ckpt.verify_sha256(path)


def test_rng_states_are_restored(tmp_path):
    import random

    import numpy as np

    states = ckpt.rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    ckpt.restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]


def test_ship_weights_writes_checked_copy_and_card(tmp_path, tiny_spec):
    from cine2lge.model.card import ship_weights
    from cine2lge.model.predict import load_model

    trained = tmp_path / "train" / "model.safetensors"
    trained.parent.mkdir()
    ckpt.save_weights(
        trained,
        build_unet(tiny_spec).state_dict(),
        {"spec": tiny_spec.to_json(), "step": "60", "train_settings": "{}"},
    )
    (tmp_path / "train" / "metrics.tsv").write_text(
        "step\tsplit\tmetric\tvalue\n50\tval\tslice_auc\t0.5\n60\tval\tslice_auc\t0.75\n"
    )
    shipped = tmp_path / "weights" / "demo.safetensors"
    digest = ship_weights(trained, shipped, note="unit test")
    assert ckpt.verify_sha256(shipped) == digest
    card = (tmp_path / "weights" / "MODEL_CARD.md").read_text()
    assert "not for diagnosis" in card and digest in card
    assert "| val | slice_auc | 0.7500 | 60 |" in card
    assert load_model(shipped, torch.device("cpu"))[1] == tiny_spec
