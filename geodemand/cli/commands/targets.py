"""``geodemand targets``: ranked control-plan targets per LPU with score breakdowns."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import input_options, load_ranking


@click.command("targets")
@input_options
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Targets shown per LPU.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for targets.csv (all ranked places and cells).",
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
    out,
):
    """Rank places and hot-spot cells within each LPU into control-plan targets.

    Harm-weighted, recency-weighted, police-generated types excluded by default; every score
    component is printed and written.
    """
    from geodemand._atomic import atomic_path

    _, _, ranking = load_ranking(
        incidents,
        lpu_boundaries,
        neighbourhood_boundaries,
        harm_weights,
        include_police_generated,
        window_days,
        window_end,
    )
    p = ranking.params
    click.echo(
        f"window {p['window_start']} to {p['window_end']}; incidents scored "
        f"{p['incidents_scored']:,}; excluded {p['excluded'] or 'none'}"
    )
    cols = [
        "lpu",
        "rank",
        "location_key",
        "neighbourhood",
        "incidents",
        "harm",
        "score",
        "score_harm",
        "score_density",
        "score_gistar",
        "score_repeat",
        "score_recency",
    ]
    click.echo(ranking.top(top, "places")[cols].to_string(index=False))
    if out:
        path = Path(out) / "targets.csv"
        with atomic_path(path) as tmp:
            ranking.targets_table().to_csv(tmp, index=False)
        click.echo(f"wrote {path}")
