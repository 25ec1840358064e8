"""``geodemand ingest``: read incident files, print the accounting, optionally write them."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import parse_pairs


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
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
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Column mapping for generic input, e.g. --map date=when --map lon=lng "
    "(fields: id, date, time, crime_type, crime_type_value, x, y, lon, lat, crs, "
    "location, date_format).",
)
@click.option(
    "--crs",
    default=None,
    help="Analysis CRS (default: EPSG:27700 for British data, else the data's UTM zone).",
)
@click.option(
    "--strict-types/--keep-unknown-types",
    default=True,
    show_default=True,
    help="Reject records whose crime type is not in the vocabulary (unknown_crime_type), or "
    "keep them under their own names.",
)
@click.option(
    "--crime-type-map",
    multiple=True,
    metavar="RAW=CANONICAL",
    help="Map a raw crime-type name to a canonical type, e.g. 'personal robbery=robbery'.",
)
@click.option("--force-only", is_flag=True, help="police.uk API: keep only location_type Force.")
@click.option(
    "--lpu-boundaries",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="LPU polygons; adds lpu/neighbourhood and counts incidents outside.",
)
@click.option(
    "--neighbourhood-boundaries",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Neighbourhood polygons.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write accepted incidents here (.parquet GeoParquet or .csv); rejects.csv is "
    "written next to it.",
)
def command(
    paths,
    fmt,
    mapping,
    crs,
    strict_types,
    crime_type_map,
    force_only,
    lpu_boundaries,
    neighbourhood_boundaries,
    out,
):
    """Read incident files, print the accounting table and optionally write the result.

    PATHS may be files, folders, globs; .gz works. Every record read is accepted or rejected
    with a reason; nothing is silently dropped.
    """
    from geodemand.ingest.incidents import read_incidents
    from geodemand.ingest.write import write_incidents, write_rejects

    table = read_incidents(
        list(paths),
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
    for skipped in table.skipped:
        click.echo(f"skipped {Path(skipped['path']).name}: {skipped['reason']}")
    if table.unknown_crime_types:
        click.echo(
            "unknown crime types (kept): "
            + ", ".join(f"{k} ({v})" for k, v in sorted(table.unknown_crime_types.items()))
        )
    if lpu_boundaries:
        from geodemand.ingest.areas import assign_areas, read_areas

        areas = read_areas(lpu_boundaries, neighbourhood_boundaries, crs=table.crs)
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
