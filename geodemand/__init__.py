"""geodemand: police demand and hot-spot analysis for places, not people.

Public names are imported lazily so that ``import geodemand`` and the command-line interface
stay fast; ``geodemand.kde`` etc. load their engine on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GeodemandError": "geodemand.errors",
    "InputFormatError": "geodemand.errors",
    "InvalidParameterError": "geodemand.errors",
    "BoundaryError": "geodemand.errors",
    "GridTooLargeError": "geodemand.errors",
    "read_incidents": "geodemand.incidents",
    "IncidentTable": "geodemand.incidents",
    "ColumnMapping": "geodemand.incidents",
    "read_areas": "geodemand.areas",
    "assign_areas": "geodemand.areas",
    "Areas": "geodemand.areas",
    "Grid": "geodemand.grid",
    "harm_weights": "geodemand.harm",
    "normalise_crime_type": "geodemand.harm",
    "crime_types": "geodemand.harm",
    "kde": "geodemand.density",
    "KDEResult": "geodemand.density",
    "write_raster": "geodemand.raster",
    "repeat_locations": "geodemand.repeats",
    "concentration": "geodemand.repeats",
    "knox": "geodemand.nearrepeat",
    "plot_knox": "geodemand.nearrepeat",
    "top_places": "geodemand.repeats",
    "plot_concentration": "geodemand.repeats",
    "gistar": "geodemand.hotspots",
    "gistar_areas": "geodemand.hotspots",
    "emerging_hotspots": "geodemand.hotspots",
    "period_change": "geodemand.hotspots",
    "synthetic_incidents": "geodemand.synth",
    "rank_targets": "geodemand.targets",
    "patrol_areas": "geodemand.patrol",
    "write_patrol_areas": "geodemand.patrol",
    "hotspot_map": "geodemand.maps",
    "save_map": "geodemand.maps",
    "hotspot_png": "geodemand.static_map",
    "hotspot_figure": "geodemand.static_map",
    "run_weekly": "geodemand.weekly",
    "backtest": "geodemand.backtesting",
    "intervention_effect": "geodemand.intervention",
    "ytd_vs_milestones": "geodemand.intervention",
    "capture_metrics": "geodemand.evaluate",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geodemand' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
