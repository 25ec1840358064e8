"""Options shared by subcommands, each defined once."""

from __future__ import annotations

import click

from geodemand._paths import WM_BOUNDARIES


def input_options(func):
    """--incidents, --lpu-boundaries, --neighbourhood-boundaries, --harm-weights, ..."""
    options = [
        click.option(
            "--incidents",
            "incidents",
            multiple=True,
            required=True,
            help="Incident files, folders or globs (repeatable).",
        ),
        click.option(
            "--lpu-boundaries",
            type=click.Path(exists=True, dir_okay=False),
            default=str(WM_BOUNDARIES / "lpus.geojson"),
            show_default=True,
            help="LPU polygons.",
        ),
        click.option(
            "--neighbourhood-boundaries",
            type=click.Path(exists=True, dir_okay=False),
            default=str(WM_BOUNDARIES / "neighbourhoods.geojson"),
            show_default=True,
            help="Neighbourhood polygons.",
        ),
        click.option(
            "--harm-weights",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Harm-weight CSV replacing the shipped placeholder table.",
        ),
        click.option(
            "--include-police-generated",
            is_flag=True,
            help="Keep drugs and weapons-possession incidents in targeting.",
        ),
        click.option(
            "--window-days",
            type=click.IntRange(min=1),
            default=730,
            show_default=True,
            help="History window in days.",
        ),
        click.option(
            "--window-end",
            default=None,
            help="End of the window (default: latest incident), YYYY-MM-DD.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_ranking(
    incidents,
    lpu_boundaries,
    neighbourhood_boundaries,
    harm_weights_path,
    include_police_generated,
    window_days,
    window_end,
):
    """Read incidents and areas, join them and rank targets."""
    from geodemand.decide.targets import rank_targets
    from geodemand.demand.harm import harm_weights
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    table = read_incidents(list(incidents))
    areas = read_areas(lpu_boundaries, neighbourhood_boundaries, crs=table.crs)
    table = assign_areas(table, areas)
    ranking = rank_targets(
        table,
        harm=harm_weights(harm_weights_path),
        window_days=window_days,
        window_end=window_end,
        include_police_generated=include_police_generated,
    )
    return table, areas, ranking


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    """``("a=b", "c=d")`` -> ``{"a": "b", "c": "d"}`` (for --map and --crime-type-map)."""
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=what)
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out
