"""Shared fixtures. Real-data tests use ../shared/data and skip with a reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def uid_secret(tmp_path_factory) -> Path:
    """Ingest keys UID pseudonyms with a per-installation secret (cine2lge.dicom.deid); tests
    (and the Snakemake runs they start) use one of their own, never the user's."""
    path = tmp_path_factory.mktemp("uid_secret") / "uid_secret"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CINE2LGE_UID_SECRET_FILE", str(path))
        yield path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real MR data (MyoPS, Sunnybrook, CineMyoPS); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real MR data not available at {SHARED_DATA} (only on development machines)")
    return SHARED_DATA
