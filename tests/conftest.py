"""Shared fixtures. Real-data tests use ../shared/data and skip with a reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real MR data (MyoPS, Sunnybrook, CineMyoPS); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real MR data not available at {SHARED_DATA} (only on development machines)")
    return SHARED_DATA
