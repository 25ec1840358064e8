"""Where the bundled data live (one place for every module).

``DATA_DIR`` is the repository's ``data/`` folder in a source checkout (or an editable
install), else the copy shipped inside the installed package (``geodemand/_bundled/``, see
``pyproject.toml``), and ``GEODEMAND_DATA`` overrides both. It holds ``boundaries/`` and
``incidents/``.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir() -> Path:
    override = os.environ.get("GEODEMAND_DATA")
    if override:
        return Path(override)
    checkout = _PACKAGE.parent / "data"
    if (checkout / "boundaries").is_dir():
        return checkout
    return _PACKAGE / "_bundled"


DATA_DIR = _data_dir()
#: The West Midlands LPUs and neighbourhoods the demo runs on.
WM_BOUNDARIES = DATA_DIR / "boundaries" / "west-midlands"
DEFAULT_LPUS = WM_BOUNDARIES / "lpus.geojson"
DEFAULT_NEIGHBOURHOODS = WM_BOUNDARIES / "neighbourhoods.geojson"
