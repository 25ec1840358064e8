"""The control-plan register: statuses across runs, GeoPackage layout, migrations, and safety
(one transaction per run: SIGKILL mid-write and concurrent writers)."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.evaluate import register as regmod
from geodemand.evaluate.plans import replay
from geodemand.evaluate.register import SCHEMA_VERSION, Register

ROOT = Path(__file__).resolve().parents[1]
CRS = "EPSG:27700"
MONDAY = pd.Timestamp("2024-01-01")


def week(k: int) -> dict:
    start = MONDAY + pd.Timedelta(weeks=k)
    return {"period_start": start, "period_end": start + pd.Timedelta(days=7),
            "lpus": ["North", "South"], "crs": CRS, "period_label": f"2024-W{k + 1:02d}",
            "period_kind": "week", "synthetic": True}


def targets(ids, lpu="North", review="2024-01-28", x0=400_000.0):
    n = len(ids)
    return pd.DataFrame({
        "target_id": list(ids), "target_type": ["place"] * n, "lpu": [lpu] * n,
        "label": [f"{i} street" for i in ids], "rank": np.arange(1, n + 1),
        "force_rank": np.arange(1, n + 1), "expected_harm": np.linspace(10, 1, n),
        "harm": np.linspace(100, 10, n), "incidents": np.arange(n, 0, -1),
        "x": x0 + 50.0 * np.arange(n), "y": 300_000.0, "review_date": review,
        "ignored_column": "x",
    })


def areas(ids, lpu="North", review="2024-02-11"):
    geoms = [shapely.box(400_000 + 300 * i, 301_000, 400_200 + 300 * i, 301_200)
             for i in range(len(ids))]
    return gpd.GeoDataFrame({"area_id": list(ids), "lpu": lpu, "rank": range(1, len(ids) + 1),
                             "review_date": review, "visits_per_day": 4.0,
                             "minutes_per_day": 60.0}, geometry=geoms, crs=CRS)


def status_of(frame, item_id, kind="target"):
    row = frame[(frame["item_id"] == item_id) & (frame["kind"] == kind)]
    assert len(row) == 1, row
    return row.iloc[0]


def test_target_appears_continues_drops_and_expires(tmp_path):
    """Four weekly runs: place A is new, continuing, dropped, then expired (its review date
    2024-01-24 falls in week 4, 22-28 Jan); B stays listed throughout."""
    reg = Register.open(tmp_path / "r.gpkg")
    lists = [["A", "B"], ["A", "B"], ["B"], ["B"]]
    expected = ["new", "continuing", "dropped", "expired"]
    for k, (ids, want) in enumerate(zip(lists, expected, strict=True)):
        info = week(k)
        t = targets(ids, review="2024-01-24")
        t.loc[t["target_id"] == "B", "review_date"] = "2024-03-31"
        before = reg.statuses(info, t)
        a = status_of(before, "A")
        assert a["status"] == want
        assert bool(a["listed"]) == (want in ("new", "continuing"))
        # the plan started when the first list was published: the end of week 1
        assert a["plan_start"] == MONDAY + pd.Timedelta(days=7)
        assert a["first_period"] == MONDAY
        assert a["review_date"] == pd.Timestamp("2024-01-24")
        assert a["weeks_on_list"] == {"new": 1, "continuing": 2}.get(want, 0)
        assert a["geometry"].equals(shapely.Point(400_000, 300_000))
        b = status_of(before, "B")
        assert b["status"] == ("new" if k == 0 else "continuing")
        assert b["weeks_on_list"] == k + 1
        reg.record_run(info, t)
        stored = reg.history(item_id="A")
        assert stored["status"].tolist() == expected[: k + 1]
        # what statuses() said is exactly what record_run stored
        cols = ["kind", "item_id", "lpu", "status", "listed", "plan_start", "review_date",
                "weeks_on_list", "runs_listed"]
        now = reg.history()
        now = now[now["period_start"] == info["period_start"]]
        pd.testing.assert_frame_equal(
            before[cols].sort_values(["kind", "item_id"]).reset_index(drop=True).astype(object),
            now[cols].sort_values(["kind", "item_id"]).reset_index(drop=True).astype(object),
            check_dtype=False)
    plans = reg.plans().set_index("item_id")
    assert plans.loc["A", "state"] == "expired"
    assert plans.loc["A", "closed_period"] == MONDAY + pd.Timedelta(weeks=3)
    assert plans.loc["B", "state"] == "open"
    assert plans.loc["B", "runs_listed"] == 4
    # the fifth run: A no longer has an open plan, so it has no status row at all
    st = reg.statuses(week(4), targets(["B"], review="2024-03-31"))
    assert st["item_id"].tolist() == ["B"]
    due = reg.due_reviews(as_of="2024-01-29")
    assert due["item_id"].tolist() == ["A"]
    reg.close()


def test_listed_past_review_date_expires_and_renews(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        for k in range(4):
            review = (MONDAY + pd.Timedelta(weeks=k, days=20)).strftime("%Y-%m-%d")
            reg.record_run(week(k), targets(["A"], review=review))
        h = reg.history(item_id="A")
        # plan 1: review 2024-01-21 (< end of week 3, 22 Jan): expired while still listed
        assert h["status"].tolist() == ["new", "continuing", "expired", "continuing"]
        assert h["listed"].tolist() == [True] * 4
        assert h["weeks_on_list"].tolist() == [1, 2, 3, 4]  # one unbroken streak
        assert h["plan_start"].iloc[2] == pd.Timestamp("2024-01-08")
        renewed = pd.Timestamp("2024-01-22")  # end of week 3: the renewed plan starts
        assert h["plan_start"].iloc[3] == renewed
        plans = reg.plans()
        assert plans["plan_start"].tolist() == [pd.Timestamp("2024-01-08"), renewed]
        assert plans["state"].tolist() == ["expired", "open"]
        assert plans["review_date"].iloc[1] == pd.Timestamp("2024-02-04")


def test_runs_covering_one_lpu_leave_the_others_alone(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        reg.record_run(week(0), targets(["A"]), areas(["N1"]))
        south_only = dict(week(1), lpus=["South"])
        st = reg.statuses(south_only, targets(["S"], lpu="South"))
        assert st["item_id"].tolist() == ["S"]  # North's A is neither dropped nor expired
        reg.record_run(south_only, targets(["S"], lpu="South"))
        st = reg.statuses(week(2), targets(["A"]), areas(["N1"]))
        a = status_of(st, "A")
        assert a["status"] == "continuing"
        assert a["weeks_on_list"] == 3  # week 2 did not cover North: the streak is unbroken
        assert status_of(st, "S")["status"] == "dropped"
        assert status_of(st, "N1", "area")["status"] == "continuing"
        with pytest.raises(InvalidParameterError, match="not in run_info"):
            reg.statuses(south_only, targets(["A"]))


def test_rerunning_a_period_replaces_its_rows(tmp_path):
    path = tmp_path / "r.gpkg"
    with Register.open(path) as reg:
        reg.record_run(week(0), targets(["A", "B"]), areas(["N1"]))
        reg.record_run(week(1), targets(["A"]), areas(["N1"]))
        reg.record_run(week(1), targets(["A", "C"]), areas(["N1", "N2"]))
        assert len(reg.runs()) == 2
        layer = reg.layer("target")
        assert len(layer) == 4 and not layer.duplicated(["period_start", "target_id"]).any()
        assert len(reg.layer("area")) == 3
        h = reg.history()
        assert not h.duplicated(["period_start", "kind", "lpu", "item_id"]).any()
        # re-recording an earlier period recomputes the later statuses
        assert status_of(h[h["period_start"] == MONDAY + pd.Timedelta(weeks=1)],
                         "A")["status"] == "continuing"
        reg.record_run(week(0), targets(["B"]))
        h = reg.history()
        w1 = h[h["period_start"] == MONDAY + pd.Timedelta(weeks=1)]
        assert status_of(w1, "A")["status"] == "new"
        assert status_of(w1, "N1", "area")["status"] == "new"
        assert len(reg.runs()) == 2
    with sqlite3.connect(path) as conn:
        stored = pd.read_sql_query("SELECT * FROM statuses", conn)
        coverage, listings = regmod._stored_inputs(conn)
    expected, _ = replay(coverage, listings)
    assert len(stored) == len(expected)


def test_statuses_writes_nothing(tmp_path):
    path = tmp_path / "r.gpkg"
    with Register.open(path) as reg:
        reg.record_run(week(0), targets(["A"]), areas(["N1"]))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        st = reg.statuses(week(1), targets(["B"]), areas(["N2"]))
        assert sorted(st["status"]) == ["dropped", "dropped", "new", "new"]
        # dropped items carry their last recorded geometry
        assert status_of(st, "N1", "area")["geometry"].equals(areas(["N1"]).geometry.iloc[0])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_geopackage_layers_open_with_gdal(tmp_path):
    path = tmp_path / "r.gpkg"
    a = areas(["N1", "N2"])
    a.loc[1, "geometry"] = shapely.MultiPolygon([shapely.box(0, 0, 10, 10),
                                                 shapely.box(20, 0, 30, 10)])
    with Register.open(path) as reg:
        reg.record_run(week(0), targets(["A", "B"]), a,
                       partnership=targets(["P"]).assign(reason="licensed premises"))
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"targets": "Point", "patrol_areas": "MultiPolygon",
                      "partnership_sites": "Point", "runs": None, "reviews": None,
                      "statuses": None, "plans": None}
    got = pyogrio.read_dataframe(path, layer="patrol_areas")
    assert got.crs.to_epsg() == 27700
    for g, want in zip(got.geometry, a.geometry, strict=True):
        assert g.equals(want)
    pts = pyogrio.read_dataframe(path, layer="targets")
    assert np.allclose(pts.geometry.x, pts["x"]) and set(pts["target_id"]) == {"A", "B"}
    assert pyogrio.read_dataframe(path, layer="partnership_sites")["reason"].tolist() == [
        "licensed premises"]
    info = pyogrio.read_info(path, layer="patrol_areas")
    assert np.allclose(info["total_bounds"], [0, 0, 400_200, 301_200])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _make_v1(path: Path) -> None:
    """A schema-version-1 register holding two runs, written with plain SQL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    regmod.migrate(conn, path, target=1)
    conn.execute("INSERT INTO register_meta VALUES ('crs', ?), ('srs_id', '27700')", (CRS,))
    for k, ids in enumerate((["A", "B"], ["B"])):
        info = week(k)
        p, e = f"{info['period_start']:%Y-%m-%d}", f"{info['period_end']:%Y-%m-%d}"
        cur = conn.execute("INSERT INTO runs (period_start, period_end, lpus, crs, recorded_at) "
                           "VALUES (?, ?, '[\"North\"]', ?, 'now')", (p, e, CRS))
        conn.execute("INSERT INTO run_lpus VALUES (?, 'North', ?)", (p, cur.lastrowid))
        for rank, i in enumerate(ids, 1):
            conn.execute("INSERT INTO targets (period_start, run_fid, target_id, target_type, "
                         "lpu, label, rank, x, y, review_date) VALUES (?, ?, ?, 'place', "
                         "'North', ?, ?, 0, 0, '2024-03-01')", (p, cur.lastrowid, i, i, rank))
    conn.execute("COMMIT")
    conn.close()


