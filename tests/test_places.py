"""Named places: labels, merging, partnership sites, premises, default geocodes."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodemand.demand.places import (
    DEFAULT_GEOCODE_MIN,
    DEFAULT_GEOCODE_PERIODS,
    DEFAULT_GEOCODE_SHARE,
    MERGE_M,
    OTHER_ORG_OUTCOME,
    PLACE_COLUMNS,
    SiteKeywords,
    _flag_sites,
    _label,
    _lonlat,
    _merge_points,
    _text_column,
    group_mode,
    location_text,
    place_table,
    read_premises,
    site_keywords,
)
from geodemand.errors import BoundaryError, InputFormatError


def incidents(rows):
    f = pd.DataFrame(rows, columns=["location_key", "raw_location", "x", "y", "lpu",
                                    "neighbourhood", "crime_type"])
    f["harm"] = 10.0
    f["occurred"] = pd.Timestamp("2021-01-01")
    f.attrs["crs"] = "EPSG:27700"
    return f


def test_labels_from_police_uk_locations_and_fallback():
    f = incidents([
        ("k1", "On or near Swan Street", 400000.0, 290000.0, "L", "Westcotes", "burglary"),
        ("k2", "", 400500.0, 290000.0, "L", "Westcotes", "burglary"),
    ])
    places, place_of = place_table(f)
    by = places.set_index("place_id")
    assert by.loc["place:k1", "label"] == "Swan Street (Westcotes)"
    assert by.loc["place:k2", "label"].startswith("near Westcotes, 52.")
    assert by.loc["place:k2", "label"].endswith(" W")
    assert list(place_of) == ["place:k1", "place:k2"]
    assert by.loc["place:k1", "lat"] == pytest.approx(52.5, abs=0.5)


def test_same_label_points_within_the_tolerance_merge_complete_linkage():
    # five points along one street, 60 m apart: complete linkage at 150 m keeps groups
    # within 150 m across; a far point with the same label and a near one with another
    # label stay apart
    rows = [(f"s{i}", "On or near High Street", 400000.0 + 60 * i, 290000.0, "L", "N",
             "burglary") for i in range(5)]
    rows += [("far", "On or near High Street", 402000.0, 290000.0, "L", "N", "burglary"),
             ("other", "On or near Low Street", 400030.0, 290000.0, "L", "N", "burglary")]
    places, place_of = place_table(incidents(rows))
    groups = places.set_index("place_id")["members"]
    merged = [m for m in groups if len(m) > 1]
    assert sorted(map(len, merged)) == [2, 3]
    for members in merged:
        xs = [400000.0 + 60 * int(k[1:]) for k in members]
        assert max(xs) - min(xs) <= 150
    assert groups["place:far"] == ["far"] and groups["place:other"] == ["other"]
    assert abs(places["harm"].sum() - 70.0) < 1e-12
    off, _ = place_table(incidents(rows), merge_m=0)
    assert len(off) == 7


def test_partnership_sites_from_labels_streets_excluded():
    rows = [
        ("h", "On or near Leicester Royal Infirmiry", 0.0, 0.0, "L", "N", "violence"),
        ("g", "On or near Glenfield Hospital", 500.0, 0.0, "L", "N", "violence"),
        ("w", "On or near Hospital Way", 1000.0, 0.0, "L", "N", "violence"),
        ("p", "On or near Prison", 1500.0, 0.0, "L", "N", "violence"),
        ("s", "On or near Police Station", 2000.0, 0.0, "L", "N", "violence"),
        ("b", "On or near Haymarket Bus Station", 2500.0, 0.0, "L", "N", "violence"),
        ("l", "On or near School Lane", 3000.0, 0.0, "L", "N", "violence"),
    ]
    f = incidents(rows)
    f["x"] += 400000
    f["y"] += 290000
    places, _ = place_table(f)
    by = places.set_index("place_id")
    assert by.loc[["place:h", "place:g", "place:p", "place:s"], "partnership"].all()
    assert by.loc["place:h", "site_category"] == "hospital"
    assert by.loc["place:p", "site_category"] == "prison"
    assert by.loc["place:s", "site_category"] == "police"
    assert not by.loc["place:w", "partnership"] and not by.loc["place:l", "partnership"]
    assert by.loc["place:b", "site_category"] == "transport hub"
    assert not by.loc["place:b", "partnership"]  # patrol can help at a bus station
    assert "NHS trust" in by.loc["place:h", "partnership_reason"]


def test_outcome_cue_flags_an_institution():
    rows = [("x", "On or near Parking Area", 400000.0, 290000.0, "L", "N", "violence")] * 30
    f = incidents(rows)
    f["raw_last_outcome_category"] = ["Action to be taken by another organisation"] * 12 + [
        "Investigation complete; no suspect identified"] * 18
    places, _ = place_table(f)
    row = places.iloc[0]
    assert row["partnership"] and row["other_org_share"] == pytest.approx(0.4)
    assert "40% of 30 incidents" in row["partnership_reason"]


def test_premises_layer_flags_and_bad_premises(tmp_path):
    f = incidents([("k", "On or near Euston Street", 400000.0, 290000.0, "L", "N", "violence")])
    prem = gpd.GeoDataFrame({"name": ["Euston Street custody"], "type": ["police"]},
                            geometry=[shapely.Point(400050, 290000)], crs="EPSG:27700")
    places, _ = place_table(f, premises=read_premises(prem, "EPSG:27700"))
    assert places.iloc[0]["partnership"] and places.iloc[0]["site_category"] == "police"
    nameless = prem.drop(columns="name")
    with pytest.raises(InputFormatError, match="no 'name' field"):
        read_premises(nameless, "EPSG:27700")
    line = prem.set_geometry([shapely.LineString([(0, 0), (1, 1)])])
    with pytest.raises(BoundaryError, match="feature 1 is a LineString"):
        read_premises(line, "EPSG:27700")
    empty = prem.assign(name=[""])
    with pytest.raises(InputFormatError, match="feature 1, field name: empty"):
        read_premises(empty, "EPSG:27700")
    path = tmp_path / "p.geojson"
    prem.to_file(path)
    assert len(read_premises(path, "EPSG:27700")) == 1
    with pytest.raises(InputFormatError, match="cannot read the premises layer"):
        read_premises(tmp_path / "missing.geojson", "EPSG:27700")


def test_user_keywords_extend_the_list(tmp_path):
    extra = tmp_path / "k.csv"
    extra.write_text("pattern,category,partnership,reason\n\\beuston street\\b,custody,true,"
                     "custody suite\n")
    kw = site_keywords(extra)
    assert kw.match("Euston Street")[0] == "custody"
    bad = tmp_path / "bad.csv"
    bad.write_text("pattern,category\n([,x\n")
    with pytest.raises(InputFormatError, match="row 2, field pattern"):
        site_keywords(bad)


def test_default_geocode_detection():
    months = pd.date_range("2020-01-01", periods=12, freq="MS")
    rows = []
    for m in months:  # one point takes 5 of ~100 incidents every month
        rows += [("dg", "On or near Park/Open Space", 400000.0, 290000.0, m)] * 5
        rows += [(f"p{m.month}_{i}", "On or near Some Road", 401000.0 + 10 * i,
                  290000.0 + m.month, m) for i in range(95)]
    f = pd.DataFrame(rows, columns=["location_key", "raw_location", "x", "y", "occurred"])
    f["lpu"] = "L"
    f["harm"] = 1.0
    f.attrs["crs"] = "EPSG:27700"
    places, _ = place_table(f, merge_m=0, periods=f["occurred"])
    by = places.set_index("place_id")
    assert by.loc["place:dg", "default_geocode"]
    assert by.loc["place:dg", "default_geocode_share"] == 1.0
    assert not by.drop(index="place:dg")["default_geocode"].any()
    assert np.isfinite(by["default_geocode_share"]).all()


# ---------------------------------------------------------------------------- reference
# The plain pandas implementation place_table replaced (string groupbys, slow but obviously
# correct); place_table (integer codes) must give the same table on real data.
def reference_place_table(
    incidents: pd.DataFrame,
    *,
    merge_m: float = MERGE_M,
    keywords: SiteKeywords | None = None,
    premises: Any = None,
    crs: str | None = None,
    periods: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """One row per place (module documentation) and each incident's ``place_id``.

    Parameters
    ----------
    incidents : DataFrame
        The demand stage's incidents: ``x``, ``y`` (metres), ``location_key``, ``harm`` (days),
        optional ``lpu``, ``neighbourhood``, location text, ``raw_last_outcome_category``.
    merge_m : float
        Merge tolerance in metres (0 = no merging).
    keywords : SiteKeywords, optional
        Default :func:`site_keywords`.
    premises : GeoDataFrame, optional
        From :func:`read_premises` (in the incidents' CRS).
    crs : str, optional
        CRS of ``x``/``y`` (for lat/lon); default ``incidents.attrs["crs"]``.
    periods : Series, optional
        Each incident's period (e.g. its month) for the default-geocode rule.

    Returns
    -------
    places : DataFrame
        Columns :data:`PLACE_COLUMNS` plus ``default_geocode_share``, sorted by ``place_id``.
    place_of : Series
        ``place_id`` of each incident (same index as ``incidents``).
    """
    if merge_m is None or not np.isfinite(merge_m) or merge_m < 0:
        raise ValueError(f"merge_m: expected metres >= 0, got {merge_m!r}")
    crs = crs or incidents.attrs.get("crs")
    keywords = keywords or site_keywords()
    frame = incidents
    lpu = frame["lpu"].astype(str) if "lpu" in frame.columns else pd.Series("", index=frame.index)
    text = location_text(frame)
    key = frame["location_key"].astype(str)
    point = pd.DataFrame(
        {"key": key.to_numpy(), "lpu": lpu.to_numpy(), "text": text.to_numpy(),
         "x": frame["x"].to_numpy(float), "y": frame["y"].to_numpy(float)}
    )
    # one row per (map point, LPU): mean position, modal text
    grouped = point.groupby(["lpu", "key"], sort=True)
    points = grouped.agg(x=("x", "mean"), y=("y", "mean"), n=("x", "size")).reset_index()
    points["text"] = group_mode(point, ["lpu", "key"], "text").reindex(
        pd.MultiIndex.from_frame(points[["lpu", "key"]])
    ).to_numpy()
    points["place_key"] = _merge_points(points, merge_m)
    # incidents -> place id
    lookup = points.set_index(["lpu", "key"])["place_key"]
    idx = pd.MultiIndex.from_arrays([point["lpu"], point["key"]])
    place_key = lookup.reindex(idx).to_numpy()
    place_of = pd.Series("place:" + pd.Series(place_key).astype(str).to_numpy(), index=frame.index)
    work = pd.DataFrame(
        {
            "place_id": place_of.to_numpy(),
            "lpu": lpu.to_numpy(),
            "key": key.to_numpy(),
            "text": text.to_numpy(),
            "x": point["x"].to_numpy(),
            "y": point["y"].to_numpy(),
            "harm": frame["harm"].to_numpy(float) if "harm" in frame.columns else 1.0,
            "neighbourhood": _text_column(frame, "neighbourhood"),
            "outcome": _text_column(frame, "raw_last_outcome_category"),
        }
    )
    g = work.groupby("place_id", sort=True)
    places = g.agg(incidents=("x", "size"), harm=("harm", "sum"), x=("x", "mean"), y=("y", "mean"))
    for col, src in (("lpu", "lpu"), ("neighbourhood", "neighbourhood"), ("location", "text")):
        places[col] = group_mode(work, ["place_id"], src).reindex(places.index).to_numpy()
    members = work[["place_id", "key", "text"]].drop_duplicates()
    places["members"] = members.groupby("place_id")["key"].agg(sorted).reindex(places.index)
    labels = members[members["text"] != ""].drop_duplicates(["place_id", "text"])
    places["member_labels"] = (
        labels.groupby("place_id")["text"].agg(sorted).reindex(places.index)
    )
    places["member_labels"] = [v if isinstance(v, list) else [] for v in places["member_labels"]]
    places["n_members"] = places["members"].map(len)
    with_outcome = (work["outcome"] != "").groupby(work["place_id"]).sum()
    other_org = (work["outcome"] == OTHER_ORG_OUTCOME).groupby(work["place_id"]).sum()
    places["n_outcomes"] = with_outcome.reindex(places.index).astype(np.int64)
    places["other_org_share"] = np.where(
        places["n_outcomes"] > 0, other_org.reindex(places.index) / places["n_outcomes"].clip(1),
        np.nan,
    )
    places = places.reset_index()
    lon, lat = _lonlat(places["x"].to_numpy(), places["y"].to_numpy(), crs)
    places["lon"], places["lat"] = np.round(lon, 6), np.round(lat, 6)
    places["label"] = [
        _label(loc, nb, la, lo)
        for loc, nb, la, lo in zip(places["location"], places["neighbourhood"], places["lat"],
                                   places["lon"], strict=True)
    ]
    _flag_sites(places, keywords, premises)
    share = _reference_default_geocode_share(work, periods, places)
    places["default_geocode_share"] = share
    places["default_geocode"] = (
        (share >= DEFAULT_GEOCODE_PERIODS)
        & (places["incidents"] >= DEFAULT_GEOCODE_MIN)
        & ~places["partnership"]
    )
    cols = list(PLACE_COLUMNS) + ["default_geocode_share"]
    return places[cols].reset_index(drop=True), place_of


def _reference_default_geocode_share(work: pd.DataFrame, periods,
                                     places: pd.DataFrame) -> np.ndarray:
    """Share of the window's periods in which the place held >= DEFAULT_GEOCODE_SHARE of its
    LPU's incidents."""
    if periods is None or not len(work):
        return np.zeros(len(places))
    per = pd.Series(np.asarray(periods), index=None)
    n_periods = per.nunique()
    df = pd.DataFrame({"place_id": work["place_id"].to_numpy(), "lpu": work["lpu"].to_numpy(),
                       "period": per.to_numpy()})
    lpu_n = df.groupby(["lpu", "period"]).size().rename("lpu_n")
    place_n = df.groupby(["place_id", "lpu", "period"]).size().rename("n").reset_index()
    place_n = place_n.join(lpu_n, on=["lpu", "period"])
    place_n["high"] = place_n["n"] >= DEFAULT_GEOCODE_SHARE * place_n["lpu_n"]
    months_high = place_n.groupby("place_id")["high"].sum()
    return (months_high.reindex(places["place_id"]).fillna(0) / max(n_periods, 1)).to_numpy()


@pytest.mark.slow
def test_place_table_equals_the_pandas_reference_on_real_data():
    import geodemand as gd
    from geodemand._paths import DATA_DIR

    table = gd.read_incidents(sorted((DATA_DIR / "incidents" / "leicestershire").glob(
        "2021-*-street.csv.gz")))
    areas = gd.read_areas(DATA_DIR / "boundaries" / "leicestershire" / "lpus.geojson",
                          DATA_DIR / "boundaries" / "leicestershire" / "neighbourhoods.geojson",
                          crs=table.crs)
    sel = gd.prepare_demand(gd.assign_areas(table, areas)).incidents.drop(
        columns=["place_id"])
    fast, fast_of = place_table(sel, periods=sel["period"])
    slow, slow_of = reference_place_table(sel, periods=sel["period"])
    assert len(fast) > 5000
    assert (fast_of.to_numpy() == slow_of.to_numpy()).all()
    # the reference listed a map point twice when its incidents had two texts
    slow["members"] = [sorted(set(v)) for v in slow["members"]]
    slow["n_members"] = slow["members"].map(len)
    for col in fast.columns:
        if fast[col].dtype.kind == "f":
            np.testing.assert_allclose(fast[col].to_numpy(), slow[col].to_numpy(np.float64),
                                       rtol=1e-12, atol=1e-6, err_msg=col)
        else:
            assert fast[col].tolist() == slow[col].tolist(), col


def test_sorted_codes_equal_the_text_factorize_reference():
    """The column coder (factorize first, then name and sort the distinct values) against the
    plain reference: every value as text (missing -> ""), factorized sorted."""
    import numpy as np
    import pandas as pd

    from geodemand.demand.places import _sorted_codes

    def reference(values):
        series = pd.Series(values).astype(object)
        series = series.where(series.notna(), "").astype(str)
        codes, uniques = pd.factorize(series, sort=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)

    cases = [
        ["b", "a", None, "b", ""],
        pd.array(["x", None, "a"], dtype="string"),
        pd.Categorical(["q", "p", None, "q"]),
        [1, "1", 2.5, None, np.nan],  # 1 and "1" share the text "1"
        [],
        ["z"] * 3,
        pd.Series(["é", "e", "E", "On or near Swan Street"], dtype="str"),
    ]
    for values in cases:
        codes, uniques = _sorted_codes(values, len(values))
        want_codes, want_uniques = reference(values)
        assert codes.tolist() == want_codes.tolist()
        assert list(uniques) == list(want_uniques)


@pytest.mark.parametrize("dtype", ["str", object, "category"])
def test_modal_text_and_target_cells_mode_equal_group_mode(dtype):
    """The integer-coded modal text (used for target cells) against the pandas groupby
    reference ``group_mode``: empty and missing texts, ties, groups with no text."""
    from geodemand.decide.targets import _modal
    from geodemand.demand.places import modal_text

    rng = np.random.default_rng(8)
    n = 4_000
    texts = np.array(["b", "a", "", "é", None, "ab", "A"], dtype=object)
    frame = pd.DataFrame({
        "_cell": rng.integers(0, 400, n) * 7,
        "lpu": pd.Series(rng.choice(texts, n), dtype=dtype),
    })
    frame.loc[frame["_cell"] == 14, "lpu"] = ""  # a cell with no text at all
    expected = group_mode(frame, ["_cell"], "lpu")
    got = _modal(frame, "_cell", "lpu")
    assert got.index.equals(expected.index)
    assert got.tolist() == expected.tolist()
    assert got.loc[14] == ""
    group, keys = pd.factorize(frame["_cell"])
    assert modal_text(group, len(keys), frame["lpu"]).tolist() == expected.tolist()
