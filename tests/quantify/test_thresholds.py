import numpy as np
import pytest

from cine2lge.quantify import aha
from cine2lge.quantify.remote import remote_reference
from cine2lge.quantify.thresholds import (
    enhanced_maximum,
    lesion_masks,
    probability_masks,
    remove_small_components,
    rule_thresholds,
    truth_masks,
)

from .rings import lge_image, ring, sector

NSD5, NSD2 = {"method": "nsd", "n_sd": 5}, {"method": "nsd", "n_sd": 2}


@pytest.fixture(scope="module")
def heart():
    myocardium, _, rv = ring()
    core = np.repeat(sector(60, 120)[None], 6, 0)  # anterior, full thickness
    grey = np.repeat(sector(120, 140)[None], 6, 0)  # grey rim on the anteroseptal side
    image = lge_image(myocardium, core, grey)
    model = aha.segment_model(myocardium, rv, base_first=True)
    return myocardium, core, grey, image, model


def test_remote_is_the_darkest_unenhanced_segment(heart):
    myocardium, core, grey, image, model = heart
    inferior = myocardium & sector(240, 300)
    image = image.copy()
    image[:2][inferior[:2]] -= 20.0  # basal inferior wall darkest, the rest of it a bit dark
    image[2:][inferior[2:]] -= 10.0
    remote = remote_reference(image, model.segments_syx, scope="subject")
    assert remote.segment_s.tolist() == [4] * 6
    assert remote.mean_s[0] == pytest.approx(80.0, abs=1.0)
    assert remote.sd_s[0] == pytest.approx(20 / np.sqrt(12), rel=0.1)
    per_slice = remote_reference(image, model.segments_syx, scope="slice")
    assert per_slice.segment_s.tolist() == [4, 4, 10, 10, 15, 15]
    assert not (per_slice.mask_syx & (core | grey)).any()


def test_remote_override_pools_the_given_segments(heart):
    _, _, _, image, model = heart
    remote = remote_reference(image, model.segments_syx, segments=[1, 7])
    assert remote.mean_s[0] == pytest.approx(250.0)
    with pytest.raises(ValueError, match="override segments \\[17\\]"):
        remote_reference(image, model.segments_syx, segments=[17])


def test_n_sd_rules_separate_core_and_grey_zone(heart):
    myocardium, core, grey, image, model = heart
    remote = remote_reference(image, model.segments_syx)
    masks = lesion_masks(image, myocardium, remote, NSD5, NSD2, min_component_px=5)
    np.testing.assert_array_equal(masks["hyperintense"], core & myocardium)
    np.testing.assert_array_equal(masks["intermediate"], grey & myocardium)
    np.testing.assert_array_equal(masks["total"], (core | grey) & myocardium)


def test_fwhm_and_percent_of_maximum(heart):
    myocardium, core, grey, image, model = heart
    remote = remote_reference(image, model.segments_syx)
    fwhm = rule_thresholds({"method": "fwhm"}, remote, 250.0)
    np.testing.assert_allclose(fwhm, 125.0)
    masks = lesion_masks(image, myocardium, remote, {"method": "fwhm"}, NSD2)
    np.testing.assert_array_equal(masks["hyperintense"], core & myocardium)
    np.testing.assert_array_equal(masks["intermediate"], grey & myocardium)  # 111.5 < 120 < 125
    masks = lesion_masks(image, myocardium, remote, NSD2, {"method": "fwhm"})
    np.testing.assert_array_equal(masks["hyperintense"], (core | grey) & myocardium)
    assert not masks["intermediate"].any()  # the lower threshold is the lower of the two
    masks = lesion_masks(image, myocardium, remote, {"method": "percent_max", "percent": 60}, None)
    np.testing.assert_array_equal(masks["hyperintense"], core & myocardium)  # 150 < 250
    assert masks["total"].sum() == masks["hyperintense"].sum()


def test_max_based_rules_find_nothing_without_enhancement(heart):
    myocardium, _, _, _, model = heart
    plain = lge_image(myocardium, np.zeros_like(myocardium), np.zeros_like(myocardium), seed=3)
    remote = remote_reference(plain, model.segments_syx)
    masks = lesion_masks(plain, myocardium, remote, {"method": "fwhm"}, None)
    assert not masks["total"].any()
    assert np.isinf(rule_thresholds({"method": "fwhm"}, remote, np.nan)).all()
    with pytest.raises(ValueError, match="method must be one of"):
        rule_thresholds({"method": "otsu"}, remote, 1.0)


