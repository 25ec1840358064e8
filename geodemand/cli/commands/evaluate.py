"""``geodemand evaluate``: rolling-origin backtest of hot-spot methods (hit rate, PAI, PEI*)."""

from __future__ import annotations

import time

import click

from geodemand.evaluate.backtesting import METHODS, PERIODS
from geodemand.evaluate.metrics import DEFAULT_COVERAGES, TIES


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected FIELD=COLUMN", param_hint="--map")
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


@click.command("evaluate")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--lpu-boundaries",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="LPU (or district) polygons: their union is the study area; LPUs feed 'targets'.",
)
@click.option("--lpu-field", default=None, help="Column naming the LPUs (default: detected).")
@click.option(
    "--areas",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Score these polygons (e.g. neighbourhoods) instead of grid cells.",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Column mapping for generic input, e.g. --map date=date --map lon=longitude "
    "--map lat=latitude --map crime_type_value=robbery.",
)
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True)
@click.option("--folds", type=click.IntRange(min=1), default=12, show_default=True,
              help="Number of test periods (the last ones).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Training window in periods [default: 12 months or 52 weeks].")
@click.option("--end", default=None,
              help="Exclusive end of the last test period, YYYY-MM-DD [default: data end].")
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="Methods to compare (repeatable) [default: all].")
@click.option("--bandwidth", "bandwidths", multiple=True, type=click.FloatRange(min=0,
              min_open=True), help="KDE search radius in metres (repeatable) [default: 1, 2, 4 "
              "cells].")
@click.option("--coverage", "coverages", multiple=True, type=click.FloatRange(0, 1,
              min_open=True), help="Share of the study area (repeatable) [default: 0.01 0.05 "
              "0.10].")
@click.option("--cell-size", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Grid cell side in metres [default: automatic, announced].")
@click.option("--crime-type", "crime_types", multiple=True,
              help="Only these canonical crime types (repeatable), e.g. burglary.")
@click.option("--exclude-type", "exclude_types", multiple=True,
              help="Leave out these crime types (repeatable), e.g. anti-social-behaviour.")
@click.option("--ties", type=click.Choice(TIES), default="expected", show_default=True,
              help="Tie rule of the metrics.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random baseline.")
@click.option("--kde-method", type=click.Choice(["exact", "auto", "binned"]), default="exact",
              show_default=True, help="KDE evaluation (auto/binned for very large inputs).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for <stem>_summary.csv, <stem>_folds.csv, <stem>.md and "
              "<stem>_hit_rate.png. Without it nothing is written.")
@click.option("--stem", default="evaluation", show_default=True, help="Output file name stem.")
def command(paths, lpu_boundaries, lpu_field, areas, mapping, period, folds, window, end,
            methods, bandwidths, coverages, cell_size, crime_types, exclude_types, ties, seed,
            kde_method, out, stem):
    """Backtest hot-spot methods on incident files PATHS and print the accuracy table.

    Rolling origin: each of the last --folds periods is predicted from the --window periods
    before it, by every method, on the same cells; hit rate, PAI, PEI* and RRI at each
    coverage are summarised over folds (mean ± sd [min, max]).
    """
    from geodemand.errors import InvalidParameterError
    from geodemand.evaluate.backtesting import backtest
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    t0 = time.perf_counter()
    table = read_incidents(list(paths), mapping=_pairs(mapping) or None)
    lpus = read_areas(lpu_boundaries, crs=table.crs, lpu_field=lpu_field)
    table = assign_areas(table, lpus)
    frame = table.frame
    if crime_types:
        frame = frame[frame["crime_type"].isin(crime_types)]
    if exclude_types:
        frame = frame[~frame["crime_type"].isin(exclude_types)]
    if not len(frame):
        raise InvalidParameterError("no incidents left after the crime-type filters")
    click.echo(f"{len(frame):,} incidents ({', '.join(crime_types) or 'all types'}"
               f"{'; excluding ' + ', '.join(exclude_types) if exclude_types else ''})")
    result = backtest(
        frame,
        areas=areas,
        study_area=lpus,
        cell_size_m=cell_size,
        period=period,
        n_folds=folds,
        train_periods=window,
        end=end,
        methods=list(methods) or None,
        coverages=tuple(coverages) or DEFAULT_COVERAGES,
        bandwidths_m=tuple(bandwidths) or None,
        ties=ties,
        seed=seed,
        kde_method=kde_method,
    )
    click.echo(result.to_markdown())
    click.echo(f"done in {time.perf_counter() - t0:.1f} s")
    if out:
        paths_out = result.write(out, stem)
        click.echo("wrote " + ", ".join(str(p) for p in paths_out.values()))
    else:
        click.echo("no --out given: nothing written")
