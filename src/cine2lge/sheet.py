"""Subject sheet: reading and validation with errors that name the row and column."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pandas as pd
import yaml

OPTIONAL_COLUMNS = ("lge", "t2", "myo", "label_scheme")


class SheetError(ValueError):
    """The subject sheet is malformed; the message names the sheet, row and column."""


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read a subject sheet (TSV) as strings; missing optional columns become empty strings."""
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"subject sheet {path}: file not found")
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    return _complete(sheet)


def _complete(sheet: pd.DataFrame) -> pd.DataFrame:
    sheet = sheet.copy()
    for column in OPTIONAL_COLUMNS:
        if column not in sheet:
            sheet[column] = ""
    sheet.loc[sheet["label_scheme"] == "", "label_scheme"] = "demo"
    return sheet


def validate_sheet(
    sheet: pd.DataFrame, schema_path: str | Path, label_schemes: dict, source: str = "sheet"
) -> pd.DataFrame:
    """Validate every row against the JSON schema and cross-row rules; return it indexed by subject.

    Raises SheetError naming the row (1-based, header excluded), subject and column.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    sheet = _complete(sheet)
    for row_number, row in enumerate(sheet.to_dict("records"), start=1):
        for error in sorted(validator.iter_errors(row), key=str):
            column = error.path[0] if error.path else _missing_column(error)
            raise SheetError(
                f"subject sheet {source}, row {row_number} (subject {row.get('subject', '?')!r}),"
                f" column {column!r}: {error.message}"
            )
        if row["label_scheme"] not in label_schemes:
            raise SheetError(
                f"subject sheet {source}, row {row_number} (subject {row['subject']!r}), column"
                f" 'label_scheme': {row['label_scheme']!r} is not one of {sorted(label_schemes)}"
            )
    duplicated = sheet["subject"][sheet["subject"].duplicated()]
    if len(duplicated):
        raise SheetError(
            f"subject sheet {source}, column 'subject': duplicated ids {sorted(set(duplicated))}"
        )
    return sheet.set_index("subject", drop=False)


def _missing_column(error: jsonschema.ValidationError) -> str:
    # "required" errors have an empty path; the message is "'cine' is a required property".
    return error.message.split("'")[1] if error.validator == "required" else "?"