def test_migration_v1_to_v2_rebuilds_plans_from_stored_runs(tmp_path):
    path = tmp_path / "old.gpkg"
    _make_v1(path)
    with sqlite3.connect(path) as conn:
        assert "statuses" not in regmod._tables(conn)
    with Register.open(path) as reg:
        assert reg.schema_version == SCHEMA_VERSION == 2
        h = reg.history()
        assert h[["item_id", "status"]].values.tolist() == [
            ["A", "new"], ["B", "new"], ["A", "dropped"], ["B", "continuing"]]
        assert len(reg.plans()) == 2
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(1,), (2,)]
    assert "statuses" in dict(pyogrio.list_layers(path))


def test_refuses_newer_foreign_and_broken_files(tmp_path):
    newer = tmp_path / "newer.gpkg"
    Register.open(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9, 'future', 'now')")
    with pytest.raises(InputFormatError, match="schema version 9 is newer"):
        Register.open(newer)
    foreign = tmp_path / "patrol_areas.gpkg"
    areas(["N1"]).to_file(foreign)
    with pytest.raises(InputFormatError, match="not a geodemand register"):
        Register.open(foreign)
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputFormatError, match="not a readable register"):
        Register.open(junk)
    with pytest.raises(InvalidParameterError, match="no register here"):
        Register.open(tmp_path / "missing.gpkg", create=False)


