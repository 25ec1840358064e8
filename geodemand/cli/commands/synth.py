"""``geodemand synth``: generate synthetic incidents and print a summary."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from geodemand.ingest.synth import DEFAULT_END_DATE

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


class IncidentCount(click.ParamType):
    """A positive whole number: ``600000``, ``600k``, ``10M``, ``1e7`` or ``10_000_000``."""

    name = "N"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip().replace("_", "").replace(",", "")
            m = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)([kKmMgG]?)", text)
            if not m:
                self.fail(f"{value!r}: expected a whole number such as 600000, 600k, 10M or 1e7")
            number_f = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
            if number_f != int(number_f):
                self.fail(f"{value!r} is not a whole number of incidents")
            number = int(number_f)
        if number < 1:
            self.fail(f"{value!r}: expected at least 1 incident")
        return number


def _top_share(keys: pd.Series, share: float = 0.05) -> float:
    counts = np.sort(keys.value_counts().to_numpy())[::-1]
    k = max(1, int(np.ceil(share * counts.size)))
    return float(counts[:k].sum() / counts.sum())


@click.command("synth")
@click.argument("n", type=IncidentCount(), required=False)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the random generator; the same arguments give byte-identical files.",
)
@click.option(
    "--end-date",
    "end",
    default=DEFAULT_END_DATE,
    show_default=True,
    help="Last day of the period (included), YYYY-MM-DD.",
)
@click.option(
    "--years",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Length of the period in calendar years, ending on --end-date.",
)
@click.option(
    "--start", default=None, help="First day of the period, YYYY-MM-DD (instead of --years)."
)
@click.option(
    "--calibration",
    type=click.Path(exists=True),
    default=None,
    help="Real incident file or folder giving places and crime-type mix (default: "
    "the bundled West Midlands police.uk month 2018-06).",
)
@click.option(
    "--boundaries",
    default=None,
    help="Folder with lpus.geojson [+ neighbourhoods.geojson], an LPU layer file, or "
    "'none' (default: the bundled West Midlands layers with the default "
    "calibration, none otherwise).",
)
@click.option("--no-near-repeat", is_flag=True, help="No near-repeat contagion.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Output file: .parquet (GeoParquet, default format) or .csv. Without it "
    "nothing is written.",
)
@click.option(
    "--national",
    is_flag=True,
    help="Write a synthetic national set (rotated and moved copies of the bundled West "
    "Midlands and Leicestershire forces) as a partitioned dataset into the folder --out; N, "
    "if given, is the total number of incidents (default about 21.8 million for 44 forces).",
)
@click.option(
    "--forces",
    type=click.IntRange(1, 99),
    default=None,
    help="--national: number of forces (default 44).",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="--national: multiplies every force's incident count (default 1).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default=None,
    help="Output format (default: from the --out suffix).",
)
@click.pass_context
def command(
    ctx, n, seed, end, years, start, calibration, boundaries, no_near_repeat, national, forces,
    scale, out, fmt,
):
    """Generate N synthetic incidents (e.g. 600k, 10M) calibrated on real data.

    Places are the calibration file's real map points drawn with their real frequencies per
    crime type; times follow documented hour and weekday profiles per type; burglary,
    vehicle crime and robbery get near-repeat contagion. Every row is labelled synthetic.

    With --national: a partitioned national set (force, month) in the folder --out, for
    'geodemand national'.
    """
    from geodemand.errors import InvalidParameterError
    from geodemand.ingest.synth import load_calibration, synthetic_incidents, write_synthetic

    if national:
        _national(ctx, n, seed, end, years, start, calibration, boundaries, no_near_repeat,
                  forces, scale, out, fmt)
        return
    if forces is not None or scale is not None:
        raise InvalidParameterError("--forces and --scale are options of --national")
    if n is None:
        raise InvalidParameterError("N: give the number of incidents (e.g. 600k), or --national")

    if (
        start is not None
        and ctx.get_parameter_source("years") == click.core.ParameterSource.COMMANDLINE
    ):
        raise InvalidParameterError("give either --start or --years, not both")
    if boundaries is not None and boundaries.lower() == "none":
        boundaries = False
    t0 = time.perf_counter()
    cal = load_calibration(calibration, boundaries)
    table = synthetic_incidents(
        n,
        seed=seed,
        start=start,
        end=end,
        years=years,
        calibration=cal,
        near_repeat=not no_near_repeat,
    )
    t_gen = time.perf_counter() - t0
    p = table.params
    f = table.frame
    click.echo(
        f"synthetic incidents: {n:,} (seed {seed}), {p['start']} to {p['end']} ({p['days']} days), "
        f"timestamps to the minute, CRS {table.crs}; generated in {t_gen:.1f} s"
    )
    sha = (p.get("calibration_sha256") or "")[:12]
    click.echo(
        f"calibration: {p['calibration']} ({cal.n_incidents:,} incidents at "
        f"{cal.place_key.size:,} map points{', sha256 ' + sha if sha else ''}; "
        f"{cal.n_clipped:,} outside the boundaries not used)"
    )
    if p["offspring"]:
        per_type = f["crime_type"].value_counts()
        parts = [f"{k} {v:,} ({v / per_type[k]:.1%})" for k, v in p["offspring"].items()]
        click.echo("near-repeat offspring: " + ", ".join(parts))
    click.echo(f"top 5 % of places hold {_top_share(f['location_key']):.1%} of incidents")
    synth_share = f["crime_type"].value_counts(normalize=True)
    cal_share = pd.Series(
        np.bincount(cal.row_type, minlength=len(cal.types)) / cal.n_incidents, index=list(cal.types)
    )
    mix = pd.DataFrame({"synthetic %": synth_share * 100, "calibration %": cal_share * 100})
    mix = mix.fillna(0.0).sort_values("calibration %", ascending=False).round(2)
    click.echo("\ncrime-type mix:\n" + mix.to_string())
    if "lpu" in f.columns:
        click.echo("\nincidents per LPU:\n" + f["lpu"].value_counts().sort_index().to_string())
    if out:
        t1 = time.perf_counter()
        path = write_synthetic(table, out, format=fmt)
        size = Path(path).stat().st_size / 1e6
        is_csv = fmt == "csv" or (fmt is None and Path(out).suffix.lower() == ".csv")
        label = "column 'synthetic'" + (
            "" if is_csv else ", file metadata geodemand:synthetic = true"
        )
        click.echo(
            f"\nwrote {path} ({size:.1f} MB) in {time.perf_counter() - t1:.1f} s; every "
            f"row is labelled synthetic ({label})"
        )
    else:
        click.echo("\nno --out given: nothing written")


def _national(ctx, n, seed, end, years, start, calibration, boundaries, no_near_repeat, forces,
              scale, out, fmt) -> None:
    """``synth --national``: the partitioned synthetic national set."""
    import resource

    from geodemand.errors import InvalidParameterError
    from geodemand.ingest.synth import NATIONAL_FORCES, national_plan, synthetic_national

    unused = {
        "--start": start, "--calibration": calibration, "--boundaries": boundaries,
        "--no-near-repeat": no_near_repeat or None, "--format": fmt,
    }
    given = [k for k, v in unused.items() if v is not None]
    if given:
        raise InvalidParameterError(f"--national does not take {', '.join(given)}")
    if not out:
        raise InvalidParameterError("--national needs --out FOLDER (the dataset root)")
    forces = forces or NATIONAL_FORCES
    if n is not None:
        if scale is not None:
            raise InvalidParameterError("give either N (the total) or --scale, not both")
        plan = national_plan(forces, scale=1.0, seed=seed, years=years)
        base = _national_total(plan, years)
        scale = n / base
    t0 = time.perf_counter()
    meta = synthetic_national(
        out, forces=forces, scale=scale or 1.0, seed=seed, years=years, end=end
    )
    seconds = time.perf_counter() - t0
    rows = sum(f["rows"] for f in meta["forces"].values())
    parts = sum(len(f["months"]) for f in meta["forces"].values())
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    click.echo(
        f"synthetic national set: {len(meta['forces'])} forces, {rows:,} incidents, "
        f"{meta['generator']['start']} to {meta['generator']['end']}, {parts:,} force-month "
        f"partitions, {size:,.0f} MB in {out}; {seconds:.1f} s, peak memory {peak:,.0f} MB. "
        "Every file is labelled synthetic."
    )


def _national_total(plan: list[dict], years: int) -> int:
    """Incidents of a national plan at scale 1 (the templates' calibration volumes)."""
    from geodemand.ingest import synth

    templates = {t.name: t for t in synth.NATIONAL_TEMPLATES}
    total = 0
    for f in plan:
        t = templates[f["template"]]
        cal = synth._template_calibration(t)
        total += max(1, round(cal.n_incidents / t.months * 12 * years * f["volume_factor"]))
    return total
