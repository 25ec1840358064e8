"""Partitioned incident datasets: GeoParquet files by force and month.

A national (or many-year) incident set is stored as one GeoParquet file per force and month,
so that a job reads only the partitions it needs and the whole set is never loaded into one
process. :func:`write_partitions` writes them (``geodemand ingest --partition-by
force,month`` and ``geodemand synth --national`` use it); :func:`open_dataset` reads the
layout back and lists or reads one force's partitions with :mod:`pyarrow.dataset`.

Layout
------
::

    <root>/
      dataset.json                                   layout version, CRS, forces (see below)
      incidents/force=<slug>/month=<YYYY-MM>/part-0.parquet
      boundaries/<slug>/lpus.geojson                 the force's LPU polygons (required)
      boundaries/<slug>/neighbourhoods.geojson       its neighbourhoods (optional)
      rejects.csv                                    records rejected by the last ingest

``incidents/`` is a Hive-partitioned dataset (``force=<slug>/month=<YYYY-MM>`` folders): any
Parquet reader that understands Hive partitioning (pyarrow, dask, DuckDB, Spark) reads it.
Each ``part-0.parquet`` is GeoParquet 1.0 (WKB points in the dataset's CRS) in geodemand's
canonical incident schema, so :func:`geodemand.read_incidents` reads a file, a month folder
or a whole force folder. Incidents go to the month of their ``occurred`` value.

``<slug>`` is the force's name made safe for a path: lower-case letters, digits and single
hyphens (``"Leicestershire Police"`` -> ``leicestershire-police``); the name itself is kept in
``dataset.json``. Untrusted names never reach a path any other way.

``dataset.json`` holds ``{"layout": "geodemand-partitioned", "version": 1, "crs": ...,
"partitioning": ["force", "month"], "forces": {slug: {"name", "synthetic", "months":
{month: rows}, "rows", ...}}}`` plus whatever the writer adds (``"generator"`` for synthetic
sets). Writing a force replaces the files of the months it writes and leaves its other
months alone, so monthly files can be added one at a time.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._atomic import write_text_atomic, write_with
from geodemand.errors import InputFormatError, InvalidParameterError

__all__ = [
    "DATASET_FILE",
    "LAYOUT",
    "PartitionedDataset",
    "assign_areas_partitioned",
    "force_slug",
    "month_slices",
    "open_dataset",
    "partition_path",
    "write_boundaries",
    "write_partitions",
]

LAYOUT = "geodemand-partitioned"
LAYOUT_VERSION = 1
DATASET_FILE = "dataset.json"
PART_NAME = "part-0.parquet"
#: Columns a force is read from when no force name is given, first found wins.
FORCE_COLUMNS = ("force", "raw_force", "raw_falls_within", "raw_reported_by")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MAX_SLUG = 64


# ---------------------------------------------------------------------------- names and paths
def force_slug(name: Any) -> str:
    """A force name made safe for a path component: ``[a-z0-9]`` runs joined by ``-``.

    Raises
    ------
    InvalidParameterError
        When the name has no letter or digit (nothing would be left of it).
    """
    text = "" if name is None else str(name)
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:_MAX_SLUG].strip("-")
    if not slug:
        raise InvalidParameterError(
            f"force name {text!r}: has no letter or digit; expected a name such as "
            "'Leicestershire Police'"
        )
    return slug


def _check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.match(slug) or len(slug) > _MAX_SLUG:
        raise InvalidParameterError(
            f"force {slug!r}: not a force slug; expected lower-case letters, digits and "
            "hyphens (see geodemand.ingest.partition.force_slug)"
        )
    return slug


def _check_month(month: str) -> str:
    if not isinstance(month, str) or not _MONTH.match(month):
        raise InvalidParameterError(f"month {month!r}: expected YYYY-MM")
    return month


def partition_path(root: str | Path, slug: str, month: str) -> Path:
    """``<root>/incidents/force=<slug>/month=<YYYY-MM>/part-0.parquet``."""
    return (
        Path(root) / "incidents" / f"force={_check_slug(slug)}" / f"month={_check_month(month)}"
        / PART_NAME
    )


def month_slices(occurred: pd.Series | np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(YYYY-MM, row positions)`` for every month present, months in order.

    Row positions keep the input order within a month.
    """
    values = pd.to_datetime(pd.Series(occurred)).to_numpy("datetime64[ns]")
    if pd.isna(values).any():
        i = int(np.flatnonzero(pd.isna(values))[0])
        raise InvalidParameterError(
            f"occurred: row {i} has no date; every incident needs one to be partitioned by month"
        )
    months = values.astype("datetime64[M]")
    uniq, codes = np.unique(months, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(uniq.size + 1))
    return [
        (str(m)[:7], order[bounds[k] : bounds[k + 1]]) for k, m in enumerate(uniq)
    ]


