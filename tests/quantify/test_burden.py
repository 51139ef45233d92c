import numpy as np
import pytest

from cine2lge.quantify import aha
from cine2lge.quantify.burden import burden_table, voxel_volume_ml

from .rings import INNER_PX, OUTER_PX, SPACING_MM, ring, sector


def table_for(lesion_yx, base_first=True):
    myocardium, _, rv = ring()
    model = aha.segment_model(myocardium, rv, base_first=base_first)
    lesion = np.repeat(lesion_yx[None], 6, 0) & myocardium
    table = burden_table(
        {"total": lesion},
        myocardium,
        model.segments_syx,
        model.angle_syx,
        model.radius_syx,
        SPACING_MM,
    )
    return table.set_index(["region", "region_id"]), lesion


def test_known_lesion_volume_mass_and_percent():
    table, _ = table_for(sector(60, 120))
    expected_ml = np.pi * (OUTER_PX**2 - INNER_PX**2) / 6 * 1.5 * 1.5 * 8.0 * 6 / 1000.0
    subject = table.loc[("subject", "all")]
    assert subject["volume_ml"] == pytest.approx(expected_ml, rel=0.03)
    assert subject["mass_g"] == pytest.approx(1.05 * subject["volume_ml"])
    assert subject["percent_lv"] == pytest.approx(100 / 6, rel=0.03)
    assert np.isnan(subject["transmurality"])


def test_known_segments_and_additivity():
    table, _ = table_for(sector(60, 120))
    segments = table.loc["segment"]["percent_region"]
    assert segments["1"] == pytest.approx(100.0, abs=3) and segments["7"] == pytest.approx(
        100.0, abs=3
    )
    assert segments["13"] == pytest.approx(100 * 60 / 90, abs=3)  # apex anterior spans 90 deg
    assert segments.drop(["1", "7", "13"]).max() < 3.0
    subject = table.loc[("subject", "all"), "volume_ml"]
    assert table.loc["segment", "volume_ml"].sum() == pytest.approx(subject)
    assert table.loc["slice", "volume_ml"].sum() == pytest.approx(subject)
    assert table.loc["slice"].index.tolist() == [str(s) for s in range(6)]


def test_transmurality_measures_wall_thickness():
    half = sector(60, 120, r_to=(INNER_PX + OUTER_PX) / 2)  # subendocardial half of the wall
    table, _ = table_for(half)
    assert table.loc[("segment", "1"), "transmurality"] == pytest.approx(0.5, abs=0.05)
    assert table.loc[("segment", "4"), "transmurality"] == 0.0
    full, _ = table_for(sector(60, 120))
    assert full.loc[("segment", "7"), "transmurality"] == pytest.approx(1.0, abs=0.03)


def test_voxel_volume():
    assert voxel_volume_ml((10.0, 1.0, 2.0)) == pytest.approx(0.02)
