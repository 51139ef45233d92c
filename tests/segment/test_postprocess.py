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
