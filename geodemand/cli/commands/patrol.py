"""``geodemand patrol``: patrol-area polygons for planners (GeoJSON, GeoPackage, sheets)."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import DEMAND, INPUTS, PATROL, options, prepare, weekly_config


@click.command("patrol")
@options(*INPUTS, *DEMAND, "cell_size_m", *PATROL, "out_dir", "config")
def command(config_path, out, **params):
    """Turn the top targets of each LPU into patrol areas with a whole-visit dosage, hot hours
    and review dates; write patrol_areas.geojson/.gpkg, targets.csv and control plans."""
    from geodemand._spreadsheet import write_csv
    from geodemand.decide.patrol import patrol_areas
    from geodemand.decide.targets import rank_targets
    from geodemand.outputs.control_plans import write_control_plans
    from geodemand.outputs.names import file_stems
    from geodemand.outputs.vector import write_patrol_areas

    cfg = weekly_config(params, config_path)
    if not out:
        raise click.UsageError("--out is required (the folder for the patrol-area files)")
    _, areas, demand = prepare(cfg)
    ranking = rank_targets(demand, cell_size_m=cfg.cell_size_m, study_area=areas,
                           patrol_partnership_sites=cfg.patrol_partnership_sites)
    plan = patrol_areas(
        ranking, areas, top_n=cfg.top_n, max_area_km2=cfg.max_area_km2,
        patrol_hours_per_day=cfg.patrol_hours_per_day, lpu_floor_hours=cfg.lpu_floor_hours,
        minutes_per_visit=cfg.minutes_per_visit, max_visits_per_day=cfg.max_visits_per_day,
        review_days=cfg.review_days,
    )
    out = Path(out)
    write_patrol_areas(plan, out / "patrol_areas.geojson")
    write_patrol_areas(plan, out / "patrol_areas.gpkg")
    write_csv(ranking.targets_table(), out / "targets.csv")
    lpus = sorted(areas.lpus["lpu"])
    sheets = write_control_plans(ranking, plan, out, file_stems(lpus), lpus)
    click.echo(repr(plan))
    if len(plan.lpu_summary):
        click.echo(plan.lpu_summary[["lpu", "n_areas", "budget_hours", "visits_per_day",
                                     "unspent_minutes", "share_of_harm"]].round(2)
                   .to_string(index=False))
    click.echo(f"wrote {len(plan.areas)} patrol areas and {len(sheets)} control plans to {out}")
