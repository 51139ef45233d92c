import numpy as np
import pytest

from cine2lge.quantify import aha

from .rings import CENTRE_YX, ring


def point(theta_deg, radius=20.0):
    """(y, x) pixel at a screen angle and radius from the ring centre."""
    t = np.radians(theta_deg)
    return int(round(CENTRE_YX[0] - radius * np.sin(t))), int(
        round(CENTRE_YX[1] + radius * np.cos(t))
    )


def test_rv_on_the_left_puts_the_septum_at_180_degrees():
    myocardium, _, rv = ring()
    model = aha.segment_model(myocardium, rv)
    np.testing.assert_allclose(model.septum_deg, 180.0, atol=2.0)
    assert model.septum_source == ["rv"] * 6


@pytest.mark.parametrize(
    ("theta", "base", "mid", "apex"),
    [
        (90, 1, 7, 13),
        (150, 2, 8, 14),
        (210, 3, 9, 14),
        (270, 4, 10, 15),
        (330, 5, 11, 16),
        (30, 6, 12, 16),
        (0, 6, 12, 16),
        (180, 3, 9, 14),
    ],
)
def test_segment_of_known_angles_standard_display(theta, base, mid, apex):
    myocardium, _, rv = ring()
    model = aha.segment_model(myocardium, rv, base_first=True)
    y, x = point(theta + 1.0)  # off the exact boundaries
    assert model.level_s.tolist() == [0, 0, 1, 1, 2, 2]
    assert model.segments_syx[:, y, x].tolist() == [base, base, mid, mid, apex, apex]


def test_rotated_rv_rotates_the_segments():
    """RV centred up-left (135 deg): septum 135, so anterior (segment 1) is centred at 45 deg."""
    myocardium, _, _ = ring()
    y, x = np.mgrid[:96, :96].astype(float)
    t = np.radians(135.0)
    centre = (CENTRE_YX[0] - 30 * np.sin(t), CENTRE_YX[1] + 30 * np.cos(t))
    rv = (np.hypot(y - centre[0], x - centre[1]) < 14) & (np.hypot(y - 48, x - 48) > 25)
    model = aha.segment_model(myocardium, np.repeat(rv[None], 6, 0), base_first=True)
    np.testing.assert_allclose(model.septum_deg, 135.0, atol=2.0)
    assert model.segments_syx[0][point(46)] == 1
    assert model.segments_syx[0][point(14)] == 6
    assert model.segments_syx[0][point(76)] == 2


def test_without_rv_the_fallback_angle_is_used():
    myocardium, _, _ = ring()
    model = aha.segment_model(myocardium, None, fallback_septum_deg=90.0, base_first=True)
    assert model.septum_source == ["fallback"] * 6
    # Septum up: anteroseptal just clockwise (smaller theta), inferoseptal just counterclockwise.
    assert model.segments_syx[0][point(85)] == 2
    assert model.segments_syx[0][point(95)] == 3


def test_slices_without_rv_contact_use_the_mean_of_the_others():
    myocardium, _, rv = ring()
    rv[4:] = False
    model = aha.segment_model(myocardium, rv)
    assert model.septum_source == ["rv"] * 4 + ["rv-mean"] * 2
    np.testing.assert_allclose(model.septum_deg[4:], 180.0, atol=2.0)


def test_mirrored_image_numbers_clockwise_when_anterior_is_down():
    myocardium, _, rv = ring()
    model = aha.segment_model(myocardium, rv, base_first=True, anterior_deg=270.0)
    assert model.direction == -1
    assert model.segments_syx[0][point(271)] == 1
    assert model.segments_syx[0][point(211)] == 2


def test_anterior_angle_from_direction_cosines():
    # Crop x axis = patient left (R->L is -x in RAS), crop y axis = posterior: anterior is up.
    direction = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    assert aha.anterior_angle_deg(direction) == pytest.approx(90.0)


def test_slice_levels_follow_the_shrinking_apex():
    from .rings import polar

    radius, _ = polar()
    base_to_apex = np.stack([(radius >= 10 - k) & (radius < 25 - 2 * k) for k in range(6)])
    assert aha.slice_levels(base_to_apex).tolist() == [0, 0, 1, 1, 2, 2]
    assert aha.slice_levels(base_to_apex[::-1]).tolist() == [2, 2, 1, 1, 0, 0]
    assert aha.slice_levels(base_to_apex[::-1], base_first=True).tolist() == [0, 0, 1, 1, 2, 2]
    with_empty = np.concatenate([np.zeros_like(base_to_apex[:1]), base_to_apex])
    assert aha.slice_levels(with_empty).tolist() == [-1, 0, 0, 1, 1, 2, 2]


def test_contact_arc_across_zero():
    assert aha.contact_arc_deg(np.array([350.0, 355.0, 0.0, 5.0, 10.0])) == (350.0, 10.0)
    assert aha.contact_arc_deg(np.array([5.0])) is None
