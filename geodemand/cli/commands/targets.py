"""``geodemand targets``: ranked control-plan targets per LPU with every score component."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import DEMAND, INPUTS, options, prepare, weekly_config


@click.command("targets")
@options(*INPUTS, *DEMAND, "cell_size_m", "patrol_partnership_sites", "top_n", "out_dir",
         "config")
def command(config_path, out, **params):
    """Rank places and grid cells within each LPU by expected harm next period.

    Harm-weighted (CCHI days), police-generated types out, partnership sites listed apart;
    every score component is printed and written (targets.csv with --out).
    """
    from geodemand._spreadsheet import write_csv
    from geodemand.decide.targets import rank_targets

    cfg = weekly_config(params, config_path)
    _, areas, demand = prepare(cfg)
    ranking = rank_targets(demand, cell_size_m=cfg.cell_size_m, study_area=areas,
                           patrol_partnership_sites=cfg.patrol_partnership_sites)
    click.echo(repr(demand))
    click.echo(f"score: {ranking.model.describe()}")
    cols = ["lpu", "rank", "force_rank", "label", "expected_harm", "expected_incidents",
            "harm_per_incident", "incidents"]
    click.echo(ranking.top(cfg.top_n, "places")[cols].round(2).to_string(index=False))
    if len(ranking.partnership):
        click.echo(f"\npartnership sites (not patrol targets): {len(ranking.partnership)}")
        click.echo(ranking.top(3, "partnership")[["lpu", "rank", "label", "site_category",
                                                  "expected_harm"]].round(1)
                   .to_string(index=False))
    if out:
        path = Path(out) / "targets.csv"
        write_csv(ranking.targets_table(), path)
        click.echo(f"wrote {path}")
