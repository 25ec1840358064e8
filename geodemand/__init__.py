"""geodemand: police demand and hot-spot analysis for places, not people.

The flow runs one way, one sub-package per stage::

    ingest -> demand -> engines -> decide -> evaluate -> outputs -> jobs -> cli

Quickstart (in a notebook or plain Python)::

    import geodemand as gd

    incidents = gd.read_incidents("data/incidents/leicestershire/")  # or a GeoDataFrame
    areas = gd.read_areas("data/boundaries/leicestershire/lpus.geojson",
                          "data/boundaries/leicestershire/neighbourhoods.geojson")
    incidents = gd.assign_areas(incidents, areas)
    demand = gd.prepare_demand(incidents)        # window, exclusions, CCHI harm, named places
    surface = gd.kde(demand.incidents, bandwidth_m=250, cell_size_m=50)   # KDEResult
    surface.plot()                                                 # matplotlib Axes
    hot = gd.gistar(demand.incidents, cell_size_m=250)             # GiStarResult, FDR q-values
    ranking = gd.rank_targets(demand)            # expected harm per place and cell
    ranking.top(10)

    gd.run_weekly(gd.WeeklyConfig(out="maps"))                     # the whole weekly bundle

Lon/lat input is projected (EPSG:27700 in Great Britain, else the data's UTM zone) and the
choice is announced. Announcements of automatic choices are shown by default; silence them
with :func:`quiet` (or ``quiet=True`` where a function offers it).

Public names are imported lazily so that ``import geodemand`` and the command-line interface
stay fast; ``geodemand.kde`` etc. load their stage on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from geodemand._version import __version__

_EXPORTS = {
    # foundations
    "GeodemandError": "geodemand.errors",
    "InputFormatError": "geodemand.errors",
    "InvalidParameterError": "geodemand.errors",
    "BoundaryError": "geodemand.errors",
    "GridTooLargeError": "geodemand.errors",
    "Grid": "geodemand.grid",
    "quiet": "geodemand._announce",
    # ingest
    "read_incidents": "geodemand.ingest.incidents",
    "IncidentTable": "geodemand.ingest.incidents",
    "ColumnMapping": "geodemand.ingest.readers",
    "read_areas": "geodemand.ingest.areas",
    "assign_areas": "geodemand.ingest.areas",
    "Areas": "geodemand.ingest.areas",
    "write_incidents": "geodemand.ingest.write",
    "synthetic_incidents": "geodemand.ingest.synth",
    "synthetic_national": "geodemand.ingest.synth",
    "write_partitions": "geodemand.ingest.partition",
    "open_dataset": "geodemand.ingest.partition",
    "PartitionedDataset": "geodemand.ingest.partition",
    # demand
    "prepare_demand": "geodemand.demand.demand",
    "Demand": "geodemand.demand.demand",
    "harm_table": "geodemand.demand.harm",
    "harm_weights": "geodemand.demand.harm",
    "HarmTable": "geodemand.demand.harm",
    "normalise_crime_type": "geodemand.ingest.vocabulary",
    "crime_types": "geodemand.ingest.vocabulary",
    "Period": "geodemand.demand.periods",
    "parse_period": "geodemand.demand.periods",
    # engines
    "kde": "geodemand.engines.density",
    "KDEResult": "geodemand.engines.density",
    "kde_partitioned": "geodemand.engines.density",
    "points_xy": "geodemand.engines.points",
    "gistar": "geodemand.engines.hotspots",
    "gistar_areas": "geodemand.engines.hotspots",
    "GiStarResult": "geodemand.engines.hotspots",
    "emerging_hotspots": "geodemand.engines.emerging",
    "EmergingResult": "geodemand.engines.emerging",
    "period_change": "geodemand.engines.period_change",
    "PeriodChangeResult": "geodemand.engines.period_change",
    "repeat_locations": "geodemand.engines.repeats",
    "top_places": "geodemand.engines.repeats",
    "concentration": "geodemand.engines.repeats",
    "ConcentrationResult": "geodemand.engines.repeats",
    "plot_concentration": "geodemand.engines.repeats",
    "knox": "geodemand.engines.nearrepeat",
    "KnoxResult": "geodemand.engines.nearrepeat",
    "plot_knox": "geodemand.engines.nearrepeat",
    # decide
    "rank_targets": "geodemand.decide.targets",
    "TargetRanking": "geodemand.decide.targets",
    "ScoreModel": "geodemand.decide.score",
    "patrol_areas": "geodemand.decide.patrol",
    "PatrolPlan": "geodemand.decide.patrol",
    # evaluate
    "capture_metrics": "geodemand.evaluate.metrics",
    "hit_rate": "geodemand.evaluate.metrics",
    "pai": "geodemand.evaluate.metrics",
    "pei_star": "geodemand.evaluate.metrics",
    "rri": "geodemand.evaluate.metrics",
    "backtest": "geodemand.evaluate.backtesting",
    "BacktestResult": "geodemand.evaluate.backtesting",
    "intervention_effect": "geodemand.evaluate.intervention",
    "InterventionResult": "geodemand.evaluate.intervention",
    "ytd_vs_milestones": "geodemand.evaluate.performance",
    "Register": "geodemand.evaluate.register",
    "review_plans": "geodemand.evaluate.reviews",
    "equity_audit": "geodemand.evaluate.equity",
    "EquityAudit": "geodemand.evaluate.equity",
    # outputs
    "write_raster": "geodemand.outputs.raster",
    "write_patrol_areas": "geodemand.outputs.vector",
    "write_geopackage": "geodemand.outputs.vector",
    "write_control_plans": "geodemand.outputs.control_plans",
    "MapLayers": "geodemand.outputs.maps.layers",
    "hotspot_map": "geodemand.outputs.maps.web",
    "save_map": "geodemand.outputs.maps.web",
    "hotspot_png": "geodemand.outputs.maps.png",
    "hotspot_figure": "geodemand.outputs.maps.png",
    # jobs
    "run_weekly": "geodemand.jobs.weekly",
    "WeeklyConfig": "geodemand.jobs.config",
    "WeeklyResult": "geodemand.jobs.weekly",
    "run_national": "geodemand.jobs.national",
    "NationalResult": "geodemand.jobs.national",
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
