"""The control-plan register: what every run listed, plan statuses, and the reviews.

The register is one GeoPackage file (an SQLite database that QGIS and GDAL open directly; the
weekly job keeps it at ``maps/register.gpkg``). It holds

feature layers (geometry ``geom`` in the register's CRS, set by the first run)
    ``targets`` (points: places and grid cells), ``patrol_areas`` (multipolygons),
    ``partnership_sites`` (points): one row per item per run period;
attribute tables
    ``runs`` (one row per recorded run), ``reviews`` (one row per reviewed plan), and the
    derived ``plans`` and ``statuses`` (rebuilt from the listings in every write, see
    :mod:`geodemand.evaluate.plans` for the definitions of plan, status and the dates);
internal tables
    ``schema_migrations`` (the schema version history), ``register_meta`` (CRS, creation),
    ``run_lpus`` (which LPUs each run covered).

Keys are the ids the caller gives — ``target_id`` (``place:<key>``, ``cell:<row>,<col>``),
``area_id`` — with the LPU, so the same place is the same item across runs.

Safety
------
* Every write (:meth:`Register.record_run`, schema migrations) is **one SQLite transaction**
  started with ``BEGIN IMMEDIATE`` in rollback-journal mode: a process killed at any moment
  leaves the file as it was before the write (SQLite rolls the hot journal back on the next
  open), and a second writer waits (busy timeout, default 300 s) instead of interleaving, so
  two runs at once cannot corrupt it; the derived tables are rebuilt inside the same
  transaction, from the data that transaction sees.
* Re-recording a period replaces that period's rows for the LPUs the run covers (never
  duplicates); runs covering other LPUs of the same period are kept.
* :meth:`Register.statuses` computes the statuses of a run *without writing* (the weekly job
  needs them before it draws its maps), exactly as :meth:`Register.record_run` will store them.
* The schema is versioned (``schema_migrations``): opening an older register applies the
  missing migrations in one transaction; a newer one is refused.

Backups: copy the file while no run is writing, or call :meth:`Register.backup` (SQLite's
online backup, consistent even during a run). Start afresh by moving the file away.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._announce import announce
from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.evaluate import gpkg
from geodemand.evaluate.plans import PLAN_COLUMNS, STATUS_COLUMNS, replay

__all__ = ["Register", "SCHEMA_VERSION", "REVIEW_FIELDS", "DEFAULT_PATH"]

#: The schema version this code writes (see ``MIGRATIONS``).
SCHEMA_VERSION = 2
DEFAULT_PATH = Path("maps") / "register.gpkg"
DEFAULT_TIMEOUT_S = 300.0

_COMMON = [("geom", None), ("period_start", "DATE NOT NULL"), ("run_fid", "INTEGER NOT NULL")]
TARGET_FIELDS = [
    ("target_id", "TEXT NOT NULL"), ("target_type", "TEXT NOT NULL"), ("lpu", "TEXT NOT NULL"),
    ("label", "TEXT"), ("rank", "INTEGER"), ("force_rank", "INTEGER"), ("score", "REAL"),
    ("expected_harm", "REAL"), ("harm", "REAL"), ("incidents", "INTEGER"), ("x", "REAL"),
    ("y", "REAL"), ("review_date", "DATE NOT NULL"),
]
PARTNERSHIP_FIELDS = [*TARGET_FIELDS, ("reason", "TEXT")]
AREA_FIELDS = [
    ("area_id", "TEXT NOT NULL"), ("lpu", "TEXT NOT NULL"), ("label", "TEXT"),
    ("rank", "INTEGER"), ("force_rank", "INTEGER"), ("score", "REAL"), ("expected_harm", "REAL"),
    ("harm", "REAL"), ("incidents", "INTEGER"), ("visits_per_day", "REAL"),
    ("minutes_per_day", "REAL"), ("area_km2", "REAL"), ("review_date", "DATE NOT NULL"),
]
RUN_FIELDS = [
    ("period_start", "DATE NOT NULL"), ("period_end", "DATE NOT NULL"), ("period_label", "TEXT"),
    ("period_kind", "TEXT"), ("lpus", "TEXT NOT NULL"), ("crs", "TEXT NOT NULL"),
    ("window_start", "TEXT"), ("window_end", "TEXT"), ("synthetic", "BOOLEAN"),
    ("geodemand_version", "TEXT"), ("recorded_at", "DATETIME NOT NULL"), ("info", "TEXT"),
]
#: Columns of the ``reviews`` table (the output of :func:`geodemand.evaluate.reviews.review_plans`
#: plus ``reviewed_period``, the period start of the run that recorded the review).
REVIEW_FIELDS = [
    ("kind", "TEXT NOT NULL"), ("item_id", "TEXT NOT NULL"), ("lpu", "TEXT NOT NULL"),
    ("label", "TEXT"), ("plan_start", "DATE NOT NULL"), ("review_date", "DATE"),
    ("reviewed_period", "DATE NOT NULL"), ("outcome", "TEXT NOT NULL"), ("window_unit", "TEXT"),
    ("window_length", "INTEGER"), ("before_start", "DATE"), ("after_start", "DATE"),
    ("after_end", "DATE"), ("buffer_m", "REAL"), ("area_km2", "REAL"),
    ("area_before", "INTEGER"), ("area_after", "INTEGER"), ("area_change_pct", "REAL"),
    ("area_harm_before", "REAL"), ("area_harm_after", "REAL"), ("area_harm_change_pct", "REAL"),
    ("buffer_before", "INTEGER"), ("buffer_after", "INTEGER"), ("buffer_harm_before", "REAL"),
    ("buffer_harm_after", "REAL"), ("control_before", "INTEGER"), ("control_after", "INTEGER"),
    ("control_change_pct", "REAL"), ("control_harm_before", "REAL"),
    ("control_harm_after", "REAL"), ("control_harm_change_pct", "REAL"),
    ("success_measure", "REAL"), ("buffer_displacement", "REAL"), ("wdq", "REAL"),
    ("wdq_harm", "REAL"), ("total_net_effect", "REAL"), ("relative_change", "REAL"),
    ("ci_low", "REAL"), ("ci_high", "REAL"), ("p_value", "REAL"),
    ("buffer_relative_change", "REAL"), ("buffer_p_value", "REAL"), ("significant", "BOOLEAN"),
    ("interpretation", "TEXT"), ("sentence", "TEXT"),
]
STATUS_TYPES = {
    "period_start": "DATE NOT NULL", "period_end": "DATE NOT NULL", "kind": "TEXT NOT NULL",
    "item_id": "TEXT NOT NULL", "lpu": "TEXT NOT NULL", "label": "TEXT", "rank": "INTEGER",
    "listed": "BOOLEAN NOT NULL", "status": "TEXT NOT NULL", "first_period": "DATE",
    "plan_start": "DATE", "review_date": "DATE", "listed_since": "DATE",
    "weeks_on_list": "INTEGER", "runs_listed": "INTEGER", "last_listed": "DATE",
    "state": "TEXT", "closed_period": "DATE", "closed_at": "DATE", "last_status": "TEXT",
    "last_period": "DATE",
}
#: kind -> (table, id column, fields, geometry type)
LAYERS = {
    "target": ("targets", "target_id", TARGET_FIELDS, "POINT"),
    "area": ("patrol_areas", "area_id", AREA_FIELDS, "MULTIPOLYGON"),
    "partnership": ("partnership_sites", "target_id", PARTNERSHIP_FIELDS, "POINT"),
}
_ALL_FIELDS = [*STATUS_TYPES.items(), *REVIEW_FIELDS, *RUN_FIELDS, *TARGET_FIELDS,
               *AREA_FIELDS, *PARTNERSHIP_FIELDS, ("fid", "INTEGER"), ("run_fid", "INTEGER")]
_DATE_COLUMNS = {n for n, t in _ALL_FIELDS if t.split()[0] == "DATE"}
_INT_COLUMNS = {n for n, t in _ALL_FIELDS if t.split()[0] == "INTEGER"}
_BOOL_COLUMNS = {n for n, t in _ALL_FIELDS if t.split()[0] == "BOOLEAN"}


# ---------------------------------------------------------------------------- schema
def _create(conn: sqlite3.Connection, table: str, fields, unique: str | None,
            geometry: str | None = None, description: str = "") -> None:
    cols = ["fid INTEGER PRIMARY KEY AUTOINCREMENT"]
    for name, sqltype in fields:
        cols.append(f"{name} {geometry if name == 'geom' else sqltype}")
    if unique:
        cols.append(f"UNIQUE ({unique})")
    conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
    gpkg.register_table(conn, table, description, geometry)


def _migration_1(conn: sqlite3.Connection) -> None:
    """v0 -> v1: the GeoPackage core, run metadata, the three listing layers and reviews."""
    gpkg.create_core(conn)
    conn.execute("CREATE TABLE register_meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO register_meta VALUES ('created_at', ?)", (_now(),))
    _create(conn, "runs", RUN_FIELDS, None, description="one row per recorded run")
    conn.execute(
        "CREATE TABLE run_lpus (period_start DATE NOT NULL, lpu TEXT NOT NULL, "
        "run_fid INTEGER NOT NULL, PRIMARY KEY (period_start, lpu))"
    )
    for _kind, (table, id_col, fields, geom) in LAYERS.items():
        _create(conn, table, [*_COMMON, *fields], f"period_start, lpu, {id_col}", geom,
                f"{table} listed by each run")
        conn.execute(f"CREATE INDEX {table}_item ON {table} (lpu, {id_col}, period_start)")
    _create(conn, "reviews", REVIEW_FIELDS, "kind, lpu, item_id, plan_start",
            description="automatic reviews of plans that reached their review date")


def _migration_2(conn: sqlite3.Connection) -> None:
    """v1 -> v2: the derived ``plans`` and ``statuses`` tables, built from the stored runs."""
    _create(conn, "statuses", [(c, STATUS_TYPES[c]) for c in STATUS_COLUMNS],
            "period_start, kind, lpu, item_id", description="status of every item in every run")
    _create(conn, "plans", [(c, STATUS_TYPES[c]) for c in PLAN_COLUMNS],
            "kind, lpu, item_id, plan_start", description="every control plan and its state")
    _rebuild_derived(conn, None)


#: version -> (description, function); applied in order inside one transaction.
MIGRATIONS = {
    1: ("GeoPackage core, runs, listing layers (targets, patrol areas, partnership sites), "
        "reviews", _migration_1),
    2: ("derived plans and statuses tables", _migration_2),
}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    tables = _tables(conn) - {"sqlite_sequence"}
    if "schema_migrations" not in tables:
        if tables:
            raise InputFormatError(
                f"{path}: an SQLite/GeoPackage file that is not a geodemand register (tables "
                f"{sorted(tables)[:5]}, no schema_migrations); choose another --register path"
            )
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` (inside the caller's transaction)."""
    version = _schema_version(conn, path)
    if version > SCHEMA_VERSION:
        raise InputFormatError(
            f"{path}: register schema version {version} is newer than this geodemand "
            f"understands ({SCHEMA_VERSION}); upgrade geodemand"
        )
    if version == 0:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at DATETIME NOT NULL)")
    for v in range(version + 1, target + 1):
        description, step = MIGRATIONS[v]
        step(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (v, description, _now()))
        if version > 0:
            announce(f"{path}: register schema migrated to version {v} ({description})")
    return max(version, target)


