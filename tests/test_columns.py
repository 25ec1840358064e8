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
