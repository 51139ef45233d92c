from __future__ import annotations

import numpy as np

from cine2lge.segment.postprocess import PostprocessSettings, clean_slice, clean_stack

from .rings import ring_classes

SETTINGS = PostprocessSettings(
    max_closing_px=2, min_cavity_px=4, max_wall_hole_px=6, drop_open_slices=True
)


def test_intact_ring_is_kept_and_stray_blobs_removed():
    truth = ring_classes(48, (24, 24), 8, 12)
    noisy = truth.copy()
    noisy[2:4, 40:42] = 2  # stray myocardium
    noisy[44:46, 2:4] = 3  # stray RV away from the RV
    noisy[24, 24] = 2  # speck of "myocardium" inside the blood pool
    cleaned, record = clean_slice(noisy, SETTINGS)
    assert record["status"] == "ok" and record["ring_closed"]
    assert np.array_equal(cleaned, truth)
    assert record["removed_px"] == 8  # the two stray blobs (the speck became blood pool)


def test_small_gap_is_closed_and_flagged_repaired():
    truth = ring_classes(48, (24, 24), 8, 12, rv=False)
    broken = truth.copy()
    broken[23:25, 32:37] = 0  # 2-pixel gap through the lateral wall
    cleaned, record = clean_slice(broken, SETTINGS)
    assert record["status"] == "repaired" and record["closing_px"] in (1, 2)
    assert record["ring_closed"]
    # The gap is bridged by (thinner) wall, so the cavity is the blood pool give or take the
    # inner half of the gap.
    assert ((cleaned[23:25, 32:37] == 2).sum(axis=1) >= 2).all()
    assert ((cleaned == 1) ^ (truth == 1)).sum() <= 4


def test_wide_gap_stays_open_and_the_slice_is_emptied():
    truth = ring_classes(48, (24, 24), 8, 12, rv=False)
    broken = truth.copy()
    broken[14:35, 30:40] = 0  # a third of the ring missing
    cleaned, record = clean_slice(broken, SETTINGS)
    assert record["status"] == "open" and not record["ring_closed"]
    assert not cleaned.any()
    kept, _ = clean_slice(broken, PostprocessSettings(drop_open_slices=False))
    assert (kept == 2).sum() == (broken == 2).sum()


def test_hole_in_the_wall_is_filled():
    truth = ring_classes(48, (24, 24), 8, 13, rv=False)
    holed = truth.copy()
    holed[24, 34:36] = 0  # two-pixel hole inside the 5-pixel wall, not the cavity
    cleaned, record = clean_slice(holed, SETTINGS)
    assert record["status"] == "ok"
    assert np.array_equal(cleaned, truth)


def test_stack_qc_table_has_one_row_per_slice():
    good = ring_classes(32, (16, 16), 5, 8)
    empty = np.zeros_like(good)
    cleaned, qc = clean_stack(np.stack([good, empty]), SETTINGS)
    assert qc["slice"].tolist() == [0, 1]
    assert qc["status"].tolist() == ["ok", "no_myocardium"]
    assert qc.loc[0, "myocardium_px"] == (good == 2).sum()
    assert not cleaned[1].any()


def test_collect_qc_concatenates_subject_tables(tmp_path):
    import pandas as pd

    from cine2lge.segment.postprocess import collect_qc

    for subject in ("A", "B"):
        pd.DataFrame({"subject": [subject], "slice": [0], "status": ["ok"]}).to_csv(
            tmp_path / f"{subject}.tsv", sep="\t", index=False
        )
    table = collect_qc([tmp_path / "A.tsv", tmp_path / "B.tsv"], tmp_path / "qc.tsv")
    assert table["subject"].tolist() == ["A", "B"]
    assert (tmp_path / "qc.tsv").read_text().startswith("subject\tslice\tstatus")


def open_ring(size: int = 48, centre=(24, 24), inner: float = 8, outer: float = 12):
    """A ring with a third of its wall missing: stays open after closing."""
    classes = ring_classes(size, centre, inner, outer, rv=False)
    classes[centre[0] - 10 : centre[0] + 11, centre[1] + 6 : centre[1] + 16] = 0
    return classes


