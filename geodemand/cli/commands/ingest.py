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
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="Write accepted incidents here (.parquet GeoParquet or .csv); rejects.csv is "
    "written next to it. With --partition-by: the dataset folder.",
)
@click.option(
    "--partition-by",
    "partition_by",
    type=click.Choice(["force,month"]),
    default=None,
    help="Write a partitioned dataset into the folder --out: one GeoParquet file per force "
    "and month (incidents/force=<slug>/month=<YYYY-MM>/part-0.parquet), the force's "
    "boundaries (--lpu-boundaries, --neighbourhood-boundaries, GeoJSON) in "
    "boundaries/<slug>/, rejects.csv and dataset.json. Months already there and not in "
    "this input are kept.",
)
@click.option(
    "--force",
    "force_name",
    default=None,
    help="With --partition-by: the force of every incident (e.g. 'Leicestershire Police'). "
    "Default: from the force column.",
)
@click.option(
    "--force-column",
    default=None,
    help="With --partition-by: column naming each incident's force (default: the first of "
    "force, raw_force, raw_falls_within, raw_reported_by).",
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
    partition_by,
    force_name,
    force_column,
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
    for skipped in table.skipped:
        click.echo(f"skipped {Path(skipped['path']).name}: {skipped['reason']}")
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
    if partition_by:
        _write_partitioned(table, out, force_name, force_column, lpu_boundaries,
                           neighbourhood_boundaries)
    elif force_name or force_column:
        raise click.UsageError("--force and --force-column go with --partition-by force,month")
    elif out:
        path = write_incidents(table, out)
        rejects = write_rejects(table, Path(out).with_name("rejects.csv"))
        click.echo(f"wrote {path} and {rejects}")


def _write_partitioned(table, out, force_name, force_column, lpu_boundaries, nb_boundaries):
    """``--partition-by force,month``: partitions, boundaries, rejects and dataset.json."""
    from geodemand.errors import InvalidParameterError
    from geodemand.ingest.partition import write_boundaries, write_partitions
    from geodemand.ingest.write import write_rejects

    if not out:
        raise InvalidParameterError("--partition-by needs --out FOLDER (the dataset root)")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise InvalidParameterError(f"{root}: --partition-by writes a folder; this is a file")
    if force_name and force_column:
        raise InvalidParameterError("give either --force or --force-column, not both")
    written = write_partitions(
        table.frame, root, crs=table.crs, synthetic=table.synthetic, force=force_name,
        force_column=force_column,
    )
    if lpu_boundaries:
        if len(written) != 1:
            raise InvalidParameterError(
                f"--lpu-boundaries: the input holds {len(written)} forces; copy each force's "
                "boundaries to <root>/boundaries/<slug>/lpus.geojson or ingest one force at a "
                "time"
            )
        (slug,) = written
        write_boundaries(root, slug, lpu_boundaries, nb_boundaries)
    rejects = write_rejects(table, root / "rejects.csv")
    for slug, months in written.items():
        click.echo(
            f"wrote {sum(months.values()):,} incidents of force {slug} in {len(months)} month "
            f"partition(s) under {root / 'incidents' / f'force={slug}'}"
        )
    click.echo(f"wrote {root / 'dataset.json'} and {rejects}")
