"""The ``geodemand`` command: thin wrappers over the library functions.

User mistakes (bad input, bad options) print one line ``geodemand: error: ...`` and exit with
code 2, without a traceback. Announcements of automatic choices are printed to stderr unless
``--quiet`` is given.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from geodemand import __version__
from geodemand.errors import GeodemandError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
WM_BOUNDARIES = DATA_DIR / "boundaries" / "west-midlands"

# subcommands living in geodemand/commands/<module>.py as a click command named ``command``
SUBCOMMAND_MODULES: tuple[str, ...] = ("synth", "knox", "targets", "patrol", "weekly", "evaluate")


class GeodemandGroup(click.Group):
    """A click group that turns GeodemandError into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeodemandError as exc:
            click.echo(f"geodemand: error: {exc}", err=True)
            ctx.exit(2)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            click.echo(f"geodemand: error: {exc}", err=True)
            ctx.exit(2)


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is at the time of each message."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: D102 - logging.StreamHandler API
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(quiet: bool) -> None:
    """Print announcements on stderr as ``geodemand: ...`` (only warnings when quiet)."""
    logger = logging.getLogger("geodemand")
    for handler in list(logger.handlers):
        if isinstance(handler, _CurrentStderrHandler):
            logger.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("geodemand: %(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@click.group(cls=GeodemandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geodemand")
@click.option(
    "--quiet", "-q", is_flag=True, help="Do not print announcements of automatic choices."
)
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """geodemand: police demand and hot-spot analysis for places, not people."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    _configure_logging(quiet)


def _parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=what)
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


@main.command()
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
@click.option("--strict-types", is_flag=True, help="Reject records with unknown crime types.")
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
def ingest(
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
    from geodemand.incidents import read_incidents
    from geodemand.output import write_incidents, write_rejects

    table = read_incidents(
        list(paths),
        format=fmt,
        mapping=_parse_pairs(mapping, "--map") or None,
        crs=crs,
        strict_types=strict_types,
        crime_type_mapping=_parse_pairs(crime_type_map, "--crime-type-map") or None,
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
        from geodemand.areas import assign_areas, read_areas

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


def _register_subcommands() -> None:
    for name in SUBCOMMAND_MODULES:
        main.add_command(importlib.import_module(f"geodemand.commands.{name}").command)


_register_subcommands()

if __name__ == "__main__":  # pragma: no cover
    main()
