"""The option registry: every option shared by subcommands is defined once, here.

Option names follow the API and the TOML keys (``--bandwidth-m`` is ``bandwidth_m``,
``--window-days`` is ``window_days``, ``--top-n`` is ``top_n``). Options that belong to
:class:`geodemand.WeeklyConfig` default to ``None`` on the command line, so a TOML file
(``--config``) or the config's own default applies; their help shows that default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

_CONFIG_DEFAULTS: dict[str, Any] | None = None


def _defaults() -> dict[str, Any]:
    global _CONFIG_DEFAULTS
    if _CONFIG_DEFAULTS is None:
        from geodemand.jobs.config import WeeklyConfig

        _CONFIG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(WeeklyConfig)}
    return _CONFIG_DEFAULTS


def _help(text: str, key: str | None = None) -> str:
    if key is None:
        return text
    default = _defaults().get(key)
    if default is None or default == ():
        return text
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    return f"{text} [default: {default}]"


def _path(**kw) -> click.Path:
    return click.Path(**kw)


def _registry() -> dict[str, Callable]:
    num = click.FloatRange(min=0, min_open=True)
    return {
        "incidents": lambda: click.option(
            "--incidents", "incidents", multiple=True, metavar="PATH",
            help="Incident files, folders or globs (repeatable). Default: the bundled "
                 "SYNTHETIC West Midlands demo history."),
        "lpu_boundaries": lambda: click.option(
            "--lpu-boundaries", type=_path(dir_okay=False), default=None,
            help="LPU polygons (default with the demo data: the bundled West Midlands LPUs)."),
        "neighbourhood_boundaries": lambda: click.option(
            "--neighbourhood-boundaries", type=_path(dir_okay=False), default=None,
            help="Neighbourhood polygons (optional)."),
        "lpu_name_field": lambda: click.option(
            "--lpu-name-field", default=None, metavar="FIELD",
            help="Field of the LPU layer holding the LPU name (default: detected)."),
        "neighbourhood_name_field": lambda: click.option(
            "--neighbourhood-name-field", default=None, metavar="FIELD",
            help="Field of the neighbourhood layer holding its name (default: detected)."),
        "crs": lambda: click.option(
            "--crs", default=None,
            help="Analysis CRS, projected (default: EPSG:27700 for British data, else the "
                 "data's UTM zone; announced)."),
        "keep_unknown_types": lambda: click.option(
            "--keep-unknown-types", is_flag=True, default=None,
            help="Keep records whose crime type is not in the vocabulary under their own "
                 "names (default: rejected as unknown_crime_type)."),
        "crime_type_map": lambda: click.option(
            "--crime-type-map", "crime_type_map", multiple=True, metavar="RAW=CANONICAL",
            help="Map a raw crime-type name to a canonical type (repeatable), e.g. "
                 "'personal robbery=robbery'."),
        "period": lambda: click.option(
            "--period", default=None,
            help="'week', 'month', an ISO week (2026-W46) or a month (2026-10). Default: the "
                 "latest complete week (month for police.uk data)."),
        "window_days": lambda: click.option(
            "--window-days", type=click.IntRange(min=1), default=None,
            help=_help("History window, days.", "window_days")),
        "lpus": lambda: click.option(
            "--lpu", "lpus", multiple=True, help="Only these LPUs (repeatable)."),
        "out_dir": lambda: click.option(
            "--out", "out", type=_path(file_okay=False), default=None,
            help=_help("Output folder.", "out")),
        "tiles": lambda: click.option(
            "--tiles", default=None,
            help="Map tiles: OpenStreetMap (default) or 'none' for offline use."),
        "harm_scheme": lambda: click.option(
            "--harm-scheme", default=None, metavar="SCHEME|FILE",
            help=_help("Harm weights: cchi (CCHI medians), cchi-mean, count, or a CSV file "
                       "(crime_type, harm_weight in days).", "harm_scheme")),
        "force": lambda: click.option(
            "--force", default=None,
            type=click.Choice(["national", "west-midlands", "leicestershire",
                               "greater-manchester"]),
            help="Force whose CCHI weights to use (default: from police.uk 'Reported by')."),
        "include_police_generated": lambda: click.option(
            "--include-police-generated", is_flag=True, default=None,
            help="Keep drugs and weapons possession (found by police activity) in targeting."),
        "crime_types": lambda: click.option(
            "--crime-type", "crime_types", multiple=True, metavar="TYPE",
            help="Only this canonical crime type (repeatable), e.g. burglary."),
        "half_life_days": lambda: click.option(
            "--half-life-days", type=num, default=None,
            help=_help("Half-life of the recency weight of the density map, days.",
                       "half_life_days")),
        "merge_m": lambda: click.option(
            "--merge-m", type=click.FloatRange(min=0), default=None,
            help=_help("Merge same-label map points within this many metres (0 = off).",
                       "merge_m")),
        "premises": lambda: click.option(
            "--premises", type=_path(dir_okay=False), default=None,
            help="Premises layer (points or polygons with name and type) flagging "
                 "partnership sites."),
        "site_keywords": lambda: click.option(
            "--site-keywords", type=_path(dir_okay=False), default=None,
            help="Extra partnership-site keywords (CSV: pattern, category, partnership, "
                 "reason)."),
        "patrol_partnership_sites": lambda: click.option(
            "--patrol-partnership-sites", is_flag=True, default=None,
            help="Keep hospitals, prisons, police stations... among the patrol targets."),
        "exclude_default_geocodes": lambda: click.option(
            "--exclude-default-geocodes", is_flag=True, default=None,
            help="Leave out incidents at suspected default-geocode places."),
        "cell_size_m": lambda: click.option(
            "--cell-size-m", type=num, default=None,
            help=_help("Cell size of the target grid, metres.", "cell_size_m")),
        "bandwidth_m": lambda: click.option(
            "--bandwidth-m", type=num, default=None,
            help=_help("KDE search radius, metres.", "bandwidth_m")),
        "top_n": lambda: click.option(
            "--top-n", type=click.IntRange(min=1), default=None,
            help=_help("Top place and cell targets per LPU turned into patrol areas.",
                       "top_n")),
        "max_area_km2": lambda: click.option(
            "--max-area-km2", type=num, default=None,
            help=_help("Largest patrol area, km².", "max_area_km2")),
        "patrol_hours_per_day": lambda: click.option(
            "--patrol-hours-per-day", type=num, default=None,
            help=_help("Force-wide directed-patrol budget, officer-hours a day.",
                       "patrol_hours_per_day")),
        "lpu_floor_hours": lambda: click.option(
            "--lpu-floor-hours", type=click.FloatRange(min=0), default=None,
            help=_help("Hours a day every LPU with patrol areas gets first.",
                       "lpu_floor_hours")),
        "minutes_per_visit": lambda: click.option(
            "--minutes-per-visit", type=click.FloatRange(5, 30), default=None,
            help=_help("Length of one visit, minutes (Koper: 10-15).", "minutes_per_visit")),
        "max_visits_per_day": lambda: click.option(
            "--max-visits-per-day", type=click.IntRange(min=1), default=None,
            help=_help("Cap of visits per patrol area a day.", "max_visits_per_day")),
        "review_days": lambda: click.option(
            "--review-days", type=click.IntRange(min=1), default=None,
            help=_help("Days until each plan is reviewed.", "review_days")),
        "seed": lambda: click.option(
            "--seed", type=click.IntRange(min=0), default=None,
            help=_help("Random seed.", "seed")),
        "mapping": lambda: click.option(
            "--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
            help="Column mapping for generic input, e.g. --map date=when --map lon=lng (fields: "
                 "id, date, time, crime_type, crime_type_value, x, y, lon, lat, crs, location, "
                 "date_format)."),
        "register": lambda: click.option(
            "--register", type=_path(dir_okay=False), default=None,
            help="Control-plan register (GeoPackage) [default: <out>/register.gpkg]."),
        "no_register": lambda: click.option(
            "--no-register", is_flag=True, default=None,
            help="A one-off analysis: do not read or record the register."),
        "milestones": lambda: click.option(
            "--milestones", type=_path(dir_okay=False), default=None,
            help="Reduction milestones CSV (lpu, group, milestone_pct) for the year to date "
                 "[default: against the same period last year]."),
        "deprivation": lambda: click.option(
            "--deprivation", type=_path(dir_okay=False), default=None,
            help="Small areas with deprivation decile and population for the equity audit "
                 "[default: the bundled English LSOAs with IMD 2019]."),
        "config": lambda: click.option(
            "--config", "config_path", type=_path(exists=True, dir_okay=False), default=None,
            help="TOML file with any of these options (keys as in WeeklyConfig)."),
    }


#: Options that make the demand stage (the same on every command that ranks or maps).
DEMAND = ("harm_scheme", "force", "include_police_generated", "crime_types", "window_days",
          "half_life_days", "merge_m", "premises", "site_keywords", "exclude_default_geocodes")
#: Options that read incidents and boundaries.
INPUTS = ("incidents", "lpu_boundaries", "neighbourhood_boundaries", "lpu_name_field",
          "neighbourhood_name_field", "crs", "keep_unknown_types", "crime_type_map")
#: Patrol-area options.
PATROL = ("top_n", "max_area_km2", "patrol_hours_per_day", "lpu_floor_hours",
          "minutes_per_visit", "max_visits_per_day", "review_days", "patrol_partnership_sites")


def options(*names: str) -> Callable:
    """Decorator adding the registry's options ``names`` (in that order) to a command."""
    registry = _registry()
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise KeyError(f"no such shared option(s): {unknown}")

    def decorate(func):
        for name in reversed(names):
            func = registry[name]()(func)
        return func

    return decorate


