"""map_distinct against pandas' own Series.map (the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geodemand._columns import map_distinct

TYPES = ["Burglary", "Robbery", "Shoplifting", "Drugs", "Vehicle crime", "Other theft"]


def _column(kind: str) -> pd.Series:
    rng = np.random.default_rng(5)
    values = rng.choice(np.array(TYPES + [None], dtype=object), 5_000)
    index = pd.RangeIndex(5_000) if kind != "shuffled index" else rng.permutation(5_000) + 7
    if kind == "categorical":
        return pd.Series(pd.Categorical(values), index=index, name="crime_type")
    if kind == "object":
        return pd.Series(values, index=index, dtype=object, name="crime_type")
    return pd.Series(values, index=index, dtype="str", name="crime_type")


@pytest.mark.parametrize("kind", ["str", "object", "categorical", "shuffled index"])
@pytest.mark.parametrize(
    "mapping",
    [
        {t: float(i) for i, t in enumerate(TYPES[:4])},  # numbers, two types unmapped
        {t: f"group {i % 2}" for i, t in enumerate(TYPES)},  # text
        {},
    ],
)
def test_map_distinct_equals_series_map(kind, mapping):
    column = _column(kind)
    expected = column.astype(object).map(mapping) if kind == "categorical" else column.map(
        mapping)
    got = map_distinct(column, mapping)
    assert got.index.equals(column.index) and got.name == column.name
    np.testing.assert_array_equal(got.isna().to_numpy(), expected.isna().to_numpy())
    assert got.dropna().tolist() == expected.dropna().tolist()
    assert got.isna().sum() >= (column.isna()).sum()  # missing inputs stay missing


def test_map_distinct_of_an_empty_column():
    got = map_distinct(pd.Series([], dtype="str"), {"a": 1.0})
    assert len(got) == 0


def _mixed_frame(n: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({
        "when": pd.to_datetime(rng.integers(0, 50, n), unit="D"),
        "text": pd.Series(rng.choice(np.array(["b", "a", "é", "A", "ab", None], dtype=object), n),
                          dtype="str"),
        "plain": pd.Series(rng.choice(np.array(["b", "a", None], dtype=object), n), dtype=object),
        "cat": pd.Categorical(rng.choice(np.array(["z", "y", None], dtype=object), n),
                              categories=["z", "y"]),  # category order, not text order
        "number": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 5, n).astype(float)),
    })
    frame.index = rng.permutation(n) + 100
    return frame


@pytest.mark.parametrize(
    "columns",
    [["when"], ["when", "text"], ["text", "when"], ["plain"], ["cat", "when"], ["number", "text"],
     ["text", "plain", "number"]],
)
def test_stable_order_equals_pandas_mergesort(columns):
    from geodemand._columns import stable_order

    frame = _mixed_frame()
    expected = frame.sort_values(columns, kind="mergesort").index
    got = frame.index[stable_order(frame, columns)]
    assert got.equals(expected)


def test_stable_order_of_real_incidents_sorted_by_time_and_id():
    """The demand stage's canonical order: time, then the (distinct) incident id."""
    from geodemand._columns import stable_order

    rng = np.random.default_rng(3)
    n = 50_000
    frame = pd.DataFrame({
        "occurred": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 2_000, n),
                                                                    unit="h"),
        "incident_id": pd.Series([f"id-{v}" for v in rng.permutation(n)], dtype="str"),
    })
    expected = frame.sort_values(["occurred", "incident_id"], kind="mergesort").index
    assert frame.index[stable_order(frame, ["occurred", "incident_id"])].equals(expected)
    assert len(stable_order(frame.iloc[:0], ["occurred"])) == 0


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).integers(0, 700_000, 600_000),  # cell numbers: counted
        np.random.default_rng(2).integers(-5, 5, 1_000),
        np.random.default_rng(3).integers(0, 10**12, 1_000),  # sparse: sorted
        np.random.default_rng(4).integers(0, 1_000, 5_000).astype(np.int32),
        np.random.default_rng(5).integers(0, 200, 300).astype(np.uint16),
        np.random.default_rng(6).random(500).round(1),  # floats: sorted
        np.array([7]),
        np.zeros(0, dtype=np.int64),
    ],
)
def test_unique_inverse_equals_numpy_unique(values):
    from geodemand._columns import unique_inverse

    ids, inverse = np.unique(values, return_inverse=True)
    got_ids, got_inverse = unique_inverse(values)
    assert got_ids.dtype == ids.dtype
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_inverse, inverse.reshape(-1))
    np.testing.assert_array_equal(got_ids[got_inverse], values)