def test_open_slices_are_dropped_and_listed_the_others_kept():
    good = [ring_classes(48, (24, 24), 8 - k, 12 - k) for k in range(5)]
    stack = np.stack([good[0], open_ring(), good[2], open_ring(), good[4]])
    cleaned, qc = clean_stack(stack, SETTINGS)
    assert qc["status"].tolist() == ["ok", "open", "ok", "open", "ok"]
    assert qc["usable"].tolist() == [True, False, True, False, True]
    assert qc.loc[1, "reason"].startswith("ring still open after closing")
    assert not cleaned[[1, 3]].any()
    for s in (0, 2, 4):
        assert np.array_equal(cleaned[s], stack[s])
    # 3 of 5 LV slices usable: quantified, not flagged.
    assert qc["coverage"].tolist() == [0.6] * 5 and set(qc["flag"]) == {"ok"}


def test_tiny_ring_and_ring_away_from_the_blood_pool_are_implausible():
    tiny = ring_classes(48, (24, 24), 1.6, 2.8, rv=False)  # 12 px of myocardium
    cleaned, record = clean_slice(tiny, SETTINGS)
    assert record["status"] == "implausible" and record["ring_closed"]
    assert record["reason"] == "myocardium 12 px < min_myocardium_px 20"
    assert not record["usable"] and not cleaned.any()
    # A closed ring with an empty cavity, the predicted blood pool elsewhere.
    astray = ring_classes(48, (12, 12), 3, 6, rv=False)
    astray[astray == 1] = 0
    y, x = np.mgrid[:48, :48]
    astray[np.hypot(y - 34, x - 34) < 6] = 1
    _, record = clean_slice(astray, SETTINGS)
    assert record["status"] == "implausible"
    assert record["reason"].startswith("ring encloses 0 % of the predicted blood pool")
    # Flag only: kept when drop_implausible_slices is false.
    kept, record = clean_slice(tiny, PostprocessSettings(drop_implausible_slices=False))
    assert record["status"] == "implausible" and record["usable"]
    assert (kept == 2).sum() == 12


def test_low_coverage_is_flagged():
    rings = [ring_classes(48, (24, 24), 8, 12) for _ in range(6)]
    # One usable slice of six LV slices (the others open): quantified, but flagged.
    stack = np.stack([rings[0], *[open_ring() for _ in range(5)]])
    _, qc = clean_stack(stack, SETTINGS)
    assert qc["usable"].sum() == 1
    assert qc.loc[0, "coverage"] == round(1 / 6, 4) and set(qc["flag"]) == {"low_coverage"}
    # Empty slices beyond the LV do not count; a gap between LV slices does.
    empty = np.zeros_like(rings[0])
    _, qc = clean_stack(np.stack([empty, rings[1], rings[2], empty, empty]), SETTINGS)
    assert qc.loc[0, "coverage"] == 1.0 and qc.loc[0, "flag"] == "ok"
    _, qc = clean_stack(np.stack([rings[0], open_ring(), open_ring(), rings[3]]), SETTINGS)
    assert qc.loc[0, "coverage"] == 0.5 and qc.loc[0, "flag"] == "ok"
    strict = PostprocessSettings(min_coverage=0.75)
    _, qc = clean_stack(np.stack([rings[0], open_ring(), open_ring(), rings[3]]), strict)
    assert qc.loc[0, "flag"] == "low_coverage"
    # A single usable slice is too few even when it is the whole stack.
    _, qc = clean_stack(rings[0][None], SETTINGS)
    assert qc.loc[0, "coverage"] == 1.0 and qc.loc[0, "flag"] == "low_coverage"
    _, qc = clean_stack(np.stack([open_ring(), empty]), SETTINGS)
    assert qc.loc[0, "coverage"] == 0.0 and set(qc["flag"]) == {"no_usable_slice"}


def test_collect_qc_warns_about_flagged_subjects(tmp_path, caplog):
    import pandas as pd

    from cine2lge.segment.postprocess import collect_qc

    for subject, flag in (("A", "ok"), ("B", "low_coverage")):
        pd.DataFrame(
            {
                "subject": [subject] * 2,
                "slice": [0, 0],
                "frame": [0, 1],
                "usable": [True, True],
                "coverage": [0.25, 0.25],
                "flag": [flag, flag],
                "quantified": [False, True],
            }
        ).to_csv(tmp_path / f"{subject}.tsv", sep="\t", index=False)
    with caplog.at_level("WARNING"):
        table = collect_qc([tmp_path / "A.tsv", tmp_path / "B.tsv"], tmp_path / "qc.tsv")
    assert "flag" in table.columns
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["subject B: low_coverage (coverage 0.25 of the LV slices, 1 usable)"]
