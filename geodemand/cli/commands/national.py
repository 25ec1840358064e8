"""``geodemand national``: the weekly job for every force of a partitioned dataset, on Dask."""

from __future__ import annotations

import click

from geodemand.cli.options import DEMAND, PATROL, options, weekly_config


@click.command("national")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--out", default="national", show_default=True, help="Output root folder.")
@click.option(
    "--force",
    "forces",
    multiple=True,
    help="Only this force (its slug, as in dataset.json; repeatable). Default: every force.",
)
@click.option(
    "--scheduler",
    default=None,
    help="Address of a running Dask scheduler, e.g. tcp://host:8786 (default: a local "
    "cluster). The dataset and --out must be on a file system every worker sees.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local cluster: worker processes, one thread each (default: the number of cores).",
)
@click.option(
    "--sequential",
    is_flag=True,
    help="Run the forces one after another in this process (no Dask).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Times a task that raised an unexpected error is tried again.",
)
@click.option(
    "--allowed-failures",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Local cluster: worker deaths a task survives before its force is reported failed.",
)
@options("period", "tiles", *[o for o in DEMAND if o != "force"],
         "cell_size_m", "bandwidth_m", *PATROL, "seed", "config")
@click.pass_context
def command(ctx, root, out, forces, scheduler, workers, sequential, retries, allowed_failures,
            config_path, **params):
    """Run the weekly job for every force of the partitioned dataset ROOT, in parallel.

    ROOT is written by 'geodemand ingest --partition-by force,month' or 'geodemand synth
    --national': incidents/force=<slug>/month=<YYYY-MM>/part-0.parquet and each force's
    boundaries/<slug>/lpus.geojson [+ neighbourhoods.geojson]. Each force's bundle goes to
    OUT/<slug>/<period>/ (the same as 'geodemand weekly' on that force); the national
    summary (national_summary.md, national_forces.csv, national.json) goes to OUT.
    A force that fails is reported there and the others go on; the exit code is then 3.
    """
    from geodemand.errors import InvalidParameterError
    from geodemand.jobs.national import run_national

    if sequential and (scheduler or workers):
        raise InvalidParameterError("--sequential runs in this process: drop --scheduler/--workers")
    if scheduler and workers:
        raise InvalidParameterError("--workers sizes a local cluster: drop it with --scheduler")
    weekly = weekly_config(params, config_path)
    result = run_national(
        root,
        weekly,
        out=out,
        forces=list(forces) or None,
        mode="sequential" if sequential else "dask",
        scheduler=scheduler,
        workers=workers,
        retries=retries,
        allowed_failures=allowed_failures,
        task_threads=None if sequential else 1,
    )
    nat = result.summary["national"]
    click.echo(
        f"national run: {nat['forces_ok']} of {nat['forces']} forces done in "
        f"{result.seconds:.1f} s; {nat['incidents_accepted']:,} incidents; "
        f"{nat['patrol_areas']:,} patrol areas; summary in {result.out_dir}/national_summary.md"
        + (" (SYNTHETIC data)" if nat["synthetic"] else "")
    )
    for failed in nat["forces_failed"]:
        click.echo(f"failed: {failed['slug']}: {failed['error']}", err=True)
    if nat["forces_failed"]:
        ctx.exit(3)
