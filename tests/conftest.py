"""Shared fixtures: paths to the bundled data and to ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared test data not found at {SHARED} (CI has it beside the repo)")
    return SHARED


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def wm_areas():
    from geodemand.ingest.areas import read_areas

    b = DATA / "boundaries" / "west-midlands"
    return read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson")
