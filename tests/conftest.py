"""Shared fixtures: paths to the bundled data (``data/``) and to the test data (``tests/data``).

Everything the tests read is in the repository: ``tests/data`` holds the public data sets the
tests need beyond the bundled ``data/`` (see ``tests/data/README.md`` for sources and
licences), so the test command passes on a fresh clone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: real public test data (layout as in the team's data folder)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def wm_areas():
    from geodemand.ingest.areas import read_areas

    b = DATA / "boundaries" / "west-midlands"
    return read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson")
