"""``geodemand weekly``: the LPU analyst's weekly run (maps, patrol areas, tables, manifest)."""

from __future__ import annotations

import click


@click.command("weekly")
@click.option(
    "--incidents",
    multiple=True,
    help="Incident files/folders/globs (repeatable). "
    "Default: the bundled SYNTHETIC West Midlands two-year demo history.",
)
@click.option(
    "--lpu-boundaries",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="LPU polygons (default: bundled West Midlands 2014 LPUs).",
)
@click.option(
    "--neighbourhood-boundaries",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Neighbourhood polygons (default: bundled wards).",
)
@click.option(
    "--period",
    default=None,
    help="'week', 'month', an ISO week (2026-W46) or a month "
    "(2026-10). Default: the latest complete week (month for police.uk data).",
)
@click.option(
    "--window",
    "window_days",
    type=click.IntRange(min=1),
    default=None,
    help="History length in days (default 730, two years).",
)
@click.option("--lpu", "lpus", multiple=True, help="Only these LPUs (repeatable).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML file with any of the options (see WeeklyConfig).",
)
@click.option("--out", default=None, help="Output root folder (default: maps).")
@click.option(
    "--tiles", default=None, help="Map tiles: OpenStreetMap (default) or 'none' for offline use."
)
@click.option(
    "--harm-weights",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Harm-weight CSV replacing the shipped placeholder table.",
)
@click.option(
    "--include-police-generated",
    is_flag=True,
    default=None,
    help="Keep drugs and weapons possession in targeting.",
)
@click.option("--quiet", is_flag=True, help="No progress display or announcements.")
@click.pass_context
def command(
    ctx,
    incidents,
    lpu_boundaries,
    neighbourhood_boundaries,
    period,
    window_days,
    lpus,
    config_path,
    out,
    tiles,
    harm_weights,
    include_police_generated,
    quiet,
):
    """Run the weekly hot-spot analysis and write maps/<period>/ (maps, patrol areas, manifest)."""
    from geodemand._announce import quiet as set_quiet
    from geodemand.jobs.weekly import WeeklyConfig, run_weekly

    quiet = quiet or bool(ctx.obj and ctx.obj.get("quiet"))
    if quiet:
        set_quiet(True)
    overrides = {
        "incidents": tuple(incidents) or None,
        "lpu_boundaries": lpu_boundaries,
        "neighbourhood_boundaries": neighbourhood_boundaries,
        "period": period,
        "window_days": window_days,
        "lpus": tuple(lpus) or None,
        "out": out,
        "tiles": tiles,
        "harm_weights": harm_weights,
        "include_police_generated": include_police_generated,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = (
        WeeklyConfig.from_toml(config_path, **overrides)
        if config_path
        else WeeklyConfig(**overrides)
    )
    result = run_weekly(cfg, quiet=quiet)
    m = result.manifest
    click.echo(
        f"{result.period.describe()}: wrote {result.out_dir} "
        f"({m['n_patrol_areas']} patrol areas; {m['rows']['accepted']:,} incidents; "
        f"{'SYNTHETIC data' if m['synthetic'] else 'real data'})"
    )
    if not quiet:
        click.echo(
            "time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        )
