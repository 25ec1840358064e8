"""Helpers for large text columns (pandas' Arrow-backed strings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def map_distinct(values: pd.Series, mapping: Mapping[Any, Any]) -> pd.Series:
    """``values.map(mapping)``, looked up once per distinct value.

    The same values as :meth:`pandas.Series.map` with a dict (a value not in ``mapping``, or
    a missing value, gives NaN), on the same index. pandas maps an Arrow-backed text column
    row by row; a 600,000-row column of 14 crime types is mapped here as 14 lookups and one
    ``take``.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    looked_up = np.append(distinct.map(mapping).to_numpy(dtype=object), np.nan)
    out = looked_up[np.where(codes < 0, len(distinct), codes)]
    return pd.Series(out, index=values.index, name=values.name).infer_objects()


def stable_order(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Row positions that sort ``frame`` by ``columns`` (all ascending), ties in row order.

    The order of ``frame.sort_values(columns, kind="mergesort")`` (missing values last;
    categories in category order; text by code point), computed by Arrow's stable sort:
    pandas sorts a text column by first factorizing it, which for 600,000 distinct incident
    ids costs ten times as much.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(frame):
        return np.zeros(0, dtype=np.int64)
    keys = {}
    for i, name in enumerate(columns):
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy(dtype=np.int64)
            keys[f"k{i}"] = pa.array(np.where(codes < 0, len(column.cat.categories), codes))
        else:
            keys[f"k{i}"] = pa.Array.from_pandas(column)
    table = pa.table(keys)
    # Arrow's sort is stable and puts nulls (and NaN) at the end by default
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys])
    return order.to_numpy().astype(np.int64, copy=False)


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of a 1-d array: the sorted distinct values
    and each value's index among them.

    Integers in a range not much wider than their count (cell numbers, text codes) are
    counted into a table instead of sorted: linear time, the same arrays. Other values
    (floats, sparse integers) are sorted as ``np.unique`` does.
    """
    values = np.asarray(values).reshape(-1)
    if not values.size:
        return values[:0].copy(), np.zeros(0, dtype=np.intp)
    low = int(values.min()) if values.dtype.kind in "iu" else 0
    high = int(values.max()) if values.dtype.kind in "iu" else 0
    if values.dtype.kind not in "iu" or high - low > max(4 * values.size, 1 << 16):
        ids, inverse = np.unique(values, return_inverse=True)
        return ids, inverse.reshape(-1)
    offset = (values - low).astype(np.intp, copy=False)
    present = np.bincount(offset, minlength=high - low + 1) > 0
    ids = (np.flatnonzero(present) + low).astype(values.dtype, copy=False)
    slot = np.cumsum(present, dtype=np.intp) - 1
    return ids, slot[offset]