# ---------------------------------------------------------------------------- values
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc
    if pd.isna(ts):
        raise InvalidParameterError(f"{what}: missing date")
    return ts.normalize()


def _sql(v: Any) -> Any:
    """A Python value SQLite stores: NaN/NaT -> NULL, timestamps -> ISO dates, numpy -> py."""
    if v is None:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return None if pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d}"
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _dates_to_datetime(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns of a table read back: dates as datetime64, integers as Int64, booleans."""
    for c in frame.columns:
        if c in _DATE_COLUMNS:
            frame[c] = pd.to_datetime(frame[c])
        elif c in _INT_COLUMNS:
            frame[c] = pd.to_numeric(frame[c]).astype("Int64")
        elif c in _BOOL_COLUMNS:
            frame[c] = frame[c].astype("boolean")
    return frame


# ---------------------------------------------------------------------------- inputs
def _run_info(info: dict) -> dict:
    if not isinstance(info, dict):
        raise InvalidParameterError("run_info must be a dict (period_start, period_end, lpus, crs)")
    missing = [k for k in ("period_start", "period_end", "lpus", "crs") if info.get(k) is None]
    if missing:
        raise InvalidParameterError(f"run_info: missing {missing}")
    start = _date(info["period_start"], "run_info['period_start']")
    end = _date(info["period_end"], "run_info['period_end']")
    if end <= start:
        raise InvalidParameterError(
            f"run_info: period_end {end:%Y-%m-%d} is not after period_start {start:%Y-%m-%d}")
    lpus = [info["lpus"]] if isinstance(info["lpus"], str) else list(info["lpus"])
    if not lpus or any(not isinstance(x, str) or not x for x in lpus):
        raise InvalidParameterError(f"run_info['lpus'] must be LPU names, got {info['lpus']!r}")
    out = dict(info)
    out.update(period_start=start, period_end=end, lpus=sorted(set(lpus)), crs=str(info["crs"]))
    return out


def _frame(kind: str, frame: Any, run: dict, crs: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Validated rows of one listing layer (register columns) and their geometries in ``crs``."""
    table, id_col, fields, _ = LAYERS[kind]
    names = [n for n, _ in fields]
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=names), np.empty(0, dtype=object)
    required = [id_col, "lpu", "rank", "review_date"]
    required += ["target_type", "x", "y"] if kind != "area" else ["geometry"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidParameterError(f"{table}: missing column(s) {missing}; expected {required}")
    df = pd.DataFrame(frame).reset_index(drop=True)
    for col in (id_col, "lpu"):
        bad = df[col].isna() | (df[col].astype(str).str.len() == 0)
        if bad.any():
            raise InvalidParameterError(f"{table} row {int(np.flatnonzero(bad)[0])}, field "
                                        f"{col}: empty (every row needs one)")
    outside = sorted(set(df["lpu"].astype(str)) - set(run["lpus"]))
    if outside:
        raise InvalidParameterError(f"{table}: LPU(s) {outside} are not in run_info['lpus'] "
                                    f"{run['lpus']}")
    dup = df.duplicated(["lpu", id_col])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InvalidParameterError(f"{table} row {i}: {id_col} {df[id_col][i]!r} listed twice "
                                    f"in LPU {df['lpu'][i]!r}")
    rd = pd.to_datetime(df["review_date"], errors="coerce")
    if rd.isna().any():
        i = int(np.flatnonzero(rd.isna())[0])
        raise InvalidParameterError(f"{table} row {i}, field review_date: "
                                    f"{df['review_date'][i]!r} is not a date")
    if kind != "area":
        bad = ~df["target_type"].isin(["place", "cell"])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidParameterError(f"{table} row {i}, field target_type: "
                                        f"{df['target_type'][i]!r}; expected 'place' or 'cell'")
        x = pd.to_numeric(df["x"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(df["y"], errors="coerce").to_numpy(float)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            i = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
            raise InvalidParameterError(f"{table} row {i}: x/y must be finite metres")
        geoms = gpd.GeoSeries(shapely.points(x, y), crs=run["crs"]).to_crs(crs)
        df["x"], df["y"] = geoms.x.to_numpy(), geoms.y.to_numpy()
        geom = np.asarray(geoms.values, dtype=object)
    else:
        src = frame.crs if isinstance(frame, gpd.GeoDataFrame) and frame.crs else run["crs"]
        series = gpd.GeoSeries(df["geometry"].to_numpy(), crs=src).to_crs(crs)
        geom = np.asarray(series.values, dtype=object)
        kinds = shapely.get_type_id(geom)
        if not np.isin(kinds, [3, 6]).all():
            i = int(np.flatnonzero(~np.isin(kinds, [3, 6]))[0])
            raise InvalidParameterError(f"{table} row {i}, field geometry: not a polygon")
        geom = np.array([g if g.geom_type == "MultiPolygon" else shapely.multipolygons([g])
                         for g in geom], dtype=object)
        if "area_km2" not in df.columns:
            df["area_km2"] = shapely.area(geom) / 1e6
    if "label" not in df.columns:
        df["label"] = df[id_col]
    df["review_date"] = rd.dt.normalize()
    for name in names:
        if name not in df.columns:
            df[name] = None
    return df[names], geom


def _listing(kind: str, rows: pd.DataFrame, period: pd.Timestamp) -> pd.DataFrame:
    id_col = LAYERS[kind][1]
    return pd.DataFrame({
        "kind": kind, "item_id": rows[id_col].astype(str), "lpu": rows["lpu"].astype(str),
        "period_start": period, "review_date": pd.to_datetime(rows["review_date"]),
        "label": rows["label"], "rank": rows["rank"],
    })


# ---------------------------------------------------------------------------- derived tables
def _stored_inputs(conn: sqlite3.Connection, before: str | None = None):
    """Coverage and listings stored in the register (periods before ``before`` if given)."""
    where = "WHERE l.period_start < ?" if before else ""
    args = (before,) if before else ()
    coverage = pd.read_sql_query(
        "SELECT l.period_start, r.period_end, l.lpu FROM run_lpus l JOIN runs r "
        f"ON r.fid = l.run_fid {where}", conn, params=args)
    parts = []
    for kind, (table, id_col, _, _) in LAYERS.items():
        w = "WHERE period_start < ?" if before else ""
        parts.append(pd.read_sql_query(
            f"SELECT '{kind}' AS kind, {id_col} AS item_id, lpu, period_start, review_date, "
            f"label, rank FROM {table} {w}", conn, params=args))
    listings = pd.concat(parts, ignore_index=True)
    return coverage, listings


def _rebuild_derived(conn: sqlite3.Connection, from_period: str | None) -> None:
    """Replay the stored runs; rewrite ``plans`` and the ``statuses`` from ``from_period``."""
    coverage, listings = _stored_inputs(conn)
    statuses, plans = replay(coverage, listings)
    if from_period is None:
        conn.execute("DELETE FROM statuses")
    else:
        conn.execute("DELETE FROM statuses WHERE period_start >= ?", (from_period,))
        statuses = statuses[statuses["period_start"] >= pd.Timestamp(from_period)]
    _insert(conn, "statuses", statuses)
    conn.execute("DELETE FROM plans")
    _insert(conn, "plans", plans)


def _insert(conn: sqlite3.Connection, table: str, frame: pd.DataFrame,
            extra: dict | None = None) -> None:
    extra = extra or {}
    cols = list(frame.columns) + list(extra)
    sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    values = [_sql_column(frame[c]) for c in frame.columns]
    values += [[_sql(v)] * len(frame) for v in extra.values()]
    conn.executemany(sql, zip(*values, strict=True))


def _sql_column(col: pd.Series) -> list:
    """A column as SQLite values (the vectorised :func:`_sql`)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        text = col.dt.strftime("%Y-%m-%d")
        return [None if pd.isna(v) else v for v in text.tolist()]
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return col.astype(np.int64).tolist()
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.astype(np.int64).tolist()
    if pd.api.types.is_float_dtype(col):
        arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
        out = arr.astype(object)
        out[~np.isfinite(arr)] = None
        return out.tolist()
    if pd.api.types.is_string_dtype(col) and col.map(type).isin([str]).sum() == col.notna().sum():
        return col.astype(object).where(col.notna(), None).tolist()
    return [_sql(v) for v in col.tolist()]


# ---------------------------------------------------------------------------- the register
class Register:
    """A control-plan register file (module documentation).

    Open with :meth:`Register.open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    # -- opening
    @classmethod
    def open(cls, path: str | os.PathLike[str] = DEFAULT_PATH, *, create: bool = True,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> Register:
        """Open (and create or migrate) the register at ``path``.

        Parameters
        ----------
        path : path
            The ``.gpkg`` file (its folder is created).
        create : bool
            Create a new register when the file does not exist (else raise).
        timeout_s : float
            How long to wait for another process's write to finish, seconds.
        """
        path = Path(path)
        if not path.exists():
            if not create:
                raise InvalidParameterError(
                    f"{path}: no register here (a weekly run creates it; --register PATH)")
            path.parent.mkdir(parents=True, exist_ok=True)
        elif path.is_dir():
            raise InvalidParameterError(f"{path}: is a folder, expected a register file")
        conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
        reg = cls(path, conn)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = FULL")
            with reg._write():
                migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InputFormatError(f"{path}: not a readable register ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return reg

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed whole or not at all."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("ROLLBACK")

    # -- properties
    @property
    def schema_version(self) -> int:
        """The register's schema version."""
        return _schema_version(self._conn, self.path)

    @property
    def crs(self) -> str | None:
        """The CRS of the register's geometries (set by the first run), or None."""
        row = self._conn.execute("SELECT value FROM register_meta WHERE key = 'crs'").fetchone()
        return None if row is None else row[0]

    # -- statuses and recording
    def statuses(self, run_info: dict, targets: Any = None, areas: Any = None,
                 partnership: Any = None) -> gpd.GeoDataFrame:
        """The status of every item of a run, computed without writing anything.

        Parameters are those of :meth:`record_run` (reviews aside). Returns one row per item
        the run lists or that has an open plan in a covered LPU: ``kind`` (``target``,
        ``area``, ``partnership``), ``item_id``, ``lpu``, ``label``, ``rank`` (None when not
        listed), ``listed``, ``status`` (``new``, ``continuing``, ``dropped``, ``expired``),
        ``first_period``, ``plan_start``, ``review_date``, ``listed_since``,
        ``weeks_on_list``, ``runs_listed``, ``last_listed``, ``period_start``, ``period_end``
        and ``geometry`` (points for targets and partnership sites, polygons for areas; the
        last recorded geometry for items not listed now), in the register's CRS (the run's
        CRS for a new register). Dates are datetime64. Earlier periods only are used: the
        result is the same as the ``statuses`` rows :meth:`record_run` will store.
        """
        run = _run_info(run_info)
        crs = self.crs or run["crs"]
        period = run["period_start"]
        frames, geoms = {}, {}
        for kind, frame in (("target", targets), ("area", areas), ("partnership", partnership)):
            frames[kind], geoms[kind] = _frame(kind, frame, run, crs)
        p = f"{period:%Y-%m-%d}"
        with self._read() as conn:
            self._check_period(conn, run)
            coverage, listings = _stored_inputs(conn, before=p)
            coverage = pd.concat([coverage, pd.DataFrame({
                "period_start": p, "period_end": f"{run['period_end']:%Y-%m-%d}",
                "lpu": run["lpus"]})], ignore_index=True)
            listings = pd.concat([listings, *(_listing(k, frames[k], period) for k in LAYERS)],
                                 ignore_index=True)
            st, _ = replay(coverage, listings)
            st = st[st["period_start"] == period].reset_index(drop=True)
            geometry = np.empty(len(st), dtype=object)
            lookup = {
                (k, str(lpu), str(i)): g
                for k in LAYERS
                for lpu, i, g in zip(frames[k]["lpu"], frames[k][LAYERS[k][1]], geoms[k],
                                     strict=True)
            }
            for j, key in enumerate(zip(st["kind"], st["lpu"], st["item_id"], strict=True)):
                geometry[j] = lookup[key] if key in lookup else self._last_geometry(conn, key, p)
        return gpd.GeoDataFrame(st, geometry=geometry, crs=crs)

    def _last_geometry(self, conn: sqlite3.Connection, key: tuple, before: str):
        table, id_col, _, _ = LAYERS[key[0]]
        row = conn.execute(
            f"SELECT geom FROM {table} WHERE lpu = ? AND {id_col} = ? AND period_start < ? "
            "ORDER BY period_start DESC LIMIT 1", (key[1], key[2], before)).fetchone()
        return None if row is None else gpkg.from_blobs([row[0]])[0]

    def _check_period(self, conn: sqlite3.Connection, run: dict) -> None:
        row = conn.execute("SELECT period_end FROM runs WHERE period_start = ? LIMIT 1",
                           (f"{run['period_start']:%Y-%m-%d}",)).fetchone()
        if row is not None and row[0] != f"{run['period_end']:%Y-%m-%d}":
            raise InvalidParameterError(
                f"{self.path}: period starting {run['period_start']:%Y-%m-%d} was recorded "
                f"ending {row[0]}, this run says {run['period_end']:%Y-%m-%d}")

    def record_run(self, run_info: dict, targets: Any = None, areas: Any = None,
                   partnership: Any = None, reviews: pd.DataFrame | None = None) -> int:
        """Record one run in one transaction; returns the run's ``fid`` in ``runs``.

        Parameters
        ----------
        run_info : dict
            ``period_start``, ``period_end`` (exclusive) dates; ``lpus`` (the LPUs this run
            covers: their rows of this period are replaced, and their open plans judged);
            ``crs`` (of ``x``/``y`` and of areas without a CRS). Optional: ``period_label``,
            ``period_kind``, ``window_start``, ``window_end``, ``synthetic``,
            ``geodemand_version``; any other JSON-able keys are kept in ``runs.info``.
        targets : DataFrame, optional
            The listed targets: ``target_id``, ``target_type`` (``place``/``cell``), ``lpu``,
            ``rank``, ``x``, ``y`` (metres, ``run_info['crs']``), ``review_date``; optional
            ``label``, ``force_rank``, ``score``, ``expected_harm``, ``harm``, ``incidents``.
            Other columns are ignored.
        areas : GeoDataFrame, optional
            The patrol areas: ``area_id``, ``lpu``, ``rank``, ``review_date``, polygon
            ``geometry``; optional ``label``, ``force_rank``, ``score``, ``expected_harm``,
            ``harm``, ``incidents``, ``visits_per_day``, ``minutes_per_day``, ``area_km2``.
        partnership : DataFrame, optional
            Partnership sites: the target columns plus ``reason``.
        reviews : DataFrame, optional
            From :func:`geodemand.evaluate.reviews.review_plans` (columns
            :data:`REVIEW_FIELDS` but ``reviewed_period``); a review replaces an earlier
            review of the same plan.
        """
        run = _run_info(run_info)
        p = f"{run['period_start']:%Y-%m-%d}"
        lpus = run["lpus"]
        marks = ", ".join("?" * len(lpus))
        review_rows = _review_rows(reviews, lpus)
        with self._write() as conn:
            crs = self.crs
            if crs is None:
                crs = run["crs"]
                srs_id = gpkg.set_srs(conn, crs)
                conn.execute("INSERT INTO register_meta VALUES ('crs', ?)", (crs,))
                conn.execute("INSERT INTO register_meta VALUES ('srs_id', ?)", (str(srs_id),))
            srs_id = int(conn.execute(
                "SELECT value FROM register_meta WHERE key = 'srs_id'").fetchone()[0])
            self._check_period(conn, run)
            prepared = {k: _frame(k, f, run, crs) for k, f in
                        (("target", targets), ("area", areas), ("partnership", partnership))}
            for table, _, _, _ in LAYERS.values():
                conn.execute(f"DELETE FROM {table} WHERE period_start = ? AND lpu IN ({marks})",
                             (p, *lpus))
            conn.execute(f"DELETE FROM reviews WHERE reviewed_period = ? AND lpu IN ({marks})",
                         (p, *lpus))
            conn.execute(f"DELETE FROM run_lpus WHERE period_start = ? AND lpu IN ({marks})",
                         (p, *lpus))
            conn.execute("DELETE FROM runs WHERE fid NOT IN (SELECT run_fid FROM run_lpus)")
            known = {k for k, _ in RUN_FIELDS}
            info = {k: v for k, v in run_info.items() if k not in known}
            values = {
                "period_start": p, "period_end": f"{run['period_end']:%Y-%m-%d}",
                "period_label": run.get("period_label"), "period_kind": run.get("period_kind"),
                "lpus": json.dumps(lpus), "crs": run["crs"],
                "window_start": _sql_text(run.get("window_start")),
                "window_end": _sql_text(run.get("window_end")),
                "synthetic": _sql(run.get("synthetic")),
                "geodemand_version": run.get("geodemand_version"), "recorded_at": _now(),
                "info": json.dumps(info, default=str, sort_keys=True),
            }
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()))
            run_fid = int(cur.lastrowid)
            conn.executemany("INSERT INTO run_lpus VALUES (?, ?, ?)",
                             [(p, lpu, run_fid) for lpu in lpus])
            for kind, (rows, geoms) in prepared.items():
                table = LAYERS[kind][0]
                blobs = [gpkg.to_blob(g, srs_id) for g in geoms]
                _insert_rows(conn, table, rows.assign(geom=blobs, period_start=p,
                                                      run_fid=run_fid))
            for r in review_rows.itertuples(index=False):
                conn.execute("DELETE FROM reviews WHERE kind = ? AND lpu = ? AND item_id = ? "
                             "AND plan_start = ?", (r.kind, r.lpu, r.item_id,
                                                    _sql(pd.Timestamp(r.plan_start))))
            _insert_rows(conn, "reviews", review_rows.assign(reviewed_period=p))
            _rebuild_derived(conn, p)
            for table in ("runs", "reviews", "plans", "statuses",
                          *(v[0] for v in LAYERS.values())):
                gpkg.touch(conn, table)
        return run_fid

    # -- reading
    def _query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with self._read() as conn:
            frame = pd.read_sql_query(sql, conn, params=params)
        return _dates_to_datetime(frame)

    def runs(self) -> pd.DataFrame:
        """Every recorded run (``runs`` table), oldest period first."""
        return self._query("SELECT * FROM runs ORDER BY period_start, fid")

    def latest_period_end(self) -> pd.Timestamp | None:
        """The end of the latest recorded period, or None for an empty register."""
        row = self._conn.execute("SELECT MAX(period_end) FROM runs").fetchone()
        return None if row[0] is None else pd.Timestamp(row[0])

    def history(self, kind: str | None = None, item_id: str | None = None,
                lpu: str | None = None) -> pd.DataFrame:
        """Stored statuses (``statuses`` table), filtered, in period order."""
        where, args = _filters(kind=kind, item_id=item_id, lpu=lpu)
        return self._query(f"SELECT * FROM statuses {where} "
                           "ORDER BY period_start, kind, lpu, item_id", args)

    def plans(self) -> pd.DataFrame:
        """Every plan (``plans`` table)."""
        return self._query("SELECT * FROM plans ORDER BY kind, lpu, item_id, plan_start")

    def open_plans(self, as_of: Any = None, lpu: str | None = None) -> pd.DataFrame:
        """Plans open on ``as_of`` (default: open after the latest run).

        A plan is open from its first period's start until the end of the run that expired it
        (``closed_at``).
        """
        where, args = _filters(lpu=lpu)
        where = where + (" AND " if where else "WHERE ")
        if as_of is None:
            sql = f"SELECT * FROM plans {where} state = 'open'"
        else:
            d = f"{_date(as_of, 'as_of'):%Y-%m-%d}"
            sql = (f"SELECT * FROM plans {where} first_period <= ? AND "
                   "(closed_at IS NULL OR closed_at > ?)")
            args = (*args, d, d)
        return self._query(sql + " ORDER BY lpu, kind, review_date, item_id", args)

    def due_reviews(self, as_of: Any = None, lpu: str | None = None) -> pd.DataFrame:
        """Plans whose review date has passed by ``as_of`` (default: the end of the latest
        recorded period) and that have no review row yet (a review row whose ``outcome`` is
        ``not reviewed`` counts: its sentence says why it could not be reviewed)."""
        if as_of is None:
            as_of = self.latest_period_end()
            if as_of is None:
                return self.plans().iloc[0:0]
        d = f"{_date(as_of, 'as_of'):%Y-%m-%d}"
        where, args = _filters(lpu=lpu, prefix="p.")
        where = where + (" AND " if where else "WHERE ")
        sql = (f"SELECT p.* FROM plans p {where} p.review_date < ? AND NOT EXISTS "
               "(SELECT 1 FROM reviews r WHERE r.kind = p.kind AND r.lpu = p.lpu AND "
               "r.item_id = p.item_id AND r.plan_start = p.plan_start) "
               "ORDER BY p.lpu, p.review_date, p.kind, p.item_id")
        return self._query(sql, (*args, d))

    def with_geometry(self, plans: pd.DataFrame) -> gpd.GeoDataFrame:
        """``plans`` (e.g. :meth:`due_reviews`) with each item's last recorded geometry, in the
        register's CRS, ready for :func:`geodemand.evaluate.reviews.review_plans`."""
        geoms = np.empty(len(plans), dtype=object)
        with self._read() as conn:
            for j, key in enumerate(zip(plans["kind"], plans["lpu"], plans["item_id"],
                                        strict=True)):
                geoms[j] = self._last_geometry(conn, key, "9999-12-31")
        return gpd.GeoDataFrame(plans.copy(), geometry=geoms, crs=self.crs)

    def reviews(self, lpu: str | None = None) -> pd.DataFrame:
        """Recorded reviews, latest plan first."""
        where, args = _filters(lpu=lpu)
        return self._query(f"SELECT * FROM reviews {where} "
                           "ORDER BY plan_start DESC, lpu, kind, item_id", args)

    def layer(self, kind: str) -> gpd.GeoDataFrame:
        """Every stored row of a listing layer (``target``, ``area``, ``partnership``)."""
        table = LAYERS[kind][0]
        frame = self._query(f"SELECT * FROM {table} ORDER BY period_start, lpu, rank")
        geoms = gpkg.from_blobs(frame.pop("geom").tolist())
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=self.crs)

    def backup(self, dest: str | os.PathLike[str]) -> Path:
        """A consistent copy of the register at ``dest`` (SQLite online backup), even while
        another process writes."""
        from geodemand._atomic import atomic_path

        with atomic_path(dest) as tmp:
            target = sqlite3.connect(str(tmp))
            try:
                self._conn.backup(target)
            finally:
                target.close()
        return Path(dest)


def _sql_text(v: Any) -> str | None:
    return None if v is None else str(v)


def _filters(prefix: str = "", **values) -> tuple[str, tuple]:
    parts, args = [], []
    for k, v in values.items():
        if v is not None:
            parts.append(f"{prefix}{k} = ?")
            args.append(v)
    return ("WHERE " + " AND ".join(parts)) if parts else "", tuple(args)


def _insert_rows(conn: sqlite3.Connection, table: str, rows: pd.DataFrame) -> None:
    """Insert a frame's rows (column names are table columns)."""
    if len(rows):
        _insert(conn, table, rows)


def _review_rows(reviews: pd.DataFrame | None, lpus: list[str]) -> pd.DataFrame:
    names = [n for n, _ in REVIEW_FIELDS if n != "reviewed_period"]
    if reviews is None or len(reviews) == 0:
        return pd.DataFrame(columns=names)
    missing = [c for c in ("kind", "item_id", "lpu", "plan_start", "outcome")
               if c not in reviews.columns]
    if missing:
        raise InvalidParameterError(f"reviews: missing column(s) {missing}")
    outside = sorted(set(reviews["lpu"].astype(str)) - set(lpus))
    if outside:
        raise InvalidParameterError(f"reviews: LPU(s) {outside} are not in run_info['lpus']")
    df = pd.DataFrame(reviews).reset_index(drop=True)
    for n in names:
        if n not in df.columns:
            df[n] = None
    for c in ("plan_start", "review_date", "before_start", "after_start", "after_end"):
        df[c] = pd.to_datetime(df[c])
    return df[names]