# ---------------------------------------------------------------------------- metadata
def _read_meta(root: Path) -> dict | None:
    path = root / DATASET_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFormatError(f"{path}: cannot read the dataset description ({exc})") from exc
    if meta.get("layout") != LAYOUT or meta.get("version") != LAYOUT_VERSION:
        raise InputFormatError(
            f"{path}: layout {meta.get('layout')!r} version {meta.get('version')!r}; expected "
            f"{LAYOUT!r} version {LAYOUT_VERSION}"
        )
    return meta


def _write_meta(root: Path, meta: dict) -> None:
    write_text_atomic(root / DATASET_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _same_crs(a: str, b: str) -> bool:
    from pyproj import CRS

    return a == b or CRS.from_user_input(a).equals(CRS.from_user_input(b))


# ---------------------------------------------------------------------------- writing
def write_partitions(
    frame: pd.DataFrame,
    root: str | Path,
    *,
    crs: str,
    synthetic: bool,
    force: str | None = None,
    force_column: str | None = None,
    write_file: Callable[[pd.DataFrame, Path], Any] | None = None,
    force_info: dict[str, dict] | None = None,
    extra_meta: dict | None = None,
) -> dict[str, dict[str, int]]:
    """Write incidents as one GeoParquet file per force and month under ``root``.

    Parameters
    ----------
    frame : DataFrame
        Incidents in the canonical schema (``occurred``, ``x``, ``y`` in metres of ``crs``,
        ...). Not modified.
    root : path
        Dataset root (created if missing).
    crs : str
        CRS of ``x``, ``y``; must match the dataset's if it already exists.
    synthetic : bool
        Recorded per force in ``dataset.json`` (and in each file by the writer).
    force : str, optional
        One force name for every incident. Otherwise the force of each incident is read from
        ``force_column`` (default: the first of :data:`FORCE_COLUMNS` present).
    force_column : str, optional
        Column naming each incident's force.
    write_file : callable(frame, path), optional
        Writes one partition (atomically). Default: GeoParquet via
        :func:`geodemand.ingest.write.write_geoparquet`, the ingest's own ``source_file`` and
        ``source_row`` kept as ``original_file`` and ``original_row``.
    force_info : dict, optional
        Extra fields per force name for ``dataset.json`` (e.g. the generator's parameters).
    extra_meta : dict, optional
        Extra top-level fields for ``dataset.json``.

    Returns
    -------
    dict
        ``{slug: {month: rows written}}``.
    """
    root = Path(root)
    if force is not None and force_column is not None:
        raise InvalidParameterError("give either force (one name) or force_column, not both")
    missing = [c for c in ("occurred", "x", "y") if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"incidents: missing column(s) {missing}; expected the canonical schema"
        )
    meta = _read_meta(root) or {
        "layout": LAYOUT,
        "version": LAYOUT_VERSION,
        "partitioning": ["force", "month"],
        "crs": str(crs),
        "forces": {},
    }
    if not _same_crs(meta["crs"], str(crs)):
        raise InvalidParameterError(
            f"{root}: the dataset is in {meta['crs']} but these incidents are in {crs}; ingest "
            f"with --crs {meta['crs']}"
        )
    names = _force_names(frame, force, force_column)
    writer = write_file or _geoparquet_writer(str(crs), synthetic)
    written: dict[str, dict[str, int]] = {}
    codes, uniq = pd.factorize(names, sort=True)
    slugs = [force_slug(n) for n in uniq]
    clash = {s for s in slugs if slugs.count(s) > 1}
    if clash:
        raise InvalidParameterError(
            f"force names {[str(n) for n, s in zip(uniq, slugs, strict=True) if s in clash]} "
            "give the same folder name; rename one of them"
        )
    for k, (name, slug) in enumerate(zip(uniq, slugs, strict=True)):
        rows = np.flatnonzero(codes == k) if len(uniq) > 1 else np.arange(len(frame))
        sub = frame.iloc[rows]
        counts: dict[str, int] = {}
        for month, pos in month_slices(sub["occurred"]):
            path = partition_path(root, slug, month)
            path.parent.mkdir(parents=True, exist_ok=True)
            part = sub.iloc[pos].reset_index(drop=True)
            part.attrs = dict(frame.attrs)
            writer(part, path)
            counts[month] = int(len(part))
        written[slug] = counts
        entry = meta["forces"].get(slug, {})
        months = dict(entry.get("months", {}))
        months.update(counts)
        entry.update(
            {
                "name": str(name),
                "synthetic": bool(synthetic),
                "months": dict(sorted(months.items())),
                "rows": int(sum(months.values())),
            }
        )
        entry.update((force_info or {}).get(str(name), {}))
        meta["forces"][slug] = entry
    meta["forces"] = dict(sorted(meta["forces"].items()))
    meta.update(extra_meta or {})
    _write_meta(root, meta)
    total = sum(sum(c.values()) for c in written.values())
    announce(
        f"partitioned dataset {root}: wrote {total:,} incidents of {len(written)} force(s) in "
        f"{sum(len(c) for c in written.values())} force-month partitions"
    )
    return written


def _force_names(frame: pd.DataFrame, force: str | None, column: str | None) -> pd.Series:
    if force is not None:
        force_slug(force)  # fails early on an unusable name
        return pd.Series(np.full(len(frame), str(force), dtype=object), index=frame.index)
    if column is None:
        column = next((c for c in FORCE_COLUMNS if c in frame.columns), None)
        if column is None:
            raise InvalidParameterError(
                f"incidents: no force column (looked for {list(FORCE_COLUMNS)}); give the force "
                "name (--force NAME) or the column (--force-column COLUMN)"
            )
        announce(f"force of each incident taken from column {column!r}")
    elif column not in frame.columns:
        raise InvalidParameterError(
            f"force column {column!r}: not in the incidents; columns are {list(frame.columns)}"
        )
    names = frame[column].astype(object)
    blank = names.isna() | (names.astype(str).str.strip() == "")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InvalidParameterError(
            f"force column {column!r}: {int(blank.sum()):,} incident(s) have no force (first at "
            f"row {i}); give --force NAME or fix the column"
        )
    return names.astype(str).str.strip()


def _geoparquet_writer(crs: str, synthetic: bool) -> Callable[[pd.DataFrame, Path], Any]:
    import geopandas as gpd

    from geodemand.ingest.write import write_geoparquet

    def write(part: pd.DataFrame, path: Path) -> None:
        plain = part.rename(columns={"source_file": "original_file", "source_row": "original_row"})
        gdf = gpd.GeoDataFrame(
            plain, geometry=gpd.points_from_xy(plain["x"], plain["y"]), crs=crs
        )
        write_with(path, lambda tmp: write_geoparquet(gdf, tmp, synthetic=synthetic))

    return write


def write_boundaries(
    root: str | Path,
    slug: str,
    lpus: str | Path,
    neighbourhoods: str | Path | None = None,
) -> dict[str, Path]:
    """Copy a force's boundary layers (GeoJSON files) to ``<root>/boundaries/<slug>/``.

    The files are copied byte for byte (so their SHA-256 in a run's manifest is the
    original's), atomically; a missing ``neighbourhoods`` removes an old copy.
    """
    out = boundaries_dir(root, slug)
    done = {}
    for role, src in (("lpus", lpus), ("neighbourhoods", neighbourhoods)):
        dst = out / f"{role}.geojson"
        if src is None:
            if dst.exists():
                dst.unlink()
            continue
        src = Path(src)
        if src.suffix.lower() not in (".geojson", ".json"):
            raise InvalidParameterError(
                f"{src}: boundaries of a partitioned dataset are stored as GeoJSON; expected a "
                ".geojson file (convert it with ogr2ogr or geopandas first)"
            )
        write_with(dst, lambda tmp, s=src: shutil.copyfile(s, tmp))
        done[role] = dst
    return done


def boundaries_dir(root: str | Path, slug: str) -> Path:
    """``<root>/boundaries/<slug>``."""
    return Path(root) / "boundaries" / _check_slug(slug)


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class PartitionedDataset:
    """A partitioned incident dataset on disk (see the module docstring for the layout).

    Attributes
    ----------
    root : Path
    crs : str
    forces : dict
        ``slug -> {"name", "synthetic", "months": {month: rows}, "rows", ...}``.
    meta : dict
        The whole ``dataset.json``.
    """

    root: Path
    crs: str
    forces: dict[str, dict]
    meta: dict

    @property
    def slugs(self) -> list[str]:
        """Force slugs, sorted."""
        return sorted(self.forces)

    @property
    def rows(self) -> int:
        """Incidents in the whole dataset (from ``dataset.json``)."""
        return int(sum(f.get("rows", 0) for f in self.forces.values()))

    def force_dir(self, slug: str) -> Path:
        """``<root>/incidents/force=<slug>``: what ``geodemand weekly --incidents`` reads."""
        return self.root / "incidents" / f"force={self._known(slug)}"

    def lpu_boundaries(self, slug: str) -> Path:
        """The force's LPU layer; an error names the expected file when it is missing."""
        path = boundaries_dir(self.root, self._known(slug)) / "lpus.geojson"
        if not path.is_file():
            raise InputFormatError(
                f"{path}: missing; each force of a partitioned dataset needs its LPU polygons "
                f"there (geodemand ingest --partition-by force,month --lpu-boundaries FILE "
                "copies them)"
            )
        return path

    def neighbourhood_boundaries(self, slug: str) -> Path | None:
        """The force's neighbourhood layer, or None if it has none."""
        path = boundaries_dir(self.root, self._known(slug)) / "neighbourhoods.geojson"
        return path if path.is_file() else None

    def _known(self, slug: str) -> str:
        if slug not in self.forces:
            raise InvalidParameterError(
                f"force {slug!r}: not in {self.root / DATASET_FILE}; expected one of "
                f"{self.slugs[:10]}{' ...' if len(self.slugs) > 10 else ''}"
            )
        return slug

    def _dataset(self):
        import pyarrow as pa
        import pyarrow.dataset as ds

        schema = pa.schema([("force", pa.string()), ("month", pa.string())])
        return ds.dataset(
            str(self.root / "incidents"),
            format="parquet",
            partitioning=ds.partitioning(schema, flavor="hive"),
        )

    def _filter(self, slug: str, months: tuple[str, str] | None):
        import pyarrow.dataset as ds

        expr = ds.field("force") == self._known(slug)
        if months is not None:
            first, last = (_check_month(m) for m in months)
            expr = expr & (ds.field("month") >= first) & (ds.field("month") <= last)
        return expr

    def force_files(self, slug: str, months: tuple[str, str] | None = None) -> list[Path]:
        """The force's partition files (pruned by force and month with pyarrow.dataset).

        Parameters
        ----------
        months : (first, last), optional
            Only months ``first .. last`` (``YYYY-MM``, both included).
        """
        fragments = self._dataset().get_fragments(filter=self._filter(slug, months))
        files = sorted(Path(f.path) for f in fragments)
        if not files:
            raise InputFormatError(
                f"{self.force_dir(slug)}: no partition files"
                + (f" for months {months[0]} to {months[1]}" if months else "")
            )
        return files

    def read_force(
        self,
        slug: str,
        columns: Sequence[str] | None = ("x", "y", "occurred", "crime_type", "location_key"),
        months: tuple[str, str] | None = None,
    ) -> pd.DataFrame:
        """One force's incidents (selected columns) read with pyarrow.dataset.

        Only the force's (and months') partitions are opened. Rows come in partition order
        (months ascending), each file's rows in order. ``attrs["crs"]`` is the dataset's CRS.
        """
        import pyarrow.dataset as ds

        files = self.force_files(slug, months)
        cols = None if columns is None else list(columns)
        table = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=cols)
        frame = table.to_pandas()
        frame.attrs["crs"] = self.crs
        return frame


