"""The demand stage: the window, exclusions, harm applied once, recency, places."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import geodemand as gd
from geodemand.demand.demand import prepare_demand
from geodemand.errors import InvalidParameterError


@pytest.fixture(scope="module")
def wm_month(wm_areas, data_dir):
    table = gd.read_incidents(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    return gd.assign_areas(table, wm_areas)


@pytest.fixture(scope="module")
def demand(wm_month):
    return prepare_demand(wm_month)


def test_harm_is_applied_once_place_harm_equals_incident_harm(demand, wm_month):
    """Summed place harm equals summed incident harm (to 1e-9) on a real month, and the
    repeat engine sums the demand's harm instead of weighting again."""
    inc = demand.incidents
    assert abs(demand.places["harm"].sum() - inc["harm"].sum()) < 1e-9
    weights = demand.harm.weight_of()
    assert np.allclose(inc["harm"], inc["crime_type"].map(weights))
    places = gd.repeat_locations(inc, key="place_id")
    assert abs(places["harm"].sum() - inc["harm"].sum()) < 1e-6
    assert places.attrs["params"]["harm_table"] == "the incidents' harm column"


def test_exclusions_are_counted_by_reason(demand, wm_month):
    frame = wm_month.frame
    pg = demand.excluded_types("police_generated")
    assert pg == {"drugs": int((frame["crime_type"] == "drugs").sum()) - _outside(frame, "drugs"),
                  "possession-of-weapons": int((frame["crime_type"] == "possession-of-weapons")
                                               .sum()) - _outside(frame, "possession-of-weapons")}
    counts = demand.excluded_counts()
    assert counts["outside_every_lpu"] == int((frame["lpu"] == "outside").sum())
    assert demand.n + sum(counts.values()) == len(frame)
    assert not demand.incidents["crime_type"].isin(["drugs", "possession-of-weapons"]).any()
    kept = prepare_demand(wm_month, include_police_generated=True)
    assert kept.n == demand.n + sum(pg.values())
    only = prepare_demand(wm_month, crime_types=["burglary"])
    assert set(only.incidents["crime_type"]) == {"burglary"}
    with pytest.raises(InvalidParameterError, match="not canonical crime types"):
        prepare_demand(wm_month, crime_types=["burglery"])


def _outside(frame, ctype):
    return int(((frame["crime_type"] == ctype) & (frame["lpu"] == "outside")).sum())


def test_window_and_recency():
    rows = pd.DataFrame({
        "incident_id": ["a", "b", "c"],
        "occurred": pd.to_datetime(["2023-01-10", "2024-01-10", "2025-01-09"]),
        "date_precision": "day", "crime_type": "burglary", "x": [400000.0, 400100, 400200],
        "y": 290000.0, "location_key": ["k1", "k2", "k3"], "lpu": "L", "synthetic": False,
    })
    rows.attrs["crs"] = "EPSG:27700"
    d = prepare_demand(rows, window_end="2025-01-09 23:59:59", window_days=730, half_life_days=365)
    assert d.excluded_counts() == {"before_window": 1}
    rec = d.incidents.set_index("incident_id")["recency"]
    assert rec["c"] == pytest.approx(0.5 ** ((23 * 3600 + 3599) / 86400 / 365))
    assert rec["b"] == pytest.approx(0.5 ** (365.99999 / 365), rel=1e-4)
    assert d.params["window_days"] == 730 and d.harm.scheme == "cchi"


def test_month_precision_window_is_whole_months(data_dir):
    table = gd.read_incidents(sorted((data_dir / "incidents/leicestershire").glob("*.csv.gz"))[:3])
    frame = table.frame.assign(lpu="all")
    frame.attrs = dict(table.frame.attrs)
    d = prepare_demand(frame, window_days=61)
    months = sorted(d.incidents["occurred"].dt.to_period("M").astype(str).unique())
    assert months == ["2020-01", "2020-02"]
    assert d.harm.force == "leicestershire"  # from the police.uk 'Reported by' field
    assert d.period_kind == "month"


def test_bad_inputs(wm_month):
    with pytest.raises(InvalidParameterError, match="assign_areas"):
        prepare_demand(wm_month.frame.drop(columns="lpu"))
    with pytest.raises(InvalidParameterError, match="window_days"):
        prepare_demand(wm_month, window_days=0)
    with pytest.raises(InvalidParameterError, match="harm scheme 'median'"):
        prepare_demand(wm_month, harm="median")
    assert "Demand(" in repr(prepare_demand(wm_month, harm="count"))
