import json
import time

import numpy as np
import pandas as pd
import pytest

from cine2lge.quantify.subject import collect_tables, crop_spacing_mm, quantify_subject

from .rings import lge_image, ring, sector

SCHEME = {
    "blood_pool": [1],
    "myocardium": [2, 4, 5],
    "right_ventricle": [3],
    "intermediate": [4],
    "hyperintense": [5],
}
SETTINGS = {
    "hyperintense": {"method": "nsd", "n_sd": 5},
    "intermediate": {"method": "nsd", "n_sd": 2},
    "min_component_mm2": 10.0,
    "remote": {"scope": "slice", "min_pixels": 20, "segments": []},
    "probability_threshold": 0.5,
    "aha": {"base_first": "auto", "direction": "auto", "fallback_septum_deg": 180.0},
}


def geometry(n_slices, slice_mm=8.0, thickness_mm=6.0):
    # Crop x = patient left (-R), crop y = posterior (-A): anterior is up, the standard display.
    direction = np.stack([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]], 1)
    rows = [
        {"spacing_mm": [1.5, 1.5, thickness_mm], "direction": direction.tolist(),
         "centre_mm": [3.0, 2.0, slice_mm * k], "origin_mm": [0.0, 0.0, slice_mm * k]}
        for k in range(n_slices)
    ]  # fmt: skip
    return {"grid_size": 96, "lge": {"rows": rows}}


@pytest.fixture
def subject_files(tmp_path):
    myocardium, blood, rv = ring()
    core = np.repeat(sector(60, 120)[None], 6, 0) & myocardium
    grey = np.repeat(sector(120, 140)[None], 6, 0) & myocardium
    labels = np.zeros(myocardium.shape, np.int16)
    labels[blood], labels[rv], labels[myocardium] = 1, 3, 2
    labels[grey], labels[core] = 4, 5
    lge = lge_image(myocardium, core, grey)
    probability = (core | grey).astype(np.float32) * 0.9
    np.savez(tmp_path / "paired.npz", lge_syx=lge, labels_syx=labels)
    np.savez(tmp_path / "prediction.npz", lgelike_syx=lge, enhancement_prob_syx=probability)
    (tmp_path / "geometry.json").write_text(json.dumps(geometry(6)))
    return tmp_path, core, grey


def test_subject_table_has_every_source_and_agrees_with_truth(subject_files):
    folder, core, grey = subject_files
    started = time.perf_counter()
    quantify_subject(
        "S01", folder / "paired.npz", folder / "geometry.json", folder / "prediction.npz",
        SCHEME, SETTINGS, folder / "out/lesions.tsv", folder / "out/bullseye.png",
    )  # fmt: skip
    assert time.perf_counter() - started < 5.0  # includes the plot; arrays alone well under 1 s
    written = pd.read_csv(folder / "out/lesions.tsv", sep="\t", dtype={"region_id": str})
    assert list(written.columns[:4]) == ["subject", "source", "rule", "myocardium_source"]
    assert set(written["source"]) == {"lge", "lgelike", "probability", "truth"}
    assert (folder / "out/bullseye.png").read_bytes()[:4] == b"\x89PNG"
    subject = written[written["region"] == "subject"].set_index(["source", "class"])
    voxel_ml = 8.0 * 1.5 * 1.5 / 1000
    assert subject.loc[("lge", "hyperintense"), "volume_ml"] == pytest.approx(core.sum() * voxel_ml)
    assert subject.loc[("lge", "intermediate"), "volume_ml"] == pytest.approx(grey.sum() * voxel_ml)
    for lesion_class in ("hyperintense", "intermediate", "total"):
        assert subject.loc[("lge", lesion_class), "mass_g"] == pytest.approx(
            subject.loc[("truth", lesion_class), "mass_g"]
        )
    assert subject.loc[("probability", "total"), "volume_ml"] == pytest.approx(
        (core | grey).sum() * voxel_ml
    )
    assert ("probability", "hyperintense") not in subject.index
    assert subject.loc[("lge", "total"), "rule"] == "nsd5/nsd2"
    segment_1 = written.query("source == 'truth' and region == 'segment' and region_id == '1'")
    assert segment_1.set_index("class").loc["hyperintense", "percent_region"] > 95.0


def test_geometry_spacing_and_anterior_direction():
    spacing, anterior = crop_spacing_mm(geometry(4, slice_mm=10.0, thickness_mm=8.0))
    assert spacing == (10.0, 1.5, 1.5)
    assert anterior == pytest.approx(90.0)
    spacing, _ = crop_spacing_mm(geometry(1, thickness_mm=8.0))
    assert spacing[0] == 8.0


def test_unusable_geometry_and_shape_mismatch_are_named(subject_files):
    folder, _, _ = subject_files
    (folder / "bad.json").write_text(json.dumps({"lge": {"rows": [None]}}))
    with pytest.raises(ValueError, match="subject S01: .*bad.json: unusable crop geometry"):
        quantify_subject(
            "S01", folder / "paired.npz", folder / "bad.json", None, SCHEME, SETTINGS,
            folder / "t.tsv", folder / "b.png",
        )  # fmt: skip
    small = np.zeros((6, 8, 8), np.float32)
    np.savez(folder / "small.npz", lgelike_syx=small, enhancement_prob_syx=small)
    with pytest.raises(ValueError, match="subject S01: lgelike has shape \\(6, 8, 8\\)"):
        quantify_subject(
            "S01", folder / "paired.npz", folder / "geometry.json", folder / "small.npz",
            SCHEME, SETTINGS, folder / "t.tsv", folder / "b.png",
        )  # fmt: skip


def test_collect_tables(subject_files, tmp_path):
    folder, _, _ = subject_files
    paths = []
    for subject in ("S01", "S02"):
        quantify_subject(
            subject, folder / "paired.npz", folder / "geometry.json", None, SCHEME, SETTINGS,
            folder / subject / "lesions.tsv", folder / subject / "bullseye.png",
        )  # fmt: skip
        paths.append(folder / subject / "lesions.tsv")
    cohort = collect_tables(paths, tmp_path / "tables/lesions.tsv")
    assert sorted(set(cohort["subject"])) == ["S01", "S02"]
    assert len(cohort) == 2 * len(pd.read_csv(paths[0], sep="\t"))
