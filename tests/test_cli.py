"""The command line: help on every subcommand, ingest output, one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import geodemand as gd
from geodemand.cli import main


def test_help_on_every_subcommand():
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "ingest" in result.output
    for name in main.commands:
        sub = runner.invoke(main, [name, "--help"])
        assert sub.exit_code == 0, name
        assert "Usage:" in sub.output


def test_ingest_prints_accounting_and_writes_atomically(tmp_path, data_dir):
    out = tmp_path / "out" / "incidents.parquet"
    result = CliRunner().invoke(
        main,
        [
            "-q",
            "ingest",
            "--incidents",
            str(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz"),
            "--lpu-boundaries",
            str(data_dir / "boundaries/west-midlands/lpus.geojson"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "25094" in result.output and "TOTAL" in result.output
    assert "Birmingham North" in result.output
    assert out.exists() and (out.parent / "rejects.csv").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["incidents.parquet", "rejects.csv"]
    back = gd.read_incidents(out)
    assert len(back.frame) == 25_094
    assert back.frame["location_key"].str.startswith("pt:").all()
    assert pd.read_csv(out.parent / "rejects.csv").empty


def test_user_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "geodemand.cli", "ingest", "--incidents", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("geodemand: error:")]
    assert len(errors) == 1 and "empty" in errors[0]


def test_every_command_has_unique_options_and_national_takes_the_weekly_options():
    """No option is defined twice on a command (the registry), and national passes the
    weekly options to every force (one spelling: --window-days, --harm-scheme)."""
    import warnings

    from click.testing import CliRunner

    from geodemand.cli import main

    for name in main.list_commands(None):
        cmd = main.get_command(None, name)
        flags = [o for p in cmd.params for o in getattr(p, "opts", [])]
        assert len(flags) == len(set(flags)), (name, flags)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = CliRunner().invoke(main, ["national", "--help"])
    assert res.exit_code == 0
    for option in ("--window-days", "--harm-scheme", "--top-n", "--cell-size-m"):
        assert option in res.output
    assert "--harm-weights" not in res.output and "--window " not in res.output


@pytest.mark.parametrize(
    ("args", "toml", "expected"),
    [
        (["--crs", "EPSG:99999"], None, "crs"),
        ([], 'bandwidth_m = "wide"\n', "bandwidth_m"),
        (["--period", "2026-W99"], None, "period"),
        (["--window-days", "0"], None, "window"),
        (["--lpu-boundaries", "no-such-file.geojson"], None, "no-such-file"),
    ],
)
def test_bad_values_are_one_line_exit_2_before_reading_data(tmp_path, args, toml, expected):
    """The issue's tracebacks (bad CRS, TOML value of the wrong type, impossible period,
    missing boundary file) are one line and exit 2, before the data are read (fast)."""
    import time

    cmd = [sys.executable, "-m", "geodemand.cli", "weekly", "--out", str(tmp_path / "o"),
           *args]
    if toml is not None:
        cfg = tmp_path / "weekly.toml"
        cfg.write_text(toml)
        cmd += ["--config", str(cfg)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("geodemand: error:")
              or line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0].lower(), proc.stderr
    assert seconds < 20  # no data were read (a run takes longer)
    assert not (tmp_path / "o").exists()


def test_bng_metres_labelled_wgs84_is_a_clear_error():
    """Easting/northing labelled EPSG:4326 are refused with a message, not an inf grid."""
    import numpy as np

    import geodemand as gd

    pts = np.array([[451_000.0, 302_000.0], [451_200.0, 302_100.0]])
    with pytest.raises(gd.InvalidParameterError, match="look like projected metres"):
        gd.kde(pts, bandwidth_m=200, crs="EPSG:4326")
    with pytest.raises(gd.InvalidParameterError, match="look like projected metres"):
        gd.gistar(pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1]}), crs="EPSG:4326",
                  cell_size_m=100)
