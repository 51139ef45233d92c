"""Subject sheet and config validation: bad input fails with a message naming row and column."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from cine2lge.phantom.cohort import demo_sheet
from cine2lge.sheet import SheetError, read_sheet, validate_sheet


@pytest.fixture()
def schemas(repo):
    return repo / "workflow" / "schemas"


@pytest.fixture()
def label_schemes(repo):
    return yaml.safe_load((repo / "config" / "config.yaml").read_text())["label_schemes"]


def test_shipped_sheet_is_the_default_demo_cohort(repo):
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    shipped = read_sheet(repo / config["subjects"])
    expected = demo_sheet(config["demo"]["n_subjects"], t2=config["demo"]["t2"])
    shipped = shipped.reset_index(drop=True)
    pd.testing.assert_frame_equal(shipped[list(expected.columns)], expected)
    # read_sheet adds the optional columns the file lacks, empty.
    assert (shipped.drop(columns=expected.columns) == "").all().all()


def test_demo_splits_are_stable_when_the_cohort_grows():
    small, large = demo_sheet(16), demo_sheet(400)
    pd.testing.assert_frame_equal(small, large.iloc[:16])
    splits = set(large["split"])
    assert splits == {"train", "val", "internal_test", "external_test"}
    external = large[large["split"] == "external_test"]
    assert set(external["site"]) == {"siteC"}
    assert "siteC" not in set(large.loc[large["split"] != "external_test", "site"])


def test_demo_sheet_with_t2_names_the_study_folder(schemas, label_schemes):
    sheet = validate_sheet(demo_sheet(3, t2=True), schemas / "subjects.schema.yaml", label_schemes)
    assert list(sheet["t2"]) == list(sheet["cine"]) == list(sheet["lge"])
    assert list(sheet.columns[4:6]) == ["lge", "t2"]
    plain = validate_sheet(demo_sheet(3), schemas / "subjects.schema.yaml", label_schemes)
    assert set(plain["t2"]) == {""}


def test_t2_series_column_is_validated(schemas, label_schemes):
    sheet = demo_sheet(2, t2=True)
    sheet["t2_series"] = ["1.2.3;1.2.4", 5]
    with pytest.raises(SheetError, match="row 2 .*column 't2_series'"):
        validate_sheet(sheet, schemas / "subjects.schema.yaml", label_schemes)


def test_valid_sheet_is_indexed_by_subject(schemas, label_schemes):
    sheet = validate_sheet(demo_sheet(4), schemas / "subjects.schema.yaml", label_schemes)
    assert list(sheet.index) == ["demo0001", "demo0002", "demo0003", "demo0004"]
    assert set(sheet["label_scheme"]) == {"demo"}


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("split", "training", "row 3 (subject 'demo0003'), column 'split': 'training' is not one"),
        ("subject", "bad id!", "row 3 (subject 'bad id!'), column 'subject'"),
        ("cine", "", "row 3 (subject 'demo0003'), column 'cine'"),
        ("label_scheme", "acme", "row 3 (subject 'demo0003'), column 'label_scheme': 'acme'"),
    ],
)
def test_bad_cell_names_row_and_column(schemas, label_schemes, column, value, message):
    sheet = demo_sheet(4)
    sheet.loc[2, column] = value
    with pytest.raises(SheetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_sheet(sheet, schemas / "subjects.schema.yaml", label_schemes, source="s.tsv")


def test_missing_column_is_named(schemas, label_schemes):
    sheet = demo_sheet(2).drop(columns=["site"])
    with pytest.raises(SheetError, match="row 1 .*column 'site'"):
        validate_sheet(sheet, schemas / "subjects.schema.yaml", label_schemes)


def test_duplicated_subjects_are_refused(schemas, label_schemes):
    sheet = pd.concat([demo_sheet(2), demo_sheet(1)], ignore_index=True)
    with pytest.raises(SheetError, match=r"duplicated ids \['demo0001'\]"):
        validate_sheet(sheet, schemas / "subjects.schema.yaml", label_schemes)


def test_optional_columns_may_be_absent(tmp_path, schemas, label_schemes):
    path = tmp_path / "s.tsv"
    path.write_text("subject\tsplit\tsite\tcine\nP1\tpredict\tmine\t/data/P1.nii.gz\n")
    sheet = validate_sheet(read_sheet(path), schemas / "subjects.schema.yaml", label_schemes)
    assert sheet.loc["P1", "lge"] == "" and sheet.loc["P1", "label_scheme"] == "demo"


def test_missing_sheet_file_is_named(tmp_path):
    with pytest.raises(SheetError, match="nope.tsv: file not found"):
        read_sheet(tmp_path / "nope.tsv")