def open_dataset(root: str | Path) -> PartitionedDataset:
    """Open a partitioned dataset written by :func:`write_partitions`.

    Raises
    ------
    InputFormatError
        When ``root`` has no ``dataset.json`` of this layout.
    """
    root = Path(root)
    meta = _read_meta(root)
    if meta is None:
        raise InputFormatError(
            f"{root}: no {DATASET_FILE}; expected a partitioned dataset written by 'geodemand "
            "ingest --partition-by force,month' or 'geodemand synth --national'"
        )
    forces = meta.get("forces") or {}
    for slug in forces:
        _check_slug(slug)
    return PartitionedDataset(root=root, crs=str(meta["crs"]), forces=dict(forces), meta=meta)


# ---------------------------------------------------------------------------- per-partition work
def assign_areas_partitioned(
    parts: Iterable[pd.DataFrame],
    areas,
    *,
    map_fn: Callable[[Callable, Iterable], Iterable] = map,
) -> pd.DataFrame:
    """The point-in-area join done partition by partition, results concatenated in order.

    :func:`geodemand.ingest.areas.assign_areas` labels every point on its own, so joining
    partitions separately gives exactly the labels of one join over all points. ``map_fn``
    runs the per-partition joins (``map`` in this process; e.g. a Dask client's
    ``lambda f, xs: client.gather(client.map(f, xs))`` on a cluster).
    """
    from functools import partial

    from geodemand.ingest.areas import assign_areas

    parts = list(parts)
    if not parts:
        raise InvalidParameterError("parts: no partitions given")
    done = list(map_fn(partial(_join_one, areas=areas, assign=assign_areas), parts))
    out = pd.concat(done, ignore_index=True)
    out.attrs = dict(parts[0].attrs)
    return out


def _join_one(part: pd.DataFrame, *, areas, assign) -> pd.DataFrame:
    return assign(part, areas)
