"""The weekly job on imperfect input and under failure: tiny data, hostile names, kills,
concurrent runs, reproducible bundles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodemand.jobs.bundle import BUNDLES
from geodemand.jobs.outputs import VOLATILE_MANIFEST_FIELDS
from geodemand.outputs.names import file_stems, slug

ROOT = Path(__file__).resolve().parents[1]
WM_MONTH = ROOT / "data/incidents/west-midlands/2018-06-west-midlands-api.csv.gz"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two LPUs of the West Midlands (Coventry, Solihull) and their wards."""
    d = tmp_path_factory.mktemp("small")
    b = ROOT / "data/boundaries/west-midlands"
    lpus = gpd.read_file(b / "lpus.geojson")
    lpus = lpus[lpus["lpu"].isin(["Coventry", "Solihull"])]
    lpus.to_file(d / "lpus.geojson")
    nbs = gpd.read_file(b / "neighbourhoods.geojson")
    nbs[nbs["lpu"].isin(["Coventry", "Solihull"])].to_file(d / "nbs.geojson")
    return d


def weekly(args, cwd=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "geodemand.cli", "-q", "weekly", *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def base_args(small, out):
    return ["--incidents", WM_MONTH, "--lpu-boundaries", small / "lpus.geojson",
            "--neighbourhood-boundaries", small / "nbs.geojson", "--tiles", "none",
            "--out", out, "--no-register"]


def complete(bundle: Path) -> bool:
    """Every file the manifest lists is there with its hash."""
    from geodemand._hashing import sha256_file

    manifest = json.loads((bundle / "manifest.json").read_text())
    return all(sha256_file(bundle / name) == info["sha256"]
               for name, info in manifest["outputs"].items())


def test_file_stems_are_unique_safe_and_stable():
    names = ["Force", "A/B", "a b", "con", "NUL", "x" * 300, "St Matthew's <b>&", "", "Ünïcode",
             "summary", "a-b"]
    stems = file_stems(names)
    assert len(set(stems.values())) == len(names)
    for stem in stems.values():
        assert stem and len(stem) <= 60 and all(ch.isalnum() or ch == "-" for ch in stem)
        assert stem.lower() not in {"con", "nul", "force", "summary"}
    assert stems["Force"] == "force-lpu" and stems["con"] == "con-lpu"
    assert {stems["A/B"], stems["a b"], stems["a-b"]} == {"a-b", "a-b-2", "a-b-3"}
    assert stems == file_stems(list(reversed(names)))
    assert slug("Ünïcode") == "unicode"


def test_hostile_lpu_names_get_their_own_files(tmp_path, small):
    names = ["Force", "A/B", "a b", "con", "x" * 300, "St Matthew's <b>&{{7*7}}"]
    lpus = gpd.read_file(small / "lpus.geojson")
    x0, y0, x1, y1 = lpus.total_bounds
    width = (x1 - x0) / len(names)
    hostile = gpd.GeoDataFrame(
        {"lpu": names},
        geometry=[shapely.box(x0 + i * width, y0, x0 + (i + 1) * width, y1)
                  for i in range(len(names))], crs=lpus.crs)
    hostile.to_file(tmp_path / "lpus.geojson")
    proc = weekly(["--incidents", WM_MONTH, "--lpu-boundaries", tmp_path / "lpus.geojson",
                   "--tiles", "none", "--out", tmp_path / "out", "--no-register"])
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    [bundle] = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    stems = json.loads((bundle / "manifest.json").read_text())["file_stems"]
    assert set(stems) == set(names) and len(set(stems.values())) == len(names)
    for stem in stems.values():
        assert (bundle / f"{stem}.html").is_file()
        assert (bundle / f"control_plan_{stem}.md").is_file()
    assert (bundle / "force.html").is_file() and stems["Force"] != "force"


def test_tiny_inputs_give_a_bundle(tmp_path, small):
    rows = pd.read_csv(WM_MONTH, dtype=str, keep_default_na=False)
    rows = rows[rows["longitude"].astype(float).between(-1.6, -1.45)]  # Coventry
    for n in (1, 3):
        path = tmp_path / f"tiny{n}.csv"
        rows.head(n).to_csv(path, index=False)
        args = base_args(small, tmp_path / f"out{n}")
        args[1] = path
        proc = weekly(args)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "Traceback" not in err


def test_two_runs_give_byte_identical_bundles(tmp_path, small):
    """Everything but the manifest's documented volatile fields is byte-identical."""
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = weekly(base_args(small, out))
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    [ba] = [p for p in a.iterdir() if not p.name.startswith(".")]
    [bb] = [p for p in b.iterdir() if not p.name.startswith(".")]
    names = sorted(p.name for p in ba.iterdir())
    assert names == sorted(p.name for p in bb.iterdir())
    for name in names:
        if name == "manifest.json":
            continue
        assert (ba / name).read_bytes() == (bb / name).read_bytes(), name
    ma, mb = (json.loads((x / "manifest.json").read_text()) for x in (ba, bb))
    for field in (*VOLATILE_MANIFEST_FIELDS, "parameters", "register"):
        ma.pop(field, None)
        mb.pop(field, None)
    assert ma == mb


@pytest.mark.slow
def test_killed_runs_leave_the_last_complete_bundle(tmp_path, small):
    out = tmp_path / "out"
    proc = weekly(base_args(small, out))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    [bundle] = [p for p in out.iterdir() if not p.name.startswith(".")]
    first = bundle.resolve()
    for delay in (0.5, 2.0, 4.0, 6.0, 8.0, 10.0):
        proc = weekly(base_args(small, out))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert bundle.is_dir() and complete(bundle)  # always a whole bundle
    proc = weekly(base_args(small, out))  # a clean run removes what the kills left
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert complete(bundle)
    store = out / BUNDLES
    assert not list(store.glob("*.partial"))
    assert [p.name for p in store.iterdir()] == [bundle.resolve().name]
    assert not first.exists() or first == bundle.resolve()


@pytest.mark.slow
def test_concurrent_runs_finish_cleanly(tmp_path, small):
    out = tmp_path / "out"
    procs = [weekly(base_args(small, out)) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    [bundle] = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert complete(bundle)
    assert len(list((out / BUNDLES).iterdir())) == 1
