"""``geodemand evaluate``: rolling-origin backtest of hot-spot methods against baselines."""

from __future__ import annotations

import time

import click

from geodemand.cli.options import DEMAND, INPUTS, options, parse_pairs, prepare, weekly_config
from geodemand.evaluate.backtesting import METHODS, PERIODS
from geodemand.evaluate.metrics import DEFAULT_COVERAGES, TIES


@click.command("evaluate")
@options(*INPUTS, "mapping", *DEMAND, "cell_size_m", "seed", "config")
@click.option("--area-units", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Score these polygons (e.g. neighbourhoods) instead of grid cells.")
@click.option("--fold-period", type=click.Choice(PERIODS), default="month", show_default=True,
              help="Length of each test period.")
@click.option("--folds", type=click.IntRange(min=1), default=12, show_default=True,
              help="Number of test periods (the last ones).")
@click.option("--train-periods", type=click.IntRange(min=1), default=None,
              help="Longest training history in fold periods [default: 24 months or 104 "
                   "weeks].")
@click.option("--min-train-periods", type=click.IntRange(min=1), default=None,
              help="Shortest training history [default: 12 months or 52 weeks].")
@click.option("--end", default=None,
              help="Exclusive end of the last test period, YYYY-MM-DD [default: data end].")
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="Methods to compare (repeatable) [default: all].")
@click.option("--kde-bandwidth-m", "bandwidths", multiple=True,
              type=click.FloatRange(min=0, min_open=True),
              help="KDE search radius in metres for the sweep (repeatable) [default: 1, 2, 4 "
                   "cells].")
@click.option("--coverage", "coverages", multiple=True, type=click.FloatRange(0, 1,
              min_open=True), help="Share of the study area (repeatable) [default: 0.01 0.05 "
              "0.10].")
@click.option("--ties", type=click.Choice(TIES), default="expected", show_default=True,
              help="Tie rule of the metrics.")
@click.option("--kde-method", type=click.Choice(["exact", "auto", "binned"]), default="exact",
              show_default=True, help="KDE evaluation (auto/binned for very large inputs).")
@click.option("--stem", default="evaluation", show_default=True, help="Output file name stem.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for <stem>_summary.csv, _folds.csv, _lpu.csv, _places.csv, .md and "
                   "_hit_rate.png. Without it nothing is written.")
def command(config_path, mapping, area_units, fold_period, folds, train_periods,
            min_train_periods, end, methods, bandwidths, coverages, ties, kde_method, stem, out,
            **params):
    """Backtest hot-spot methods and print the accuracy table (PAI and harm-PAI).

    Rolling origin: each of the last --folds periods is predicted from the history before it
    (up to --train-periods) by every method, on the same cells, trained and scored on the same
    crime set (the demand stage: police-generated types out unless included); hit rate, PAI,
    PEI*, RRI and their harm-weighted versions are summarised over folds, per LPU and for the
    top-N places.
    """
    from geodemand.evaluate.backtesting import backtest

    t0 = time.perf_counter()
    cfg = weekly_config(params, config_path)
    _, areas, demand = prepare(cfg, parse_pairs(mapping, "--map"), whole_history=True)
    click.echo(repr(demand))
    result = backtest(
        demand,
        areas=areas,
        area_units=area_units,
        cell_size_m=params.get("cell_size_m"),
        period=fold_period,
        n_folds=folds,
        train_periods=train_periods,
        min_train_periods=min_train_periods,
        end=end,
        methods=list(methods) or None,
        coverages=tuple(coverages) or DEFAULT_COVERAGES,
        bandwidths_m=tuple(bandwidths) or None,
        ties=ties,
        seed=cfg.seed,
        kde_method=kde_method,
    )
    click.echo(result.to_markdown())
    click.echo(f"done in {time.perf_counter() - t0:.1f} s")
    if out:
        paths_out = result.write(out, stem)
        click.echo("wrote " + ", ".join(str(p) for p in paths_out.values()))
    else:
        click.echo("no --out given: nothing written")