def test_small_components_and_enhancement_outside_the_myocardium_are_ignored(heart):
    myocardium, _, _, _, model = heart
    clean = np.zeros_like(myocardium)
    image = lge_image(myocardium, clean, clean, seed=4)
    image[2, 48 - 22 : 48 - 20, 47:49] = 300.0  # 2x2 bright spot in the anterior wall
    image[:, 45:51, 45:51] = 400.0  # bright blood pool (outside the myocardium)
    remote = remote_reference(image, model.segments_syx)
    assert (
        lesion_masks(image, myocardium, remote, NSD5, NSD2, min_component_px=5)["total"].sum() == 0
    )
    kept = lesion_masks(image, myocardium, remote, NSD5, NSD2, min_component_px=4)["total"]
    assert kept.sum() == 4 and kept[2].sum() == 4


def test_components_do_not_connect_across_slices():
    mask = np.zeros((2, 5, 5), bool)
    mask[:, 2, 2] = True
    assert not remove_small_components(mask, 2).any()
    mask[0, 2, 3] = True
    assert remove_small_components(mask, 2).sum() == 2


def test_probability_and_truth_masks():
    myocardium, _, _ = ring()
    probability = np.zeros(myocardium.shape, np.float32)
    probability[:, :48] = 0.7
    assert (
        probability_masks(probability, myocardium, 0.5)["total"].sum() == myocardium[:, :48].sum()
    )
    scheme = {"myocardium": [2, 4, 5], "intermediate": [4], "hyperintense": [5]}
    labels = np.where(myocardium, 2, 0).astype(np.int16)
    labels[:, :40][myocardium[:, :40]] = 5
    labels[:, 40:44][myocardium[:, 40:44]] = 4
    truth = truth_masks(labels, scheme, myocardium)
    assert truth["hyperintense"].sum() == myocardium[:, :40].sum()
    assert truth["intermediate"].sum() == myocardium[:, 40:44].sum()
    assert truth_masks(labels, {"myocardium": [2]}, myocardium) is None


def test_maximum_per_slice_or_per_subject(heart):
    myocardium, core, grey, image, model = heart
    image = image.copy()
    image[3:][core[3:]] = 500.0  # brighter core on the apical half
    remote = remote_reference(image, model.segments_syx)
    per_slice = enhanced_maximum(image, myocardium, remote, scope="slice")
    np.testing.assert_allclose(per_slice, [250, 250, 250, 500, 500, 500])
    np.testing.assert_allclose(enhanced_maximum(image, myocardium, remote, scope="subject"), 500)
    masks = lesion_masks(image, myocardium, remote, {"method": "fwhm"}, None, max_scope="subject")
    assert not masks["total"][:3].any()  # 250 is not above half of 500
    masks = lesion_masks(image, myocardium, remote, {"method": "fwhm"}, None, max_scope="slice")
    np.testing.assert_array_equal(masks["total"], core & myocardium)


def test_weak_maximum_cannot_pull_fwhm_into_normal_myocardium(heart):
    myocardium, _, _, _, model = heart
    blob = np.repeat(sector(80, 100, r_from=17, r_to=23)[None], 6, 0)
    image = lge_image(myocardium, blob, np.zeros_like(blob))
    image[blob] = 115.0  # just above 2 SD (111.5): half of it (57.5) is far below normal signal
    remote = remote_reference(image, model.segments_syx)
    masks = lesion_masks(image, myocardium, remote, {"method": "fwhm"}, None, min_component_px=5)
    np.testing.assert_array_equal(masks["total"], blob)
    # A 3-pixel speck is no enhanced region: no maximum, so no lesion at all.
    speck = np.zeros_like(blob)
    speck[0, 28, 47:50] = True
    image = lge_image(myocardium, speck, np.zeros_like(speck))
    masks = lesion_masks(image, myocardium, remote, {"method": "fwhm"}, None, min_component_px=5)
    assert not masks["total"].any()
