"""Partitioned datasets (force, month): writing, reading with pyarrow.dataset, the ingest CLI,
the synthetic national set and per-partition area joins."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import geodemand
from geodemand.cli import main
from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.ingest import partition as pt
from geodemand.ingest.incidents import read_incidents
from geodemand.ingest.synth import synthetic_incidents, write_synthetic

DATA = Path(geodemand.__file__).resolve().parents[1] / "data"
LEICS = DATA / "incidents" / "leicestershire"
LEICS_B = DATA / "boundaries" / "leicestershire"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_synthetic():
    return synthetic_incidents(3_000, seed=5)


def test_force_slug_is_path_safe():
    assert pt.force_slug("Leicestershire Police") == "leicestershire-police"
    assert pt.force_slug("../../etc/passwd") == "etc-passwd"
    assert pt.force_slug("Avon & Somerset  Constabulary") == "avon-somerset-constabulary"
    assert pt.force_slug("x" * 100) == "x" * 64
    for bad in ("", "  ", "../", None):
        with pytest.raises(InvalidParameterError, match="no letter or digit"):
            pt.force_slug(bad)
    with pytest.raises(InvalidParameterError, match="not a force slug"):
        pt.partition_path("/tmp/x", "../up", "2026-01")
    with pytest.raises(InvalidParameterError, match="YYYY-MM"):
        pt.partition_path("/tmp/x", "ok", "2026-13")


def test_month_slices_match_pandas():
    occurred = pd.to_datetime(
        ["2026-02-28 23:59", "2026-01-01 00:00", "2026-02-01 00:00", "2025-12-31 23:59",
         "2026-01-31 00:00"]
    )
    got = pt.month_slices(occurred)
    assert [m for m, _ in got] == ["2025-12", "2026-01", "2026-02"]
    assert [list(rows) for _, rows in got] == [[3], [1, 4], [0, 2]]
    with pytest.raises(InvalidParameterError, match="no date"):
        pt.month_slices(pd.Series([pd.Timestamp("2026-01-01"), pd.NaT]))


def test_write_read_round_trip(tmp_path, small_synthetic):
    table = small_synthetic
    from dataclasses import replace

    written = pt.write_partitions(
        table.frame, tmp_path, crs=table.crs, synthetic=True, force="Test Force",
        write_file=lambda part, path: write_synthetic(replace(table, frame=part), path),
    )
    months = pd.to_datetime(table.frame["occurred"]).dt.strftime("%Y-%m").value_counts()
    assert written == {"test-force": months.sort_index().to_dict()}
    ds = pt.open_dataset(tmp_path)
    assert ds.slugs == ["test-force"] and ds.rows == 3_000
    assert ds.forces["test-force"]["name"] == "Test Force"
    files = ds.force_files("test-force")
    assert len(files) == len(months) == 24
    assert files[0] == pt.partition_path(tmp_path, "test-force", months.index.min())
    # pyarrow.dataset prunes by month
    some = ds.force_files("test-force", months=("2025-03", "2025-05"))
    assert [f.parent.name for f in some] == ["month=2025-03", "month=2025-04", "month=2025-05"]
    # read back with pyarrow: same rows in the same (time) order
    back = ds.read_force("test-force", columns=["incident_id", "occurred", "x", "y"])
    assert back.attrs["crs"] == table.crs
    assert back["incident_id"].tolist() == table.frame["incident_id"].tolist()
    assert np.array_equal(back["x"].to_numpy(), table.frame["x"].to_numpy())
    # and read_incidents reads the force folder as the same incidents
    again = read_incidents(str(ds.force_dir("test-force")))
    assert again.frame["incident_id"].tolist() == table.frame["incident_id"].tolist()
    assert again.synthetic
    assert np.array_equal(again.frame["occurred"].to_numpy(), table.frame["occurred"].to_numpy())
    assert np.allclose(again.frame["x"].to_numpy(), table.frame["x"].to_numpy(), atol=1e-6)
    with pytest.raises(InvalidParameterError, match="not in"):
        ds.force_files("other")
    with pytest.raises(InputFormatError, match="lpus.geojson"):
        ds.lpu_boundaries("test-force")


def test_dataset_errors(tmp_path, small_synthetic):
    with pytest.raises(InputFormatError, match="no dataset.json"):
        pt.open_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text('{"layout": "other"}')
    with pytest.raises(InputFormatError, match="layout"):
        pt.open_dataset(tmp_path)
    (tmp_path / "dataset.json").unlink()
    frame = small_synthetic.frame
    with pytest.raises(InvalidParameterError, match="no force column"):
        pt.write_partitions(frame, tmp_path, crs="EPSG:27700", synthetic=True)
    pt.write_partitions(frame.head(10), tmp_path, crs="EPSG:27700", synthetic=True, force="A")
    with pytest.raises(InvalidParameterError, match="EPSG:27700"):
        pt.write_partitions(frame.head(10), tmp_path, crs="EPSG:32630", synthetic=True,
                            force="A")
    two = frame.head(10).assign(force=["A a"] * 5 + ["a-A"] * 5)
    with pytest.raises(InvalidParameterError, match="same folder name"):
        pt.write_partitions(two, tmp_path, crs="EPSG:27700", synthetic=True)
    blank = frame.head(4).assign(force=["A", "", "A", None])
    with pytest.raises(InvalidParameterError, match="2 incident"):
        pt.write_partitions(blank, tmp_path, crs="EPSG:27700", synthetic=True)


def test_ingest_cli_partitions_police_uk_by_force_and_month(tmp_path):
    root = tmp_path / "ds"
    files = [str(LEICS / f"2020-0{m}-leicestershire-street.csv.gz") for m in (1, 2)]
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["--quiet", "ingest", *[a for f in files for a in ("--incidents", f)],
         "--partition-by", "force,month", "--out", str(root),
         "--lpu-boundaries", str(LEICS_B / "lpus.geojson"),
         "--neighbourhood-boundaries", str(LEICS_B / "neighbourhoods.geojson")],
    )
    assert res.exit_code == 0, res.output
    table = read_incidents(files)
    ds = pt.open_dataset(root)
    assert ds.slugs == ["leicestershire-police"]  # from the 'Falls within' column
    force = ds.forces["leicestershire-police"]
    assert force["name"] == "Leicestershire Police" and not force["synthetic"]
    assert force["rows"] == len(table.frame)
    assert sorted(force["months"]) == ["2020-01", "2020-02"]
    assert _sha(ds.lpu_boundaries("leicestershire-police")) == _sha(LEICS_B / "lpus.geojson")
    assert (root / "rejects.csv").is_file()
    back = read_incidents(str(ds.force_dir("leicestershire-police")))
    assert sorted(back.frame["incident_id"]) == sorted(table.frame["incident_id"])
    assert "raw_original_file" in back.frame.columns  # the ingest's provenance is kept
    # a later month is added, the others kept
    res = runner.invoke(
        main,
        ["--quiet", "ingest", "--incidents", str(LEICS / "2020-03-leicestershire-street.csv.gz"),
         "--partition-by", "force,month", "--out", str(root), "--force",
         "Leicestershire Police"],
    )
    assert res.exit_code == 0, res.output
    ds = pt.open_dataset(root)
    assert sorted(ds.forces["leicestershire-police"]["months"]) == [
        "2020-01", "2020-02", "2020-03"
    ]
    assert len(ds.force_files("leicestershire-police")) == 3
    # options that go together
    res = runner.invoke(
        main,
        ["ingest", "--incidents", files[0], "--force", "X", "--out", str(tmp_path / "x.parquet")],
    )
    assert res.exit_code != 0 and "--partition-by" in res.output


def test_ingest_cli_refuses_one_boundary_for_many_forces(tmp_path, small_synthetic):
    frame = small_synthetic.frame.head(200).copy()
    frame["force"] = ["North"] * 100 + ["South"] * 100
    frame.attrs["crs"] = "EPSG:27700"
    src = write_synthetic(frame.drop(columns=["lpu", "neighbourhood", "outside"]),
                          tmp_path / "two.parquet")
    res = CliRunner().invoke(
        main,
        ["--quiet", "ingest", "--incidents", str(src), "--partition-by", "force,month", "--out",
         str(tmp_path / "ds"), "--lpu-boundaries", str(LEICS_B / "lpus.geojson")],
    )
    assert res.exit_code == 2
    assert "holds 2 forces" in res.output


def test_assign_areas_partitioned_equals_one_join(small_synthetic):
    from geodemand.ingest.areas import assign_areas, read_areas

    wm = DATA / "boundaries" / "west-midlands"
    areas = read_areas(wm / "lpus.geojson", wm / "neighbourhoods.geojson")
    frame = small_synthetic.frame.drop(columns=["lpu", "neighbourhood", "outside"])
    whole = assign_areas(frame, areas)
    parts = [frame.iloc[:1000], frame.iloc[1000:1001], frame.iloc[1001:]]
    split = pt.assign_areas_partitioned(parts, areas)
    pd.testing.assert_frame_equal(split.reset_index(drop=True), whole.reset_index(drop=True))
    with pytest.raises(InvalidParameterError, match="no partitions"):
        pt.assign_areas_partitioned([], areas)


def test_synthetic_national_small_set(tmp_path):
    from geodemand.ingest.synth import national_plan, synthetic_national

    meta = synthetic_national(tmp_path / "nat", forces=2, scale=0.002, seed=3)
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["generator"]["label"]
    ds = pt.open_dataset(tmp_path / "nat")
    assert ds.slugs == ["synthetic-force-01", "synthetic-force-02"]
    plan = national_plan(2, scale=0.002, seed=3)
    for slug, f in zip(ds.slugs, plan, strict=True):
        info = ds.forces[slug]
        assert info["template"] == f["template"] and info["seed"] == f["seed"]
        assert len(info["months"]) == 24 and info["rows"] == info["n"]
        table = read_incidents(str(ds.force_dir(slug)))
        assert table.synthetic and len(table.frame) == info["n"]
        # the places moved with the boundaries: every incident lies in one of the force's LPUs
        from geodemand.ingest.areas import assign_areas, read_areas

        areas = read_areas(ds.lpu_boundaries(slug), ds.neighbourhood_boundaries(slug))
        assert not assign_areas(table, areas).frame["outside"].any()
        assert areas.lpus["lpu"].str.startswith(info["code"] + " ").all()
        # the location key is the moved point's own lon/lat
        key = table.frame["location_key"].iloc[0]
        assert key.startswith("pt:") and len(key.split(",")[1].split(".")[1]) == 6
    # forces sit in different places
    a, b = (pt.open_dataset(tmp_path / "nat").read_force(s, ["x"])["x"].mean() for s in ds.slugs)
    assert abs(a - b) > 50_000
    # the same seed gives byte-identical files
    synthetic_national(tmp_path / "again", forces=2, scale=0.002, seed=3)
    for f in (tmp_path / "nat").rglob("*.parquet"):
        twin = tmp_path / "again" / f.relative_to(tmp_path / "nat")
        assert _sha(f) == _sha(twin)
    with pytest.raises(InvalidParameterError, match="already holds"):
        synthetic_national(tmp_path / "nat", forces=1, scale=0.001)


def test_default_national_plan_has_at_least_20_million_incidents():
    from geodemand.ingest import synth

    plan = synth.national_plan()
    assert len(plan) == 44 >= 40
    total = 0
    for f in plan:
        t = next(t for t in synth.NATIONAL_TEMPLATES if t.name == f["template"])
        cal = synth._template_calibration(t)
        total += round(cal.n_incidents / t.months * 24 * f["volume_factor"])
    assert total >= 20_000_000
    assert len({tuple(f["centre"]) for f in plan}) == 44  # no two forces share a slot


def test_synth_cli_national(tmp_path):
    res = CliRunner().invoke(
        main, ["--quiet", "synth", "--national", "--forces", "2", "--scale", "0.001", "--out",
               str(tmp_path / "nat")],
    )
    assert res.exit_code == 0, res.output
    assert "2 forces" in res.output and "labelled synthetic" in res.output
    meta = json.loads((tmp_path / "nat" / "dataset.json").read_text())
    assert meta["generator"]["forces"] == 2
    bad = CliRunner().invoke(main, ["synth", "--national", "1000", "--scale", "2", "--out",
                                    str(tmp_path / "x")])
    assert bad.exit_code == 2 and "either N" in bad.output
    bad = CliRunner().invoke(main, ["synth", "1000", "--forces", "3"])
    assert bad.exit_code == 2 and "--national" in bad.output
