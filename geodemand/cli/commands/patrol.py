"""``geodemand patrol``: patrol-area polygons for planners (GeoJSON, GeoPackage, CSV, sheets)."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import input_options, load_ranking


@click.command("patrol")
@input_options
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Top cells and places per LPU turned into patrol areas.",
)
@click.option(
    "--max-area-km2",
    type=click.FloatRange(min=0, min_open=True),
    default=0.25,
    show_default=True,
    help="Largest patrol area, km² (larger ones are split).",
)
@click.option(
    "--patrol-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=8.0,
    show_default=True,
    help="Directed-patrol budget per LPU, officer-hours per day.",
)
@click.option(
    "--minutes-per-visit",
    type=click.FloatRange(5, 30),
    default=15.0,
    show_default=True,
    help="Visit length (Koper curve: 10-15 minutes).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for patrol_areas.geojson/.gpkg, targets.csv and control plans.",
)
def command(
    incidents,
    lpu_boundaries,
    neighbourhood_boundaries,
    harm_weights,
    include_police_generated,
    window_days,
    window_end,
    top,
    max_area_km2,
    patrol_hours,
    minutes_per_visit,
    out,
):
    """Turn the top targets of each LPU into patrol areas with dosage and review dates."""
    from geodemand._atomic import atomic_path
    from geodemand.decide.patrol import patrol_areas
    from geodemand.outputs.control_plans import write_control_plans
    from geodemand.outputs.vector import write_patrol_areas

    _, areas, ranking = load_ranking(
        incidents,
        lpu_boundaries,
        neighbourhood_boundaries,
        harm_weights,
        include_police_generated,
        window_days,
        window_end,
    )
    plan = patrol_areas(
        ranking,
        None,
        areas,
        top_n=top,
        max_area_km2=max_area_km2,
        patrol_hours_per_day=patrol_hours,
        minutes_per_visit=minutes_per_visit,
    )
    out = Path(out)
    write_patrol_areas(plan, out / "patrol_areas.geojson")
    write_patrol_areas(plan, out / "patrol_areas.gpkg")
    with atomic_path(out / "targets.csv") as tmp:
        ranking.targets_table().to_csv(tmp, index=False)
    sheets = write_control_plans(ranking, plan, out)
    click.echo(
        plan.lpu_summary[["lpu", "n_areas", "share_of_area", "share_of_harm"]].to_string(
            index=False
        )
    )
    click.echo(f"wrote {len(plan.areas)} patrol areas and {len(sheets)} control plans to {out}")