def test_input_validation_names_the_field(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        with pytest.raises(InvalidParameterError, match="missing column"):
            reg.record_run(week(0), targets(["A"]).drop(columns="x"))
        with pytest.raises(InvalidParameterError, match="row 1, field review_date"):
            reg.record_run(week(0), targets(["A", "B"]).assign(review_date=["2024-02-01",
                                                                            "soon"]))
        with pytest.raises(InvalidParameterError, match="listed twice"):
            reg.record_run(week(0), targets(["A", "A"]))
        with pytest.raises(InvalidParameterError, match="target_type"):
            reg.record_run(week(0), targets(["A"]).assign(target_type="person"))
        with pytest.raises(InvalidParameterError, match="missing"):
            reg.record_run({"period_start": "2024-01-01"})
        assert len(reg.runs()) == 0  # nothing half-recorded
        reg.record_run(week(0), targets(["A"]))
        with pytest.raises(InvalidParameterError, match="was recorded ending"):
            reg.record_run(dict(week(0), period_end="2024-02-01"), targets(["A"]))


def test_due_reviews_open_plans_and_recorded_reviews(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        reg.record_run(week(0), targets(["A", "B"], review="2024-01-10"))
        assert reg.due_reviews("2024-01-10").empty
        assert reg.due_reviews("2024-01-11")["item_id"].tolist() == ["A", "B"]
        assert reg.open_plans("2024-01-05")["item_id"].tolist() == ["A", "B"]
        st = reg.statuses(week(1), targets(["B"], review="2024-01-30"))
        expired = st[st["status"] == "expired"]
        assert sorted(expired["item_id"]) == ["A", "B"]
        review = pd.DataFrame({
            "kind": "target", "item_id": ["A"], "lpu": "North",
            "plan_start": expired["plan_start"].iloc[0], "review_date": "2024-01-10",
            "outcome": "reviewed", "wdq": 1.6, "sentence": "A street: harm -38 % vs LPU -4 %"})
        reg.record_run(week(1), targets(["B"], review="2024-01-30"), reviews=review)
        assert reg.due_reviews("2024-01-15")["item_id"].tolist() == ["B"]
        got = reg.reviews()
        assert got["sentence"].tolist() == ["A street: harm -38 % vs LPU -4 %"]
        assert got["reviewed_period"].iloc[0] == MONDAY + pd.Timedelta(weeks=1)
        # re-recording the run replaces its review instead of adding one
        reg.record_run(week(1), targets(["B"], review="2024-01-30"), reviews=review)
        assert len(reg.reviews()) == 1
        assert reg.open_plans()["item_id"].tolist() == ["B"]  # B renewed, A closed
        assert reg.open_plans("2024-01-08")["item_id"].tolist() == ["A", "B", "B"]


def test_backup_is_a_consistent_copy(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        reg.record_run(week(0), targets(["A"]), areas(["N1"]))
        dest = reg.backup(tmp_path / "copy.gpkg")
    with Register.open(dest) as copy:
        assert copy.history()["item_id"].tolist() == ["A", "N1"] or sorted(
            copy.history()["item_id"]) == ["A", "N1"]
        assert len(copy.layer("area")) == 1


# ---------------------------------------------------------------------------- processes
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd
    import geodemand.evaluate.register as R

    path, mode, first, count, lpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
        int(sys.argv[4]), sys.argv[5]
    n = 1000
    reg = R.Register.open(path)
    if mode == "pause":
        original = R._insert_rows
        def paused(conn, table, rows):
            original(conn, table, rows)
            print("inside", table, flush=True)
            time.sleep(60)
        R._insert_rows = paused
    print("ready", flush=True)
    if mode == "barrier":
        while not __import__("os").path.exists(path + ".go"):
            time.sleep(0.01)
    for k in range(first, first + count):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=k)
        ids = [f"p{k % 3}-{i}" for i in range(n)]
        t = pd.DataFrame({"target_id": ids, "target_type": "place", "lpu": lpu,
                          "rank": np.arange(1, n + 1), "x": 400000.0 + np.arange(n),
                          "y": 300000.0, "review_date": start + pd.Timedelta(days=20)})
        reg.record_run({"period_start": start, "period_end": start + pd.Timedelta(days=7),
                        "lpus": [lpu], "crs": "EPSG:27700"}, t)
        print("recorded", k, flush=True)
""")
N_CHILD = 1000


def _child(tmp_path: Path, *args: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return list(conn.iterdump())


def _consistent(path: Path) -> pd.DataFrame:
    """Every recorded run is whole, and the derived tables equal a fresh replay."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_run = pd.read_sql_query(
            "SELECT r.period_start, l.lpu, (SELECT COUNT(*) FROM targets t WHERE "
            "t.period_start = l.period_start AND t.lpu = l.lpu) AS n FROM runs r JOIN run_lpus "
            "l ON l.run_fid = r.fid", conn)
        stored = pd.read_sql_query("SELECT period_start, kind, lpu, item_id, status FROM "
                                   "statuses ORDER BY 1, 2, 3, 4", conn)
        coverage, listings = regmod._stored_inputs(conn)
    assert (per_run["n"] == N_CHILD).all(), per_run
    expected, _ = replay(coverage, listings)
    expected = expected.assign(period_start=expected["period_start"].dt.strftime("%Y-%m-%d"))
    expected = expected[["period_start", "kind", "lpu", "item_id", "status"]].sort_values(
        ["period_start", "kind", "lpu", "item_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
    return per_run


def test_sigkill_during_the_write_leaves_the_register_unchanged(tmp_path):
    path = tmp_path / "r.gpkg"
    with Register.open(path) as reg:
        reg.record_run(dict(week(0), lpus=["North"]), targets(["A"]))
    before = _dump(path)
    # killed inside the transaction, after the targets were inserted (before the commit)
    proc = _child(tmp_path, path, "pause", 1, 1, "North")
    lines = [proc.stdout.readline() for _ in range(2)]
    assert lines[0].strip() == "ready" and lines[1].startswith("inside"), (
        lines, proc.stderr.read() if proc.poll() is not None else "")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert Path(str(path) + "-journal").exists()  # a hot journal: rolled back on next open
    with Register.open(path) as reg:
        assert len(reg.runs()) == 1
    assert _dump(path) == before


def test_sigkill_at_random_moments_keeps_every_run_whole(tmp_path):
    path = tmp_path / "r.gpkg"
    rng = np.random.default_rng(7)
    recorded = 0
    for attempt in range(4):
        proc = _child(tmp_path, path, "loop", 10 * attempt, 10, "North")
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 1.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        per_run = _consistent(path)
        assert len(per_run) >= recorded
        recorded = len(per_run)
    assert recorded >= 1


def test_two_writers_at_once_leave_a_consistent_register(tmp_path):
    path = tmp_path / "r.gpkg"
    Register.open(path).close()
    # North and South record the same four weeks at the same time, and a third writer records
    # week 0 of North again (the same period and LPU: its rows are replaced, not doubled)
    procs = [_child(tmp_path, path, "barrier", 0, 4, lpu) for lpu in ("North", "South")]
    procs.append(_child(tmp_path, path, "barrier", 0, 1, "North"))
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    Path(str(path) + ".go").touch()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    per_run = _consistent(path)
    assert len(per_run) == 8
    assert sorted(per_run["lpu"].value_counts().tolist()) == [4, 4]


def test_other_crs_inputs_are_reprojected_and_due_plans_get_geometry(tmp_path):
    with Register.open(tmp_path / "r.gpkg") as reg:
        reg.record_run(week(0), targets(["A"], review="2024-01-10"), areas(["N1"],
                                                                          review="2024-01-10"))
        assert reg.crs == CRS
        wgs = gpd.GeoSeries([shapely.Point(400_000, 300_000)], crs=CRS).to_crs(4326)
        t = targets(["B"]).assign(x=wgs.x.iloc[0], y=wgs.y.iloc[0])
        reg.record_run(dict(week(1), crs="EPSG:4326"), t, areas(["N1"]).to_crs(4326))
        layer = reg.layer("target")
        b = layer[layer["target_id"] == "B"].iloc[0]
        assert b["x"] == pytest.approx(400_000, abs=1e-3) and b.geometry.y == pytest.approx(
            300_000, abs=1e-3)
        n1 = reg.layer("area").geometry.iloc[-1]
        assert n1.hausdorff_distance(areas(["N1"]).geometry.iloc[0]) < 0.01  # metres
        due = reg.with_geometry(reg.due_reviews("2024-01-20"))
        assert due["item_id"].tolist() == ["N1", "A"]  # kind order: area, target
        assert due.crs == CRS and due.geometry.iloc[1].equals(shapely.Point(400_000, 300_000))
        assert due.geometry.iloc[0].geom_type == "MultiPolygon"
