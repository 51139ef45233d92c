import pytest
import torch

from cine2lge.model.net import (
    ModelSpec,
    build_train_scheduler,
    build_unet,
    count_parameters,
    training_target,
)


def test_unet_maps_target_plus_condition_to_two_channels(tiny_spec):
    model = build_unet(tiny_spec)
    x = torch.randn(2, 2 + tiny_spec.condition_channels, 16, 16)
    out = model(x, torch.tensor([0, 99]))
    assert out.shape == (2, 2, 16, 16)


def test_default_architecture_is_small_enough_for_cpu():
    spec = ModelSpec(condition_channels=8)
    assert 1_000_000 < count_parameters(build_unet(spec)) < 3_500_000


def test_spec_json_round_trip_and_list_inputs_compare_equal(tiny_spec):
    assert ModelSpec.from_json(tiny_spec.to_json()) == tiny_spec
    from_lists = ModelSpec(
        condition_channels=3,
        channels=[16, 32],
        attention_levels=[False, True],
        num_res_blocks=1,
        norm_num_groups=16,
        num_head_channels=16,
        num_train_timesteps=100,
        image_size=[16, 16],
    )
    assert from_lists == tiny_spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": (32, 48), "norm_num_groups": 32}, "divisible by norm_num_groups"),
        (
            {
                "image_size": (62, 62),
                "channels": (32, 64, 64),
                "attention_levels": (False, False, True),
            },
            "divisible by 4",
        ),
        ({"prediction_type": "x0"}, "prediction_type"),
        ({"channels": (32, 64)}, "same length"),
    ],
)
def test_invalid_specs_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(condition_channels=8, **kwargs)


def test_training_targets_match_prediction_type(tiny_spec):
    clean, noise = torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    t = torch.tensor([10])
    sched = build_train_scheduler(tiny_spec)
    assert torch.equal(training_target(sched, clean, noise, t), clean)
    sched.prediction_type = "epsilon"
    assert torch.equal(training_target(sched, clean, noise, t), noise)
    sched.prediction_type = "v_prediction"
    alpha = sched.alphas_cumprod[10]
    # v = sqrt(a) * noise - sqrt(1 - a) * x0
    expected = -(1 - alpha).sqrt() * clean
    assert torch.allclose(training_target(sched, clean, noise, t), expected)
