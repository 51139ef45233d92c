"""Validate DICOM files with dciodvfy (dicom3tools), the standard's own IOD checker.

Shared by the LGE-like export and the demo phantom tests. dciodvfy is a system tool (Debian/Ubuntu
package dicom3tools; CI installs it): tests that need it skip with the reason when it is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DCIODVFY = shutil.which("dciodvfy")
requires_dciodvfy = pytest.mark.skipif(
    DCIODVFY is None,
    reason="dciodvfy not installed (apt-get install dicom3tools): DICOM validation skipped",
)


def dciodvfy(path: str | Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) dciodvfy reports for one file; raises when it did not recognise the
    file as an MR Image (no IOD checked means nothing was validated)."""
    result = subprocess.run(
        [DCIODVFY, "-new", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    if "MRImage" not in lines:
        raise AssertionError(f"dciodvfy did not check {path} as an MR Image:\n" + "\n".join(lines))
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings


def assert_valid(paths) -> None:
    """0 dciodvfy errors in every file (messages of the first failing files in the assertion)."""
    failures = {}
    for path in paths:
        errors, _ = dciodvfy(path)
        if errors:
            failures[Path(path).name] = errors
    assert not failures, (
        f"dciodvfy errors in {len(failures)} file(s): {dict(list(failures.items())[:3])}"
    )
