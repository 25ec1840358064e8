"""The ``geodemand`` command: thin wrappers over the library functions.

Subcommands live in :mod:`geodemand.cli.commands`, one module each defining a click command
named ``command``; they are discovered, not listed by hand. Options shared by several
commands are defined once, in :mod:`geodemand.cli.options`.

Exit codes: 0 success; 2 a user mistake (bad input file, option, CRS, period, boundary layer),
printed as one line ``geodemand: error: ...`` without a traceback; 1 a bug (an internal
consistency error or any unexpected exception), printed as one line with a request to
report it (``GEODEMAND_DEBUG=1`` shows the traceback). Announcements of automatic choices are
printed to stderr unless ``--quiet`` is given; warnings always are.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import click

from geodemand._version import __version__
from geodemand.errors import GeodemandError, InternalConsistencyError

REPORT_URL = "https://github.com/geodemand/geodemand/issues"


class GeodemandGroup(click.Group):
    """A click group that turns errors into one line and an exit code (2 user, 1 bug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except InternalConsistencyError as exc:
            _bug(ctx, exc)
        except GeodemandError as exc:
            click.echo(f"geodemand: error: {exc}", err=True)
            ctx.exit(2)
        except OSError as exc:  # a file or folder that cannot be read or written
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            reason = exc.strerror or str(exc)
            click.echo(f"geodemand: error: {reason}{where}", err=True)
            ctx.exit(2)
        except Exception as exc:  # noqa: BLE001 - a bug: one line, exit 1, report it
            _bug(ctx, exc)


def _bug(ctx: click.Context, exc: BaseException) -> None:
    if os.environ.get("GEODEMAND_DEBUG"):
        raise exc
    click.echo(
        f"geodemand: internal error: {type(exc).__name__}: {exc}. This is a bug: please report "
        f"it with the command you ran at {REPORT_URL} (GEODEMAND_DEBUG=1 shows the traceback).",
        err=True,
    )
    ctx.exit(1)


@click.group(cls=GeodemandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geodemand")
@click.option(
    "--quiet", "-q", is_flag=True, help="Do not print announcements of automatic choices."
)
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """geodemand: police demand and hot-spot analysis for places, not people."""
    from geodemand._announce import quiet as set_quiet

    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    set_quiet(quiet)


def _register_subcommands() -> None:
    from geodemand.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"geodemand.cli.commands.{info.name}")
        main.add_command(module.command)


_register_subcommands()
