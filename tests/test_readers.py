"""Format readers and the CSV layer: detection, header sniffing, fast and slow CSV paths."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from geodemand.errors import InputFormatError
from geodemand.ingest._coded import Coded, to_categorical
from geodemand.ingest._csv import (
    _slow,
    clean_names,
    head_text,
    header_fields,
    read_delimited,
    sniff_delimiter,
)
from geodemand.ingest.ids import Ids, duplicated_strings, hash_strings
from geodemand.ingest.json_records import parse_json_records
from geodemand.ingest.readers import NotIncidentDataError, detect_format, read_one


def _text_files(data_dir: Path, test_data: Path) -> list[Path]:
    files = sorted((data_dir / "incidents").rglob("*.csv.gz"))
    files += sorted((test_data / "incidents").rglob("*.csv*"))
    return files


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


# ---------------------------------------------------------------------------- header sniffing
def _old_header(text: str) -> set[str]:
    """The hand-written header parsing these readers used before (the reference)."""
    first_line = text.splitlines()[0] if text else ""
    return {c.strip().strip('"') for c in first_line.split(",")}


def test_sniffer_and_csv_reader_give_the_old_header_on_every_real_file(data_dir, test_data):
    files = _text_files(data_dir, test_data)
    assert len(files) >= 30
    for path in files:
        head = head_text(_bytes(path))
        assert sniff_delimiter(head) == ","
        assert {f.strip() for f in header_fields(head, ",")} == _old_header(head), path


@pytest.mark.parametrize(
    "header",
    [
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
        "LSOA name,Crime type,Last outcome category,Context",
        '"Crime ID","Month","Longitude","Latitude"',
        " id , date ,type,lon,lat",
        "a,,b",
    ],
)
def test_header_identity_on_plain_headers(header):
    text = header + "\n1,2,3\n"
    assert {f.strip() for f in header_fields(text, sniff_delimiter(text))} == _old_header(text)


def test_csv_reader_reads_what_hand_splitting_could_not():
    text = '"Street, name",date,"type"\nx,2020-01-01,burglary\n'
    assert header_fields(text, ",") == ["Street, name", "date", "type"]
    semi = "Crime ID;Month;Longitude\n1;2020-01;-1.9\n"
    assert sniff_delimiter(semi) == ";"
    assert header_fields(semi, ";") == ["Crime ID", "Month", "Longitude"]
    assert sniff_delimiter("a\tb\tc\n1\t2\t3\n") == "\t"
    assert sniff_delimiter("a|b|c\n1|2|3\n") == "|"
    assert sniff_delimiter("single\n1\n2\n") == ","  # nothing to sniff: comma


def test_detect_format_of_real_files(data_dir, test_data):
    expected = {
        "2011-02-west-midlands-street.csv.gz": "police-uk-2011",
        "2018-06-west-midlands-api.csv.gz": "police-uk-api",
        "2019-12-leicestershire-street.csv.gz": "police-uk-street",
        "chicago_aggravated_assaults.csv.gz": "csv",
        "memphis_robberies_2019.csv.gz": "csv",
    }
    for path in _text_files(data_dir, test_data):
        if path.name in expected:
            assert detect_format(path, _bytes(path)) == expected[path.name]
    assert detect_format(Path("x.geojson"), None) == "vector"
    assert detect_format(Path("x.csv"), b'[{"a": 1}]') == "json"


def test_clean_names_strips_and_numbers_repeats():
    names, dup = clean_names(["a", " a", "b", "a ", "", ""])
    assert names == ["a", "a (2)", "b", "a (3)", "", " (2)"]
    assert dup == {"a", ""}


# ---------------------------------------------------------------------------- CSV paths
def _as_lists(table) -> dict[str, list[str]]:
    out = {}
    for name, col in table.columns.items():
        out[name] = col.text().tolist() if isinstance(col, Coded) else col.to_pylist()
    return out


@pytest.mark.parametrize(
    "name",
    ["2011-02-west-midlands-street.csv.gz", "2021-06-leicestershire-street.csv.gz"],
)
def test_fast_path_equals_csv_reader_and_pandas(data_dir, name):
    path = next((data_dir / "incidents").rglob(name))
    data = _bytes(path)
    fast = read_delimited(str(path), data, delimiter=",", string_columns=frozenset({"Crime ID"}))
    text = data.decode("utf-8-sig")
    names, dup = clean_names(header_fields(text, ","))
    slow = _slow(str(path), text, ",", True, names, dup, frozenset({"Crime ID"}))
    assert fast.n == slow.n and not fast.malformed and not slow.malformed
    assert _as_lists(fast) == _as_lists(slow)
    ref = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skip_blank_lines=False)
    got = _as_lists(fast)
    for col in ref.columns:
        assert got[col] == ref[col].tolist()


def test_slow_path_keeps_every_record_and_marks_wrong_field_counts():
    text = 'a,b,c\n1,2,3\n4,5\n\n   \n6,7,8,9\n"x\ny",z,w\n'
    table = read_delimited("t.csv", text.encode(), delimiter=",")
    assert table.n == 6
    assert sorted(table.malformed) == [1, 4]
    assert table.malformed[1][0] == "line 3: 2 field(s), expected 3 as in the header"
    assert table.malformed[4][1] == ["6", "7", "8", "9"]
    assert table.columns["a"].text().tolist() == ["1", "", "", "", "", "x\ny"]
    # the records as they were read
    reader = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert len(reader) == table.n


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', 3),
        ('"a,b,c\n1,2,3\n', 1),
        ('a,b,c\n1,2,"3\n', 2),
    ],
)
def test_a_quote_never_closed_names_its_line(text, line):
    with pytest.raises(InputFormatError, match=f"line {line}: a quoted field opens here"):
        read_delimited("q.csv", text.encode(), delimiter=",")


def test_quote_in_the_middle_of_a_field_is_text():
    table = read_delimited("q.csv", b'a,b\nOn or near "Swan,1\n', delimiter=",")
    assert table.columns["a"].text().tolist() == ['On or near "Swan']


def test_windows_1252_is_decoded_and_announced(caplog):
    data = "a,b\ncaf\u00e9,1\n".encode("cp1252")
    with caplog.at_level("INFO", logger="geodemand"):
        table = read_delimited("w.csv", data, delimiter=",")
    assert table.columns["a"].text().tolist() == ["caf\u00e9"]
    assert any("Windows-1252" in r.message for r in caplog.records)


def test_headerless_with_names():
    table = read_delimited("h.csv", b"1,2\n3,4\n", delimiter=",", header=False, names=["x", "y"])
    assert table.n == 2 and table.columns["y"].text().tolist() == ["2", "4"]


# ---------------------------------------------------------------------------- JSON
def test_json_records_and_lines():
    records, bad = parse_json_records("j", '[{"a": 1}, 2, {"a": 3}]')
    assert len(records) == 3 and bad == {1: "item 2: a JSON int, expected an object"}
    records, bad = parse_json_records("j", '{"a": 1}\n\n{"a": 2}\nnot json\n')
    assert len(records) == 3 and list(bad) == [2]
    for text, message in [
        ('{"type": "FeatureCollection", "features": []}', "GeoJSON"),
        ('{"months": 2}', "JSON object"),
        ("[]", "empty"),
        ('"text"', "str"),
        ("[" * 100_000, "nested too deeply|invalid JSON"),
    ]:
        with pytest.raises(NotIncidentDataError, match=message):
            parse_json_records("j", text)


def test_geojson_in_a_json_file_is_read_as_a_layer(tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-1.9, 52.48]},
                "properties": {"id": "a", "date": "2020-01-02", "type": "burglary"},
            }
        ],
    }
    path = tmp_path / "points.json"
    path.write_text(json.dumps(fc))
    batch = read_one(path, "auto", None)
    assert batch.format == "vector" and batch.n == 1


# ---------------------------------------------------------------------------- coded columns, ids
def test_coded_round_trips_and_categoricals_match_pandas():
    rng = np.random.default_rng(3)
    words = np.array(["b", "a", "", "é", "zz", "a b"], dtype=object)
    parts_text = [words[rng.integers(0, len(words), k)] for k in (50, 0, 70)]
    parts = [Coded.from_strings(p) for p in parts_text]
    for p, t in zip(parts, parts_text, strict=True):
        assert p.text().tolist() == list(t)
    flat = np.concatenate(parts_text)
    cat = to_categorical(parts, max_share=1.0)
    assert cat.astype(str).tolist() == flat.tolist()
    assert list(cat.cat.categories) == sorted(set(flat))
    text = to_categorical(parts, max_share=0)
    assert text.tolist() == flat.tolist()
    s = pd.Series(["x", None, "y", "x"], dtype=object)
    assert Coded.from_series(s).text().tolist() == ["x", "", "y", "x"]
    assert Coded.from_arrow(
        pa.chunked_array([pa.array(["p", None]), pa.array(["q"])])
    ).text().tolist() == ["p", "", "q"]


def test_duplicated_strings_equals_pandas():
    rng = np.random.default_rng(11)
    pool = [f"{'x' * int(k)}{v}" for k, v in zip(rng.integers(0, 70, 300), range(300), strict=True)]
    pool += ["", "é", "é", " a", "a"]
    values = [pool[i] for i in rng.integers(0, len(pool), 5_000)]
    arr = pa.array(values, type=pa.string())
    np.testing.assert_array_equal(duplicated_strings(arr), pd.Series(values).duplicated())
    np.testing.assert_array_equal(
        duplicated_strings(arr.slice(100, 900)), pd.Series(values[100:1000]).duplicated()
    )
    h = hash_strings(arr)
    same = pd.Series(values).map(dict(zip(values, h, strict=False)))
    assert (same.to_numpy(dtype=np.uint64) == h).all()  # equal strings, equal hashes


def test_ids_strip_and_generate():
    ids = Ids.of(pa.chunked_array([pa.array([" a ", "", "b", None])]), 4, "f.csv")
    final = ids.take(np.arange(4))
    assert final.to_pylist() == ["a", "f.csv#2", "b", "f.csv#4"]
    np.testing.assert_array_equal(ids.hashes, hash_strings(final))
    assert ids.take(np.array([3, 0, 1])).to_pylist() == ["f.csv#4", "a", "f.csv#2"]
    made = Ids.of(None, 3, "x")
    assert made.take(np.arange(3)).to_pylist() == ["x#1", "x#2", "x#3"]


def test_point_geoparquet_fast_path_equals_the_general_reader(tmp_path, monkeypatch):
    """GeoParquet of 2-D WKB points is read straight from the WKB bytes; the result equals
    geopandas' reader (the general path) exactly, and other layers still take that path."""
    import geopandas as gpd
    import shapely

    import geodemand as gd
    import geodemand.ingest.frames as frames

    rng = np.random.default_rng(4)
    n = 500
    gdf = gpd.GeoDataFrame(
        {"date": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
         "crime_type": rng.choice(["burglary", "robbery"], n)},
        geometry=gpd.points_from_xy(rng.uniform(400_000, 410_000, n),
                                    rng.uniform(280_000, 290_000, n)), crs="EPSG:27700")
    path = tmp_path / "points.parquet"
    gdf.to_parquet(path)
    assert frames._point_parquet_batch(path, None) is not None
    fast = gd.read_incidents(path)
    monkeypatch.setattr(frames, "_point_parquet_batch", lambda p, m: None)
    slow = gd.read_incidents(path)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.accounting.equals(slow.accounting)
    monkeypatch.undo()
    lines = gdf.copy()
    lines["geometry"] = [shapely.LineString([(p.x, p.y), (p.x + 1, p.y)]) for p in gdf.geometry]
    lines.to_parquet(tmp_path / "lines.parquet")
    assert frames._point_parquet_batch(tmp_path / "lines.parquet", None) is None
