"""Equity audit: IMD join of every bundled LSOA, shares per LPU, apportioning and the flag."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.equity import (
    EquityUnavailableError,
    bundled_small_areas,
    deprivation_layer,
    equity_audit,
    read_imd,
    read_population,
    read_small_areas,
    small_area_layer,
)

DATA = Path(__file__).resolve().parents[1] / "data"
CRS = "EPSG:27700"


@pytest.mark.parametrize(("path", "n"), [
    (DATA / "boundaries" / "west-midlands" / "lsoa.geojson", 1680),
    (DATA / "boundaries" / "leicestershire" / "neighbourhoods.geojson", 611),
])
def test_imd_join_matches_every_bundled_lsoa(path, n):
    sa = read_small_areas(path)
    assert len(sa) == n and sa["code"].is_unique
    layer = deprivation_layer(sa)  # raises if any code is missing
    assert len(layer) == n
    assert layer["decile"].between(1, 10).all()
    assert (layer["population"] > 0).all()
    imd = read_imd().set_index("code")
    assert (layer["decile"].to_numpy() == imd.loc[layer["code"], "decile"].to_numpy()).all()


def test_bundled_files_read_in_full():
    imd, pop = read_imd(), read_population()
    assert len(imd) == len(pop) == 32_844
    assert imd["decile"].value_counts().sort_index().index.tolist() == list(range(1, 11))
    assert imd.loc[imd["code"] == "E01000001", "imd_rank"].item() == 29_199  # "29,199"
    assert pop.loc[pop["code"] == "E01000001", "population"].item() == 1296
    assert len(bundled_small_areas()) == 1680 + 611


def squares():
    """Four 1 km LSOA squares in a row (x 0-4 km) in LPU 'A' (0-4 km), deciles 1, 1, 5, 10."""
    geoms = [shapely.box(1000 * i, 0, 1000 * (i + 1), 1000) for i in range(4)]
    sa = gpd.GeoDataFrame({"code": ["E1", "E2", "E3", "E4"], "name": list("abcd"),
                           "decile": [1, 1, 5, 10], "population": [1000.0, 2000, 1500, 500]},
                          geometry=geoms, crs=CRS)
    lpus = gpd.GeoDataFrame({"lpu": ["A"]}, geometry=[shapely.box(0, 0, 4000, 1000)], crs=CRS)
    return sa, lpus


def incidents(spec):
    rows = [{"x": x, "y": 500.0, "lpu": "A", "harm": h} for x, n, h in spec for _ in range(n)]
    return pd.DataFrame(rows)


def test_hand_built_shares_apportioning_flags_and_rates():
    sa, lpus = squares()
    # harm: E1 10 x 4 = 40, E2 5 x 2 = 10, E3 45 x 1 = 45, E4 5 x 1 = 5 (total 100)
    inc = incidents([(500, 10, 4.0), (1500, 5, 2.0), (2500, 45, 1.0), (3500, 5, 1.0)])
    # area 1 straddles E1/E2 (250 m in E1, 750 m in E2): 60 min -> 15 to E1, 45 to E2;
    # area 2 wholly in E4: 40 min (dosage total 100)
    pa = gpd.GeoDataFrame({"lpu": ["A", "A"], "minutes_per_day": [60.0, 40.0]},
                          geometry=[shapely.box(750, 0, 1750, 1000),
                                    shapely.box(3200, 200, 3400, 400)], crs=CRS)
    audit = equity_audit(inc, pa, lpus, sa)
    t = audit.table[audit.table["breakdown"] == "imd_decile"].set_index("group")
    assert t.loc["1", "dosage_minutes"] == pytest.approx(60)
    assert t.loc["1", "harm"] == pytest.approx(50) and t.loc["1", "incidents"] == 15
    assert t.loc["1", "residents"] == 3000 and t.loc["1", "small_areas"] == 2
    assert t.loc["5", "harm_pct"] == pytest.approx(45) and t.loc["5", "dosage_pct"] == 0
    assert t.loc["10", "dosage_pct"] == pytest.approx(40)
    assert t.loc["10", "harm_pct"] == pytest.approx(5)
    # decile 10: +35 pp and 8x -> flagged; decile 1: 60 % vs 50 % (+10 pp, not > 10) -> not
    assert t.loc["10", "flagged"] and not t.loc["1", "flagged"]
    assert t.loc["10", "dosage_minus_harm_pp"] == pytest.approx(35)
    assert t.loc["10", "dosage_to_harm"] == pytest.approx(8)
    assert t.loc["1", "residents_pct"] == pytest.approx(60)
    assert t.loc["10", "incidents_per_1000"] == pytest.approx(5 / 0.5)
    assert t.loc["1", "harm_per_1000"] == pytest.approx(50 / 3.0)
    assert t.index.tolist() == [str(d) for d in range(1, 11)]  # every decile, no 'none'
    layer = audit.small_areas.set_index("code")
    assert layer["dosage_minutes"].tolist() == pytest.approx([15, 45, 0, 40])
    assert layer.loc["E1", "harm_per_1000"] == pytest.approx(40.0)
    lines = audit.lines["A"]
    assert lines[0].startswith("A: in the most deprived 20 % of English LSOAs")
    assert "60 % of residents; they hold 50 % of the harm and get 60 % of patrol dosage" in (
        lines[0])
    assert any(line.startswith("Flag: IMD decile 10 gets 40 %") for line in lines)
    # a larger ratio margin clears the flag; a 1.2x ratio does not reach decile 1 (+10 pp)
    assert not equity_audit(inc, pa, lpus, sa, margin_ratio=10).flags["group"].eq("10").any()


def test_dosage_and_harm_outside_every_small_area_go_to_none():
    sa, lpus = squares()
    lpus = gpd.GeoDataFrame({"lpu": ["A"]}, geometry=[shapely.box(0, 0, 5000, 1000)], crs=CRS)
    inc = incidents([(500, 3, 1.0), (4500, 1, 1.0)])
    pa = gpd.GeoDataFrame({"lpu": ["A"], "minutes_per_day": [30.0]},
                          geometry=[shapely.box(3500, 0, 4500, 1000)], crs=CRS)
    with pytest.raises(EquityUnavailableError, match="cover 80 % of LPU 'A'"):
        equity_audit(inc, pa, lpus, sa)
    audit = equity_audit(inc, pa, lpus, sa, min_coverage=0.8)
    t = audit.table[audit.table["breakdown"] == "imd_decile"].set_index("group")
    assert t.loc["none", "dosage_minutes"] == pytest.approx(15)
    assert t.loc["none", "harm_pct"] == pytest.approx(25)
    assert audit.params["dosage_minutes_outside_small_areas"] == pytest.approx(15)
    assert audit.params["incidents_outside_small_areas"] == 1


def test_outside_england_says_it_cannot_run_and_accepts_a_user_layer(tmp_path):
    sa, lpus = squares()
    user = tmp_path / "deprivation.gpkg"
    sa.assign(code=["W1", "W2", "W3", "W4"]).to_file(user)
    layer = small_area_layer(user)  # has decile and population: used as it is
    assert layer["decile"].tolist() == [1, 1, 5, 10]
    sa.drop(columns=["decile", "population"]).assign(code=["W1", "W2", "W3", "W4"]).to_file(
        tmp_path / "codes.gpkg")
    with pytest.raises(EquityUnavailableError, match="IMD covers English LSOAs"):
        small_area_layer(tmp_path / "codes.gpkg")
    welsh = sa.drop(columns=["decile", "population"]).assign(code=["W01000001"] * 4)
    with pytest.raises(EquityUnavailableError, match="cannot run: 4 of 4 small areas have no "
                                                     "IMD 2019 decile"):
        deprivation_layer(welsh)
    with pytest.raises(EquityUnavailableError, match="lacks"):
        equity_audit(incidents([(500, 1, 1.0)]), sa.iloc[0:0].assign(lpu=[], minutes_per_day=[]),
                     lpus, welsh)
    # a user deprivation layer (code, decile, population) runs
    audit = equity_audit(incidents([(500, 1, 1.0)]), gpd.GeoDataFrame(
        {"lpu": ["A"], "minutes_per_day": [10.0]}, geometry=[shapely.box(0, 0, 100, 100)],
        crs=CRS), lpus, sa.assign(code=["W1", "W2", "W3", "W4"]))
    assert audit.table["dosage_pct"].max() == pytest.approx(100)
    with pytest.raises(InvalidParameterError, match="field decile"):
        equity_audit(incidents([(500, 1, 1.0)]), audit.small_areas.iloc[0:0].assign(
            minutes_per_day=[]), lpus, sa.assign(decile=[1, 2, 3, 11]))


def test_real_west_midlands_shares_sum_to_100_per_lpu(wm_areas):
    """The real force-wide police.uk month 2018-06 on the West Midlands LPUs, wards and
    LSOAs; patrol areas are 300 m squares round each LPU's three busiest 100 m cells."""
    from geodemand.demand.harm import harm_weights
    from geodemand.ingest.areas import assign_areas
    from geodemand.ingest.incidents import read_incidents

    month = DATA / "incidents" / "west-midlands" / "2018-06-west-midlands-api.csv.gz"
    f = assign_areas(read_incidents(month), wm_areas).frame
    f = f[~f["outside"]]
    f = f.assign(harm=harm_weights().weights(f["crime_type"]))
    cells = f.assign(cx=(f["x"] // 100) * 100 + 50, cy=(f["y"] // 100) * 100 + 50)
    top = (cells.groupby(["lpu", "cx", "cy"]).size().rename("n").reset_index()
           .sort_values(["lpu", "n"], ascending=[True, False]).groupby("lpu").head(3))
    pa = gpd.GeoDataFrame({"lpu": top["lpu"], "minutes_per_day": top["n"] * 1.0},
                          geometry=shapely.buffer(shapely.points(top["cx"], top["cy"]), 150,
                                                  cap_style="square"), crs=wm_areas.crs)
    sa = deprivation_layer(read_small_areas(DATA / "boundaries" / "west-midlands" /
                                            "lsoa.geojson"))
    audit = equity_audit(f, pa, wm_areas.lpus, sa, neighbourhoods=wm_areas.neighbourhoods)
    t = audit.table
    assert set(t["lpu"]) == set(wm_areas.lpus["lpu"])
    sums = t.groupby(["lpu", "breakdown"])[["residents_pct", "harm_pct", "dosage_pct"]].sum()
    assert len(sums) == 20
    assert np.allclose(sums.to_numpy(), 100.0)
    assert t.groupby("breakdown")["residents"].sum().tolist() == pytest.approx(
        [sa["population"].sum()] * 2)
    assert len(audit.small_areas) == 1680
    assert t.loc[t["breakdown"] == "imd_decile", "harm"].sum() == pytest.approx(f["harm"].sum())
    assert set(audit.lines) == set(wm_areas.lpus["lpu"])
    # the bundled layer (West Midlands and Leicestershire LSOAs) gives the same audit
    both = equity_audit(f, pa, wm_areas.lpus, small_area_layer(),
                        neighbourhoods=wm_areas.neighbourhoods)
    pd.testing.assert_frame_equal(both.table, t)
    # Leicestershire's LSOAs do not cover West Midlands LPUs: it says so
    leics = deprivation_layer(read_small_areas(DATA / "boundaries" / "leicestershire" /
                                               "neighbourhoods.geojson"))
    with pytest.raises(EquityUnavailableError, match="cover 0 % of LPU"):
        equity_audit(f, pa, wm_areas.lpus, leics)
