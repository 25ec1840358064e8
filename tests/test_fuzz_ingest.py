"""Fuzzing ingest and boundary layers with Hypothesis, from real police.uk rows and layers.

Every example mutates real records (fields replaced by hostile text, broken quoting,
swapped or dropped columns, out-of-range coordinates and dates, truncated files, odd
encodings) or a real boundary layer (missing, 3-D, invalid, overlapping, unnamed or
duplicated features), then checks the invariants: only :class:`GeodemandError` may be raised;
``accepted + rejected == read`` for every file, and ``read`` is the number of records the
standard library's CSV reader finds; no accepted incident lies outside its CRS's area or
has a date outside the supported range; ids are unique; areas are named, 2-D and valid.

The seed is fixed (``derandomize=True``) and the budget bounded: ``GEODEMAND_FUZZ_EXAMPLES``
(default 100: 150 files, 60 DataFrames, 60 layers) scales it in per cent, e.g. 5000 for a
run fifty times longer.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tempfile
import warnings
from functools import cache, lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

import geodemand as gd
from geodemand.errors import GeodemandError
from geodemand.ingest.checks import default_date_range
from geodemand.ingest.incidents import INCIDENT_COLUMNS, REASONS, crs_area_bounds

ROOT = Path(__file__).resolve().parents[1]
SCALE = int(os.environ.get("GEODEMAND_FUZZ_EXAMPLES", "100")) / 100


def fuzz(examples: int):
    """Hypothesis settings: fixed seed, ``examples`` x the scale, no deadline."""
    return settings(
        derandomize=True,
        max_examples=max(int(examples * SCALE), 1),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


PAYLOADS = [
    "{{7*7}}",
    "<script>alert(1)</script>",
    '"',
    '""',
    ",",
    ";",
    "\n",
    "\r\n",
    "\t",
    " ",
    "",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-0",
    "0",
    "0x1A",
    "9" * 40,
    "null",
    "None",
    "\u00a0",
    "\ufeff",
    "é",
    "\u202e",
    "../../etc/passwd",
    "=cmd|' /C calc'!A0",
    "0001-01",
    "9999-12",
    "2262-04",
    "2020-13",
    "2020-00",
    "1899-12",
]


@cache
def real_rows(name: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Header and up to 60 real records (those with and without coordinates and ids)."""
    path = next((ROOT / "data" / "incidents").rglob(name))
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = tuple(next(reader))
        rows = [tuple(r) for _, r in zip(range(4000), reader, strict=False)]
    step = max(len(rows) // 60, 1)
    return header, tuple(rows[::step][:60])


SOURCES = {
    "street": "2020-01-leicestershire-street.csv.gz",
    "2011": "2011-02-west-midlands-street.csv.gz",
    "api": "2018-06-west-midlands-api.csv.gz",
}


def _text(draw) -> str:
    return draw(
        st.one_of(
            st.sampled_from(PAYLOADS),
            st.text(max_size=20),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(-(10**12), 10**12).map(str),
        )
    )


@st.composite
def incident_files(draw):
    """(file name, bytes, format) of a mutated police.uk file."""
    kind = draw(st.sampled_from(sorted(SOURCES)))
    header, rows = real_rows(SOURCES[kind])
    header = list(header)
    n = draw(st.integers(1, len(rows)))
    rows = [list(r) for r in rows[:n]]
    width = len(header)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(
            st.sampled_from(
                ["field", "number", "date", "swap_row", "fields", "blank", "duplicate", "type"]
            )
        )
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = rows[i] + [""] * (width - len(rows[i]))  # earlier ops may have cut it
        if op == "field":
            rows[i][draw(st.integers(0, width - 1))] = _text(draw)
        elif op == "number":
            col = draw(
                st.sampled_from(
                    [
                        c
                        for c in (
                            "Longitude",
                            "Latitude",
                            "Easting",
                            "Northing",
                            "longitude",
                            "latitude",
                        )
                        if c in header
                    ]
                )
            )
            value = draw(
                st.one_of(
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(-200, 200),
                    st.floats(-1e7, 1e7),
                )
            )
            rows[i][header.index(col)] = repr(value)
        elif op == "date":
            col = header.index("Month" if "Month" in header else "month")
            y, m = draw(st.integers(0, 9999)), draw(st.integers(0, 13))
            rows[i][col] = draw(st.sampled_from([f"{y:04d}-{m:02d}", f"{y}-{m}", _text(draw)]))
        elif op == "swap_row":
            a, b = _coordinate_columns(header)
            rows[i][a], rows[i][b] = rows[i][b], rows[i][a]
        elif op == "fields":
            if draw(st.booleans()):
                rows[i] = rows[i][: draw(st.integers(0, width - 1))]
            else:
                rows[i] = rows[i] + [_text(draw) for _ in range(draw(st.integers(1, 3)))]
        elif op == "blank":
            rows.insert(i, [])
        elif op == "duplicate":
            rows.insert(i, list(rows[i]))
        else:
            col = header.index("Crime type" if "Crime type" in header else "category")
            rows[i][col] = _text(draw)
    if draw(st.integers(0, 9)) == 0:  # the whole file's coordinates swapped
        a, b = _coordinate_columns(header)
        header[a], header[b] = header[b], header[a]
    if draw(st.integers(0, 19)) == 0:  # a header name repeated once stripped
        header[-1] = " " + header[0]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for r in rows:
        writer.writerow(r)
    data = out.getvalue().encode("utf-8")
    if draw(st.integers(0, 4)) == 0:  # broken quoting: a stray quote somewhere
        k = draw(st.integers(0, len(data)))
        data = data[:k] + b'"' + data[k:]
    if draw(st.integers(0, 9)) == 0:  # truncated
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    delimiter = draw(st.sampled_from([",", ",", ",", ";"]))
    if delimiter == ";" and b";" not in data and b'"' not in data:
        data = data.replace(b",", b";")
    gz = draw(st.booleans())
    name = f"{kind}.csv" + (".gz" if gz else "")
    return name, data, gz


def _coordinate_columns(header):
    for a, b in (("Longitude", "Latitude"), ("Easting", "Northing"), ("longitude", "latitude")):
        if a in header and b in header:
            return header.index(a), header.index(b)
    return 0, 1


def _csv_records(data: bytes) -> int | None:
    """Records after the header by the csv module (None if not decodable or not CSV)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    delimiter = (
        ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    )
    try:
        return max(len(list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))) - 1, 0)
    except csv.Error:
        return None


def check_table(table) -> None:
    acc = table.accounting
    files = acc[acc["file"] != "TOTAL"]
    assert (files["accepted"] + files["rejected"] == files["read"]).all()
    total = acc.set_index("file").loc["TOTAL"]
    assert total["accepted"] == len(table.frame) and total["rejected"] == len(table.rejects)
    assert total["read"] == len(table.frame) + len(table.rejects)
    assert set(table.rejects["reason"]) <= set(REASONS)
    f = table.frame
    assert tuple(f.columns[: len(INCIDENT_COLUMNS)]) == INCIDENT_COLUMNS
    assert str(f["occurred"].dtype) == "datetime64[ns]"
    assert f["x"].dtype == np.float64 and f["y"].dtype == np.float64
    assert f["incident_id"].is_unique
    if len(f):
        lo, hi = default_date_range()
        assert f["occurred"].min() >= lo and f["occurred"].max() <= hi
        assert np.isfinite(f["x"]).all() and np.isfinite(f["y"]).all()
        w, s, e, n = crs_area_bounds(table.crs)
        lon, lat = Transformer.from_crs(table.crs, 4326, always_xy=True).transform(
            f["x"].to_numpy(), f["y"].to_numpy()
        )
        tol = 1e-6
        assert ((lon >= w - tol) & (lon <= e + tol) & (lat >= s - tol) & (lat <= n + tol)).all()
    for raw in table.rejects["raw"]:
        json.loads(raw)


@fuzz(150)
@given(incident_files())
def test_fuzzed_police_uk_files(case):
    name, data, gz = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        try:
            table = gd.read_incidents(path)
        except GeodemandError:
            return
        check_table(table)
        records = _csv_records(data)
        if records is not None and table.accounting["format"].iloc[0] != "csv":
            assert table.accounting["read"].iloc[0] == records


@st.composite
def fuzzed_frames(draw):
    """A generic table of real police.uk values with mixed types, given as a DataFrame."""
    header, rows = real_rows(SOURCES["street"])
    frame = pd.DataFrame([list(r) for r in rows], columns=list(header))
    frame = frame[["Crime ID", "Month", "Longitude", "Latitude", "Crime type", "Location"]]
    frame.columns = ["id", "date", "lon", "lat", "type", "street"]
    frame = frame.astype(object)
    for _ in range(draw(st.integers(0, 10))):
        i = draw(st.integers(0, len(frame) - 1))
        col = draw(st.sampled_from(list(frame.columns)))
        frame.iat[i, frame.columns.get_loc(col)] = draw(
            st.one_of(
                st.none(),
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(10**6), 10**6),
                st.text(max_size=10),
                st.sampled_from(PAYLOADS),
                st.booleans(),
            )
        )
    if draw(st.booleans()):
        frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
    if draw(st.booleans()):
        frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y-%m", errors="coerce")
    if draw(st.booleans()):
        return gpd.GeoDataFrame(
            frame.drop(columns=["lon", "lat"]),
            geometry=gpd.points_from_xy(
                pd.to_numeric(frame["lon"], errors="coerce"),
                pd.to_numeric(frame["lat"], errors="coerce"),
            ),
            crs=4326,
        )
    return frame


@fuzz(60)
@given(fuzzed_frames())
def test_fuzzed_dataframes(frame):
    try:
        table = gd.read_incidents(frame, strict_types=False)
    except GeodemandError:
        return
    check_table(table)
    assert table.accounting["read"].iloc[0] == len(frame)


# ---------------------------------------------------------------------------- boundaries
@lru_cache(maxsize=1)
def real_lpus() -> gpd.GeoDataFrame:
    layer = gpd.read_file(ROOT / "data/boundaries/west-midlands/lpus.geojson").to_crs(27700)
    layer["geometry"] = layer.geometry.simplify(200)
    return layer


@st.composite
def boundary_layers(draw):
    layer = real_lpus().copy()
    geoms = list(layer.geometry.values)
    names = list(layer["lpu"].astype(object))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(geoms) - 1))
        op = draw(
            st.sampled_from(
                [
                    "none",
                    "z",
                    "dup_name",
                    "null_name",
                    "shift",
                    "bowtie",
                    "collection",
                    "empty",
                    "point",
                    "nan",
                    "number_name",
                    "long_name",
                ]
            )
        )
        if op == "none":
            geoms[i] = None
        elif op == "z" and geoms[i] is not None:
            geoms[i] = shapely.force_3d(geoms[i], 7.0)
        elif op == "dup_name":
            names[i] = names[draw(st.integers(0, len(names) - 1))]
        elif op == "null_name":
            names[i] = draw(st.sampled_from([None, "", "  ", float("nan")]))
        elif op == "shift" and geoms[i] is not None:
            geoms[i] = shapely.affinity.translate(
                geoms[i], draw(st.floats(-5000, 5000)), draw(st.floats(-5000, 5000))
            )
        elif op == "bowtie":
            geoms[i] = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
        elif op == "collection" and geoms[i] is not None:
            geoms[i] = shapely.GeometryCollection([geoms[i], shapely.LineString([(0, 0), (1, 1)])])
        elif op == "empty":
            geoms[i] = shapely.Polygon()
        elif op == "point":
            geoms[i] = shapely.Point(400_000, 280_000)
        elif op == "nan":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                geoms[i] = shapely.Polygon([(0, 0), (np.nan, 0), (1, 1)])
        elif op == "number_name":
            names[i] = draw(st.integers(0, 9))
        else:
            names[i] = draw(st.text(min_size=1, max_size=300))
    crs = draw(st.sampled_from(["EPSG:27700", "EPSG:27700", "EPSG:4326"]))
    return gpd.GeoDataFrame({"lpu": names}, geometry=geoms, crs=crs)


@fuzz(60)
@given(boundary_layers(), st.integers(0, 2**31))
def test_fuzzed_boundary_layers(layer, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # shapely on NaN coordinates
        try:
            areas = gd.read_areas(layer)
        except GeodemandError:
            return
    lpus = areas.lpus
    assert lpus["lpu"].is_unique and (lpus["lpu"].str.strip() != "").all()
    geoms = lpus.geometry.values
    assert not shapely.has_z(geoms).any() and shapely.is_valid(geoms).all()
    assert set(lpus.geom_type) <= {"Polygon", "MultiPolygon"}
    assert np.isfinite(shapely.get_coordinates(geoms)).all()
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = lpus.total_bounds
    pts = pd.DataFrame({"x": rng.uniform(x0, x1, 500), "y": rng.uniform(y0, y1, 500)})
    pts.attrs["crs"] = areas.crs
    joined = gd.assign_areas(pts, areas)
    assert len(joined) == 500
    assert set(joined["lpu"]) <= set(lpus["lpu"]) | {"outside"}