def weekly_config(params: dict[str, Any], config_path: str | None = None):
    """A :class:`geodemand.WeeklyConfig` from a TOML file and the given command-line values
    (``None``/empty values are not given)."""
    from geodemand.jobs.config import WeeklyConfig

    overrides = {}
    for key, value in params.items():
        if value is None or value == ():
            continue
        overrides[key] = tuple(value) if isinstance(value, list | tuple) else value
    if config_path:
        return WeeklyConfig.from_toml(config_path, **overrides)
    return WeeklyConfig.from_mapping(overrides, where="command line")


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    """``("a=b", "c=d")`` -> ``{"a": "b", "c": "d"}`` (for --map and --crime-type-map)."""
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=what)
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


def prepare(cfg, mapping: dict | None = None, *, whole_history: bool = False):
    """Read, join and prepare the demand of a config: ``(table, areas, demand)``.

    ``mapping`` is a column mapping for generic input; ``whole_history`` makes the window the
    whole history (for backtests).

    The same steps as the weekly job (one implementation of the window and weights: the
    demand stage).
    """
    from geodemand.demand.demand import prepare_demand
    from geodemand.jobs.weekly import read_inputs

    cfg.check_files()
    table, areas = read_inputs(cfg, mapping)
    window_days = cfg.window_days
    if whole_history and len(table.frame):
        occurred = table.frame["occurred"]
        window_days = int((occurred.max() - occurred.min()).days) + 40
    demand = prepare_demand(
        table, window_days=window_days, harm=cfg.harm_scheme, force=cfg.force,
        include_police_generated=cfg.include_police_generated,
        crime_types=list(cfg.crime_types) if cfg.crime_types else None,
        half_life_days=cfg.half_life_days, merge_m=cfg.merge_m, premises=cfg.premises,
        site_keywords_path=cfg.site_keywords,
        exclude_default_geocodes=cfg.exclude_default_geocodes,
    )
    return table, areas, demand
