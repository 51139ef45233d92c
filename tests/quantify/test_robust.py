"""Issue #18: the configured rules on realistic rings (Rician noise, blur) that the legacy rules
fail: no lesion in a normal heart, weak enhancement is intermediate, an MVO core is infarct, and
an unbiased remote reference."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cine2lge.quantify import aha
from cine2lge.quantify.remote import remote_reference
from cine2lge.quantify.subject import intensity_masks, learned_masks, lesion_method
from cine2lge.quantify.thresholds import enclosed_cores

from .rings import INNER_PX, OUTER_PX, SPACING_MM, rician_lge, ring, sector

MIN_PX = int(np.ceil(10.0 / (SPACING_MM[1] * SPACING_MM[2])))


@pytest.fixture(scope="module")
def settings(repo):
    return yaml.safe_load((repo / "config/config.yaml").read_text())["quantify"]


@pytest.fixture(scope="module")
def heart():
    myocardium, blood, rv = ring()
    return myocardium, blood, aha.segment_model(myocardium, rv, base_first=True)


def percent(mask, myocardium):
    return 100.0 * (mask & myocardium).sum() / myocardium.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_heart_with_rician_noise_and_blur_has_no_lesion(heart, settings, seed):
    myocardium, blood, model = heart
    image = rician_lge(myocardium, blood, [], seed=seed)
    masks = intensity_masks("normal", image, myocardium, model, settings, MIN_PX)
    assert percent(masks["total"], myocardium) < 1.0
    # The legacy rules (darkest segment, 2 SD, no detection step) call noise and the partial
    # volume of the bright blood pool scar: this is what the test is there to catch.
    legacy = intensity_masks(
        "normal", image, myocardium, model, {**settings, "legacy_rules": True}, MIN_PX
    )
    assert percent(legacy["total"], myocardium) > 1.0


def test_weak_lesion_is_intermediate_not_hyperintense(heart, settings):
    myocardium, blood, model = heart
    strong = np.zeros_like(myocardium)
    strong[:3] = sector(60, 120)  # a bright infarct on the basal slices: the heart has LGE
    weak = np.zeros_like(myocardium)
    weak[3:] = sector(200, 250, r_from=INNER_PX + 2, r_to=OUTER_PX - 2)  # faint, mid/apex
    image = rician_lge(myocardium, blood, [(strong, 300.0), (weak, 105.0)], seed=3)
    masks = intensity_masks("weak", image, myocardium, model, settings, MIN_PX)
    weak_px = weak.sum()
    # About 2.6 SD above remote on average: mostly intermediate, a few noisy pixels above 3 SD.
    assert masks["intermediate"][weak].sum() > 0.45 * weak_px
    assert masks["hyperintense"][weak].sum() < 0.2 * weak_px
    assert masks["hyperintense"][strong].sum() > 0.8 * strong.sum()
    # Legacy: FWHM floored at 2 SD, where the intermediate class starts: all hyperintense.
    legacy = intensity_masks(
        "weak", image, myocardium, model, {**settings, "legacy_rules": True}, MIN_PX
    )
    assert legacy["hyperintense"][weak].sum() > 0.5 * weak_px
    assert legacy["intermediate"][weak].sum() < 0.05 * weak_px


def test_microvascular_obstruction_core_is_counted_as_infarct(heart, settings):
    myocardium, blood, model = heart
    infarct = np.repeat(sector(50, 130)[None], 6, 0)
    # Dark no-reflow core: subendocardial, enclosed by enhancement laterally and epicardially.
    core = np.repeat(sector(70, 110, r_from=INNER_PX, r_to=INNER_PX + 5)[None], 6, 0)
    image = rician_lge(myocardium, blood, [(infarct, 300.0), (core, 20.0)], seed=4)
    masks = intensity_masks("mvo", image, myocardium, model, settings, MIN_PX)
    assert masks["total"][core].mean() > 0.9
    # Its dark interior joins the hyperintense class; the blurred rim around it (between the
    # core and the bright infarct or cavity) is above 2 SD but below the half maximum.
    assert masks["hyperintense"][core].mean() > 0.6
    # The whole infarct, plus the blur's partial volume at its edges (2 SD is a low cut).
    assert 0 < percent(masks["total"], myocardium) - percent(infarct, myocardium) < 7
    legacy = intensity_masks(
        "mvo", image, myocardium, model, {**settings, "legacy_rules": True}, MIN_PX
    )
    assert legacy["total"][core].mean() < 0.5  # only the blurred rim


def test_enclosed_cores_leave_wall_spanning_normal_myocardium_alone():
    myocardium, _, _ = ring(shape=(1, 96, 96))
    lesion = np.zeros_like(myocardium)
    lesion[0] = sector(0, 80) | sector(100, 180)  # two transmural infarcts
    hole = sector(80, 100, r_from=INNER_PX + 3, r_to=OUTER_PX - 3)  # not spanning: enclosed
    lesion[0] |= sector(80, 100) & ~hole
    cores = enclosed_cores(lesion & myocardium, myocardium)
    np.testing.assert_array_equal(cores[0], hole & myocardium[0])
    # Normal myocardium between two transmural infarcts spans the wall: it is not MVO.
    lesion[0] = sector(0, 80) | sector(100, 180)
    assert not enclosed_cores(lesion & myocardium, myocardium).any()


def test_pooled_remote_is_unbiased_where_the_darkest_segment_is_not(heart):
    myocardium, _, model = heart
    rng = np.random.default_rng(5)
    image = np.where(myocardium, rng.normal(100.0, 10.0, myocardium.shape), 0.0)
    offsets = np.array([0, -4, -2, 0, 1, 2, 3, -3, -1, 0, 2, 4, -2, -4, 0, 1, 2])  # 0.1-0.4 SD
    image = image + np.where(myocardium, offsets[model.segments_syx], 0.0)
    darkest = remote_reference(image, model.segments_syx, estimator="darkest")
    pooled = remote_reference(image, model.segments_syx, estimator="pooled", pool_n_sd=1.0)
    assert np.all(darkest.mean_s < 98.0)  # biased low by the darkest segment's offset
    np.testing.assert_allclose(pooled.mean_s, 100.0, atol=1.2)
    np.testing.assert_allclose(pooled.sd_s, 10.0, rtol=0.1)
    assert pooled.mask_syx.sum() > 3 * darkest.mask_syx.sum()
    subject = remote_reference(image, model.segments_syx, estimator="pooled", scope="subject")
    assert subject.mean_s[0] == pytest.approx(100.0, abs=1.2)
    with pytest.raises(ValueError, match="estimator must be one of"):
        remote_reference(image, model.segments_syx, estimator="median")


def test_remote_pool_leaves_an_enhanced_segment_out(heart):
    myocardium, _, model = heart
    rng = np.random.default_rng(6)
    image = np.where(myocardium, rng.normal(100.0, 10.0, myocardium.shape), 0.0)
    enhanced = np.isin(model.segments_syx, [1, 7, 13])
    image[enhanced] += 60.0
    pooled = remote_reference(image, model.segments_syx, estimator="pooled")
    assert not (pooled.mask_syx & enhanced).any()
    np.testing.assert_allclose(pooled.mean_s, 100.0, atol=1.5)


def test_lesion_method_registry_names_the_known_methods(settings):
    assert lesion_method(settings) is learned_masks  # config/config.yaml's default
    assert lesion_method({**settings, "method": "rules"}) is intensity_masks
    without = {key: value for key, value in settings.items() if key != "method"}
    assert lesion_method(without) is intensity_masks  # settings without the key: the rules
    with pytest.raises(ValueError, match="quantify.method 'cnn' is not available"):
        lesion_method({**settings, "method": "cnn"})
