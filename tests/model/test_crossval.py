"""Fine-tuning from trained weights (also with an added conditioning channel) and the subject-wise
cross-validation on paired real-data-like subjects (synthetic rings with scar labels)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cine2lge.model import checkpoint as ckpt
from cine2lge.model.crossval import (
    Sampling,
    SubjectPairs,
    cross_validate,
    paired_slices,
    summarise,
)
from cine2lge.model.net import build_unet
from cine2lge.model.train import Trainer, load_initial_weights

from ..segment.rings import ring_classes

MYOPS = {
    "blood_pool": [500],
    "myocardium": [200, 1220, 2221],
    "right_ventricle": [600],
    "intermediate": [1220],
    "hyperintense": [2221],
}
QUANTIFY = {
    "hyperintense": {"method": "fwhm"},
    "intermediate": {"method": "nsd", "n_sd": 2},
    "min_component_mm2": 0.0,
    "remote": {"min_pixels": 4},
}


def _shipped(tmp_path, spec) -> tuple[torch.nn.Module, str]:
    torch.manual_seed(3)
    model = build_unet(spec).eval()
    path = tmp_path / "trained.safetensors"
    ckpt.save_weights(path, model.state_dict(), {"spec": spec.to_json()})
    ckpt.write_sha256(path)
    return model, path


def test_weights_with_fewer_conditioning_channels_start_a_model_that_ignores_the_new_one(
    tmp_path, tiny_spec
):
    trained, path = _shipped(tmp_path, tiny_spec)
    wider = replace(
        tiny_spec, condition_channels=tiny_spec.condition_channels + 1, extra_conditions=("t2",)
    )
    model = build_unet(wider).eval()
    load_initial_weights(model, wider, path)
    x = torch.randn(2, 2 + tiny_spec.condition_channels, *tiny_spec.image_size)
    t2 = torch.randn(2, 1, *tiny_spec.image_size)
    t = torch.tensor([10, 60])
    with torch.no_grad():
        expected, got = trained(x, t), model(torch.cat([x, t2], dim=1), t)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_weights_of_another_network_are_refused(tmp_path, tiny_spec):
    _, path = _shipped(tmp_path, tiny_spec)
    other = replace(tiny_spec, image_size=(32, 32))
    with pytest.raises(ValueError, match="does not fit the configured"):
        load_initial_weights(build_unet(other), other, path)
    fewer = replace(tiny_spec, condition_channels=1)
    with pytest.raises(ValueError, match="does not fit the configured"):
        load_initial_weights(build_unet(fewer), fewer, path)
    # One more cine frame is not an appended contrast: the frames would shift meaning.
    more_frames = replace(tiny_spec, condition_channels=tiny_spec.condition_channels + 1)
    with pytest.raises(ValueError, match="does not fit the configured"):
        load_initial_weights(build_unet(more_frames), more_frames, path)


def test_trainer_fine_tunes_from_the_given_weights(
    tmp_path, tiny_spec, tiny_settings, tiny_dataset
):
    trained, path = _shipped(tmp_path, tiny_spec)
    trainer = Trainer(
        tiny_spec,
        tiny_settings,
        tiny_dataset[0],
        None,
        tmp_path / "ft",
        torch.device("cpu"),
        init_weights=path,
    )
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(trainer.model.state_dict()[name], value)
        torch.testing.assert_close(trainer.ema.module.state_dict()[name], value)


def _subject(name: str, scar: bool, seed: int, size: int = 16) -> SubjectPairs:
    rng = np.random.default_rng(seed)
    classes = np.stack(
        [ring_classes(size, (8 + rng.uniform(-1, 1), 8), 3.5, 6.5) for _ in range(3)]
    )
    labels = np.choose(classes, [0, 500, 200, 600]).astype(np.int16)
    lge = np.where(classes == 1, 0.6, 0.1).astype(np.float32)
    if scar:  # a transmural scar wedge in the upper wall of two slices
        wedge = (classes == 2) & (np.mgrid[:3, :size, :size][1] < 6)
        wedge[2] = False
        labels[wedge], lge[wedge] = 2221, 0.95
    cine = np.clip(
        np.where(classes == 1, 0.8, 0.3)[:, None].repeat(3, 1)
        + rng.normal(0, 0.02, (3, 3, size, size)),
        0,
        1,
    ).astype(np.float32)
    return SubjectPairs(name, cine, lge, labels, 2.0)


def test_cross_validation_scores_every_subject_once_on_a_model_that_did_not_see_it(
    tmp_path, tiny_spec, tiny_settings
):
    subjects = [_subject(f"s{i}", scar=i % 2 == 0, seed=i) for i in range(4)]
    training = paired_slices(subjects, [2221])
    assert len(training) == 12 and training.enhancement_syx.sum() > 0
    settings = replace(tiny_settings, steps=2, checkpoint_every=2, val_every=100)
    tables = cross_validate(
        subjects,
        2,
        tiny_spec,
        settings,
        Sampling(2, 2, 0, 8, 1),
        MYOPS,
        QUANTIFY,
        ["hyperintense"],
        tmp_path / "cv",
        torch.device("cpu"),
    )
    slices, burden = tables["slices"], tables["burden"]
    assert sorted(slices["subject"].unique()) == ["s0", "s1", "s2", "s3"]
    assert len(slices) == 12  # 3 slices per subject, each scored once
    assert slices.groupby("subject")["fold"].nunique().eq(1).all()
    assert slices["scar_positive"].sum() == 4  # two scar slices in each of s0 and s2
    assert slices["probability"].between(0, 1).all()
    assert set(burden["source"]) == {"lge", "lgelike", "probability", "truth"}
    # Each fold's checkpoints lie in its own folder: the held-out subjects never trained it.
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == ["fold0", "fold1"]
    summary = summarise(slices, burden)
    auc = summary[summary["metric"] == "slice_auc"].iloc[0]
    assert auc["n"] == 12 and 0 <= auc["value"] <= 1
    assert {"lgelike vs lge", "lge vs truth"} <= set(summary["comparison"])
    truth_vs_lge = summary[
        (summary["comparison"] == "lge vs truth")
        & (summary["level"] == "slice")
        & (summary["class"] == "hyperintense")
    ]
    # The synthetic LGE is bright exactly on the scar label: real-LGE burden follows the truth.
    assert truth_vs_lge["value"].iloc[0] > 0.9


@pytest.mark.realdata
def test_myops_t2_channel_is_the_t2_cropped_like_the_lge(shared_data, repo, tmp_path):
    """Real data: with --t2, the extra channel is the MyoPS T2 (co-registered with the DE)
    cropped on the DE's rows, in [0, 1], and it differs from the LGE it is not."""
    import yaml

    from cine2lge.model.crossval import load_myops_pairs, myops_cases
    from cine2lge.preprocess.subject import Settings, preprocess_subject
    from cine2lge.segment.evaluate import myops_preprocess_section

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    myocardium = config["label_schemes"]["myops"]["myocardium"]
    root = shared_data / "myops2020"
    (pairs,) = load_myops_pairs(
        root, config["preprocess"], myocardium, tmp_path, t2=True, numbers=["101"]
    )
    frames = config["preprocess"]["frames"]
    assert pairs.condition_scyx.shape[1] == frames + 1
    t2 = pairs.condition_scyx[:, frames]
    assert 0 <= t2.min() and t2.max() <= 1 and t2.std() > 0.05
    # The same crop as the T2 taken as the "LGE" of a run (the DE's rows: same grid).
    (case,) = myops_cases(root, ["101"])
    settings = Settings.from_config(myops_preprocess_section(config["preprocess"]))
    as_lge = preprocess_subject(
        "myops101", case["C0"], settings, case["T2"], case["labels"], myocardium
    )
    np.testing.assert_allclose(t2, as_lge.arrays["lge_syx"][as_lge.arrays["paired"]], atol=1e-5)
    assert np.abs(t2 - pairs.lge_syx).mean() > 0.05
