"""``geodemand ingest``: read incident files, print the accounting, optionally write them."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import options, parse_pairs


@click.command("ingest")
@options("incidents", "mapping", "crs", "lpu_boundaries", "neighbourhood_boundaries",
         "lpu_name_field", "neighbourhood_name_field")
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(
        ["auto", "police-uk-street", "police-uk-2011", "police-uk-api", "csv", "vector"]
    ),
    help="Input format (auto detects from the header and suffix).",
)
@click.option("--strict-types", is_flag=True, help="Reject records with unknown crime types.")
@click.option(
    "--crime-type-map",
    multiple=True,
    metavar="RAW=CANONICAL",
    help="Map a raw crime-type name to a canonical type, e.g. 'personal robbery=robbery'.",
)
@click.option("--force-only", is_flag=True, help="police.uk API: keep only location_type Force.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write accepted incidents here (.parquet GeoParquet or .csv); rejects.csv is "
    "written next to it.",
)
def command(
    incidents,
    mapping,
    crs,
    lpu_boundaries,
    neighbourhood_boundaries,
    lpu_name_field,
    neighbourhood_name_field,
    fmt,
    strict_types,
    crime_type_map,
    force_only,
    out,
):
    """Read incident files, print the accounting table and optionally write the result.

    --incidents may be files, folders, globs; .gz works. Every record read is accepted or
    rejected with a reason; nothing is silently dropped.
    """
    from geodemand.ingest.incidents import read_incidents
    from geodemand.ingest.write import write_incidents, write_rejects

    if not incidents:
        raise click.UsageError("--incidents is required (incident files, folders or globs)")
    table = read_incidents(
        list(incidents),
        format=fmt,
        mapping=parse_pairs(mapping, "--map") or None,
        crs=crs,
        strict_types=strict_types,
        crime_type_mapping=parse_pairs(crime_type_map, "--crime-type-map") or None,
        force_only=force_only,
    )
    accounting = table.accounting.copy()
    accounting["file"] = accounting["file"].map(lambda p: Path(p).name if p != "TOTAL" else p)
    click.echo(accounting.to_string(index=False))
    if table.unknown_crime_types:
        click.echo(
            "unknown crime types (kept): "
            + ", ".join(f"{k} ({v})" for k, v in sorted(table.unknown_crime_types.items()))
        )
    if lpu_boundaries:
        from geodemand.ingest.areas import assign_areas, read_areas

        areas = read_areas(lpu_boundaries, neighbourhood_boundaries, crs=table.crs,
                           lpu_field=lpu_name_field, neighbourhood_field=neighbourhood_name_field)
        table = assign_areas(table, areas)
        counts = table.frame["lpu"].value_counts().sort_index()
        click.echo("\nincidents per LPU:")
        click.echo(counts.to_string())
    window = table.window
    if window is not None:
        click.echo(
            f"\ndata window: {window[0]:%Y-%m-%d} to {window[1]:%Y-%m-%d} "
            f"(date precision: {table.date_precision}); CRS {table.crs}"
        )
    if out:
        path = write_incidents(table, out)
        rejects = write_rejects(table, Path(out).with_name("rejects.csv"))
        click.echo(f"wrote {path} and {rejects}")
