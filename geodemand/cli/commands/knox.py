"""``geodemand knox``: near-repeat Knox test on incident files; writes a table and a heat map."""

from __future__ import annotations

from pathlib import Path

import click

from geodemand.cli.options import options, parse_pairs
from geodemand.errors import InvalidParameterError


def _edges(text: str, name: str) -> list[float]:
    """``"0,100,200,inf"`` -> ``[0.0, 100.0, 200.0, inf]``."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidParameterError(
            f"{name}: {text!r}; expected comma-separated numbers such as 0,100,200,inf"
        ) from exc


@click.command("knox")
@options("incidents", "mapping", "crime_types", "keep_unknown_types", "crime_type_map", "crs")
@click.option(
    "--space-bands",
    default="0,100,200,300,400,inf",
    show_default=True,
    help="Space band edges in metres (comma-separated; the last may be inf).",
)
@click.option(
    "--time-bands",
    default="0,7,14,21,28,inf",
    show_default=True,
    help="Time band edges in days (comma-separated; the last may be inf).",
)
@click.option(
    "--closure",
    type=click.Choice(["left", "right"]),
    default="left",
    show_default=True,
    help="left: bands [a, b) (as the Near Repeat Calculator counts); right: (a, b].",
)
@click.option(
    "--same-location/--no-same-location",
    default=True,
    show_default=True,
    help="Add a separate band for pairs at distance exactly 0 m.",
)
@click.option(
    "--metric",
    type=click.Choice(["euclidean", "manhattan"]),
    default="euclidean",
    show_default=True,
)
@click.option("--permutations", type=click.IntRange(min=1), default=99, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--allow-month-precision",
    is_flag=True,
    help="Run even if the data only have month dates (police.uk); normally refused.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="knox_output",
    show_default=True,
    help="Folder for knox_table.csv and knox.png.",
)
def command(
    incidents: tuple[str, ...],
    mapping: tuple[str, ...],
    space_bands: str,
    time_bands: str,
    closure: str,
    same_location: bool,
    metric: str,
    permutations: int,
    seed: int,
    crime_types: tuple[str, ...],
    keep_unknown_types: bool | None,
    crime_type_map: tuple[str, ...],
    crs: str | None,
    allow_month_precision: bool,
    out_dir: str,
) -> None:
    """Knox test of --incidents (files, folders or globs): pairs per distance and time band
    against permuted dates; writes knox_table.csv and knox.png and prints the table."""
    from geodemand._spreadsheet import write_csv
    from geodemand.engines.nearrepeat import knox, plot_knox
    from geodemand.ingest.incidents import read_incidents

    if not incidents:
        raise click.UsageError("--incidents is required (incident files, folders or globs)")
    table = read_incidents(
        list(incidents), mapping=parse_pairs(mapping, "--map") or None, crs=crs,
        strict_types=not keep_unknown_types,
        crime_type_mapping=parse_pairs(crime_type_map, "--crime-type-map") or None,
    )
    frame = table.frame
    if crime_types:
        unknown = sorted(set(crime_types) - set(frame["crime_type"].unique()))
        if unknown:
            raise InvalidParameterError(
                f"--crime-type {unknown}: no such type in the data; present: "
                f"{sorted(frame['crime_type'].unique())}"
            )
        frame = frame[frame["crime_type"].isin(crime_types)]
    result = knox(
        frame,
        space_bands=_edges(space_bands, "--space-bands"),
        time_bands=_edges(time_bands, "--time-bands"),
        closure=closure,
        same_location_band=same_location,
        metric=metric,
        permutations=permutations,
        seed=seed,
        allow_month_precision=allow_month_precision,
    )
    out = Path(out_dir)
    long = result.to_frame()
    csv_path = write_csv(long, out / "knox_table.csv")
    png_path = plot_knox(result, out / "knox.png")
    click.echo(
        f"Knox test: {result.n_events:,} events, {result.n_pairs_in_table:,} pairs in the "
        f"table ({result.n_candidate_pairs:,} within the largest finite distance), "
        f"{permutations} permutations, seed {seed}, closure {closure}, {metric} distance"
    )
    click.echo("\nKnox ratio (observed / mean of permuted):")
    click.echo(result.table("ratio").round(2).to_string())
    click.echo("\np-value ((#{sim >= obs} + 1) / (R + 1)):")
    click.echo(result.table("p_value").round(3).to_string())
    click.echo("\nobserved pairs:")
    click.echo(result.table("observed").to_string())
    click.echo(f"\nwrote {csv_path} and {png_path}")
