"""Table 1 from sidecars."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cine2lge.stats import cohort


@pytest.mark.parametrize(
    ("value", "years"),
    [
        ("063Y", 63.0),
        ("006M", 0.5),
        (45, 45.0),
        ("90+", 90.0),
        ("", np.nan),
        (None, np.nan),
        ("abc", np.nan),
    ],
)
def test_age_years(value, years):
    assert cohort.age_years(value) == pytest.approx(years, nan_ok=True)


def test_table1_counts_ages_sex_field_strength(tmp_path):
    spec = {  # subject: split, site, vendor, tesla, age, sex, slices
        "a": ("internal_test", "siteA", "SIEMENS", 1.5, "060Y", "M", 10),
        "b": ("internal_test", "siteB", "GE MEDICAL SYSTEMS", 3.0, "040Y", "F", 8),
        "c": ("internal_test", "siteA", "SIEMENS", 1.5, "", "F", 9),
        "d": ("external_test", "siteC", "Philips", 3.0, "050Y", "M", 11),
    }
    rows, sidecars, paired = {}, {}, {}
    for subject, (split, site, vendor, tesla, age, sex, n) in spec.items():
        rows[subject] = {"split": split, "site": site}
        cine = tmp_path / f"{subject}_cine.json"
        cine.write_text(
            json.dumps(
                {
                    "Manufacturer": vendor,
                    "MagneticFieldStrength": tesla,
                    "PatientAge": age,
                    "PatientSex": sex,
                }
            )
        )
        lge = tmp_path / f"{subject}_lge.json"
        lge.write_text(json.dumps({"Manufacturer": vendor, "PatientAgeYears": 99.0}))
        sidecars[subject] = [cine, lge]
        paired[subject] = tmp_path / f"{subject}.npz"
        np.savez(
            paired[subject],
            slice_index=np.arange(n + 2),
            paired=np.r_[np.ones(n, bool), np.zeros(2, bool)],
        )  # 2 cine-only slices
    records = cohort.read_records(rows, sidecars, paired)
    # empty cine age falls back to the LGE sidecar's
    assert records.set_index("subject").loc["c", "age_years"] == 99.0
    table = cohort.table1(records, ["internal_test", "external_test"])
    internal = table.query("split == 'internal_test' and by == 'all'").iloc[0]
    assert internal["n_subjects"] == 3 and internal["n_images"] == 27
    assert internal["age_mean"] == pytest.approx((60 + 40 + 99) / 3)
    assert internal["n_female"] == 2 and internal["pct_female"] == pytest.approx(200 / 3)
    assert internal["field_strength"] == "1.5 T: 2; 3 T: 1"
    site_a = table.query("split == 'internal_test' and by == 'site' and group == 'siteA'")
    assert site_a["n_subjects"].iloc[0] == 2
    vendors = table.query("split == 'internal_test' and by == 'vendor'")["group"].tolist()
    assert vendors == ["GE MEDICAL SYSTEMS", "SIEMENS"]
    assert table["split"].tolist()[0] == "internal_test"


def test_bad_sidecar_names_subject_and_file(tmp_path):
    bad = tmp_path / "cine.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="s7: sidecar .*cine.json is not valid JSON"):
        cohort.read_records({"s7": {}}, {"s7": [bad]}, {"s7": tmp_path / "x.npz"})
