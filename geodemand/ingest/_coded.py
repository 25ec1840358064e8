"""Text columns stored as distinct values plus one integer code per record.

Incident files repeat a few values millions of times (the month, the crime type, the force,
the map point), so ingest works on each column's *distinct* values and broadcasts the result
through the codes: a date is parsed once per distinct text, a coordinate once per distinct
text, a location key formatted once per map point. :class:`Coded` is that representation;
it converts from pyarrow arrays (dictionary-encoded or plain) and pandas Series, and back to
a pandas ``Categorical`` or string column at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: pandas' default string dtype (arrow-backed ``str`` in pandas >= 3)
STR_DTYPE = pd.Series(["a"]).dtype


@dataclass(frozen=True)
class Coded:
    """A text column: ``values[codes]`` is the text of every record.

    ``values`` is an object array of ``str`` (not necessarily distinct or sorted); ``codes``
    an int32 array with one entry per record, each a valid index into ``values``.
    """

    values: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    # ------------------------------------------------------------------ construction
    @classmethod
    def constant(cls, value: str, n: int) -> Coded:
        """Every one of ``n`` records holds ``value``."""
        return cls(np.array([value], dtype=object), np.zeros(n, dtype=np.int8))

    @classmethod
    def from_strings(cls, values) -> Coded:
        """From a sequence of Python strings (one per record)."""
        return cls.from_arrow(pa.array(list(values), type=pa.string()))

    @classmethod
    def from_arrow(cls, arr: pa.Array | pa.ChunkedArray) -> Coded:
        """From a pyarrow string or dictionary array (nulls become ``""``)."""
        if isinstance(arr, pa.ChunkedArray):
            if arr.num_chunks == 0:
                return cls(np.array([""], dtype=object), np.zeros(0, dtype=np.int32))
            if not pa.types.is_dictionary(arr.type):
                arr = pc.dictionary_encode(arr)
            arr = arr.unify_dictionaries()
            dictionary = arr.chunk(0).dictionary
            indices = [c.indices for c in arr.chunks]
        else:
            if not pa.types.is_dictionary(arr.type):
                arr = pc.dictionary_encode(arr)
            dictionary = arr.dictionary
            indices = [arr.indices]
        if not pa.types.is_string(dictionary.type) and not pa.types.is_large_string(
            dictionary.type
        ):
            dictionary = pc.cast(dictionary, pa.string())
        values = np.array(dictionary.fill_null("").to_pylist(), dtype=object)
        null_code = len(values)
        nulls = any(ix.null_count for ix in indices)
        parts = [
            (ix.fill_null(null_code) if ix.null_count else ix).to_numpy(zero_copy_only=False)
            for ix in indices
        ]
        codes = (
            (parts[0] if len(parts) == 1 else np.concatenate(parts))
            if parts
            else np.zeros(0, np.int32)
        )
        if nulls:
            values = np.append(values, np.array([""], dtype=object))
        return cls(values, codes)

    @classmethod
    def from_series(cls, series: pd.Series) -> Coded:
        """From a pandas Series of any dtype: missing values become ``""``, others ``str()``."""
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = np.array([_text(v) for v in series.cat.categories], dtype=object)
            codes = series.cat.codes.to_numpy().astype(np.int32)
            values = np.append(cats, np.array([""], dtype=object))
            codes = np.where(codes < 0, len(cats), codes).astype(np.int32)
            return cls(values, codes)
        text = arrow_text(series)
        if text is not None:
            return cls.from_arrow(text)
        try:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists, dicts): their text
            codes, uniques = pd.factorize(
                pd.Series([None if _missing(v) else _text(v) for v in series], dtype=object),
                use_na_sentinel=True,
            )
        values = np.array([_text(v) for v in np.asarray(uniques, dtype=object)], dtype=object)
        values = np.append(values, np.array([""], dtype=object))
        codes = np.where(codes < 0, len(values) - 1, codes).astype(np.int32)
        return cls(values, codes)

    # ------------------------------------------------------------------ access
    def text(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The text of the records ``rows`` (all records if None) as an object array."""
        codes = self.codes if rows is None else self.codes[rows]
        return self.values[codes]

    def per_row(self, per_value: np.ndarray) -> np.ndarray:
        """Broadcast an array computed for each entry of ``values`` to the records."""
        return np.asarray(per_value)[self.codes]

    def stripped(self) -> Coded:
        """The same column with surrounding white space removed from every value."""
        return Coded(np.array([v.strip() for v in self.values], dtype=object), self.codes)

    def blank(self) -> np.ndarray:
        """True where the record's text is empty after stripping white space."""
        return self.per_row(np.array([not v.strip() for v in self.values], dtype=bool))

    def take(self, rows: np.ndarray) -> Coded:
        """The records ``rows`` (same values)."""
        return Coded(self.values, self.codes[rows])


