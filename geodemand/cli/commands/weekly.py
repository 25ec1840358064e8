"""``geodemand weekly``: the LPU analyst's weekly run (maps, patrol areas, tables, manifest)."""

from __future__ import annotations

import click

from geodemand.cli.options import DEMAND, INPUTS, PATROL, options, weekly_config


@click.command("weekly")
@options(*INPUTS, "period", "lpus", "out_dir", "tiles", *DEMAND, "cell_size_m", "bandwidth_m",
         *PATROL, "register", "no_register", "milestones", "deprivation", "seed", "config")
@click.pass_context
def command(ctx, config_path, **params):
    """Run the weekly hot-spot analysis and write <out>/<period>/ (maps, patrol areas,
    control plans, tables, rasters, summary, manifest).

    With no options: the bundled SYNTHETIC West Midlands two-year demo history, the latest
    complete week, written into maps/.
    """
    from geodemand.jobs.weekly import run_weekly

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    cfg = weekly_config(params, config_path)
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
