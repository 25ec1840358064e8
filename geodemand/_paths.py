"""Where the bundled data live (one place for every module).

``DATA_DIR`` is, in order: ``GEODEMAND_DATA`` when set; the repository's ``data/`` folder in a
source checkout (or an editable install); the copy a wheel installs beside the package,
``<prefix>/share/geodemand/data`` (``[tool.setuptools.data-files]`` in ``pyproject.toml``:
boundaries, the demo history and its calibration month, the deprivation tables). It holds
``boundaries/``, ``incidents/`` and ``deprivation/``.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir() -> Path:
    override = os.environ.get("GEODEMAND_DATA")
    if override:
        return Path(override)
    candidates = [_PACKAGE.parent / "data"]
    for prefix in (sys.prefix, sys.base_prefix, site.getuserbase()):
        candidates.append(Path(prefix) / "share" / "geodemand" / "data")
    for candidate in candidates:
        if (candidate / "boundaries").is_dir():
            return candidate
    return candidates[0]


DATA_DIR = _data_dir()
#: The West Midlands LPUs and neighbourhoods the demo runs on.
WM_BOUNDARIES = DATA_DIR / "boundaries" / "west-midlands"
DEFAULT_LPUS = WM_BOUNDARIES / "lpus.geojson"
DEFAULT_NEIGHBOURHOODS = WM_BOUNDARIES / "neighbourhoods.geojson"