def arrow_text(series: pd.Series) -> pa.Array | None:
    """The Series as a pyarrow string array (nulls where missing), read in bulk, when its
    values are text or integers (whose text pyarrow writes as ``str`` does); None for any
    other content (floats, booleans, mixed objects), which callers convert value by value."""
    dtype = series.dtype
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return pc.cast(pa.array(series, from_pandas=True), pa.string())
    text = isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    )
    if text:
        try:
            arr = pa.array(series, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            return None
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return None


def _missing(value) -> bool:
    """True for None, NaN, NaT and pandas' NA (never for lists, arrays or text)."""
    if value is None:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def _text(value) -> str:
    """``str(value)``, with missing values (None, NaN, NaT) as ``""``."""
    return "" if _missing(value) else str(value)


def to_categorical(parts: list[Coded], *, max_share: float = 0.5) -> pd.Series:
    """Concatenate coded columns into one pandas column.

    The result is a ``Categorical`` with sorted categories (so sorting by it equals sorting
    the text) and no unused category, when the distinct values are at most ``max_share`` of
    the records; otherwise an arrow-backed string column (a categorical of mostly distinct
    values would need more memory than the strings). ``max_share=0`` always gives strings.
    """
    n = sum(len(p) for p in parts)
    if n == 0:
        return pd.Series(pd.Categorical([], categories=pd.Index([], dtype=STR_DTYPE)))
    all_values = np.concatenate([p.values for p in parts]).astype(object)
    used = np.concatenate([np.bincount(p.codes, minlength=len(p.values)) > 0 for p in parts])
    first_codes, uniq = pd.factorize(all_values[used])
    uniq = np.asarray(uniq, dtype=object)
    order = np.argsort(uniq, kind="stable")  # code-point order, as Python sorts str
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    uniq = uniq[order]
    global_code = np.full(len(all_values), -1, dtype=np.int64)
    global_code[used] = rank[first_codes]
    if len(uniq) > max_share * n:
        codes = np.empty(n, dtype=np.int64)
        _fill(codes, parts, global_code)
        return string_series(pa.array(uniq, type=pa.large_string()).take(pa.array(codes)))
    small = np.int8 if len(uniq) < 2**7 else np.int16 if len(uniq) < 2**15 else np.int32
    codes = np.empty(n, dtype=small)
    _fill(codes, parts, global_code.astype(small))
    categories = pd.Index(uniq, dtype=STR_DTYPE)
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories, validate=False))


def _fill(out: np.ndarray, parts: list[Coded], global_code: np.ndarray) -> None:
    start = value_start = 0
    for p in parts:
        table = global_code[value_start : value_start + len(p.values)]
        out[start : start + len(p)] = table[p.codes]
        start += len(p)
        value_start += len(p.values)


def string_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """A pandas string column over a pyarrow string array (no Python objects)."""
    if isinstance(STR_DTYPE, np.dtype):  # pragma: no cover - pandas < 3: object strings
        return pd.Series(arr.to_pylist(), dtype=object)
    return pd.Series(arr, dtype=STR_DTYPE)
