"""Incident ids: as given (stripped) or made from the file and record number, and the
``duplicate_id`` check across every file, fast at ten million records.

Ids are hashed to 64 bits with numpy straight from the arrow string buffers (police.uk
Crime IDs, 64 hex characters, are read as one 2-D block); only records whose hash repeats
are compared as text, so the duplicate check is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_ASCII_SPACE = np.zeros(256, dtype=bool)


_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


_ASCII_SPACE[128:] = True  # a multi-byte character might be white space: check fully


def _may_have_outer_space(arr: pa.Array) -> bool:
    """False when no string starts or ends with white space (read from the arrow buffers)."""
    if len(arr) == 0:
        return False
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] else None
    nonempty = offsets[1:] > offsets[:-1]
    if data is None or not nonempty.any():
        return False
    first = data[offsets[:-1][nonempty]]
    last = data[offsets[1:][nonempty] - 1]
    return bool(_ASCII_SPACE[first].any() or _ASCII_SPACE[last].any())


def _prefixed(prefix: str, rows: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.scalar(prefix + "#"), pc.cast(rows, pa.string()), ""
    ).cast(pa.string())


def _repeated(h: np.ndarray) -> np.ndarray:
    """True where the value occurs more than once in ``h``."""
    if len(h) < 2:
        return np.zeros(len(h), dtype=bool)
    s = np.sort(h)
    eq = s[1:] == s[:-1]
    if not eq.any():
        return np.zeros(len(h), dtype=bool)
    return np.isin(h, np.unique(s[1:][eq]))


def duplicated_strings(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``pandas.Series.duplicated(keep="first")`` for a pyarrow string array, fast.

    Strings are hashed to 64 bits with numpy (:func:`_hash_strings`); only strings whose
    hash repeats are compared exactly, so the result is exact.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    out = np.zeros(len(arr), dtype=bool)
    maybe = _repeated(hash_strings(arr))
    if maybe.any():
        rows = np.flatnonzero(maybe)
        texts = pd.Series(arr.take(pa.array(rows)).to_pylist(), dtype=object)
        out[rows] = texts.duplicated(keep="first").to_numpy()
    return out


_MIX = np.uint64(0xFF51AFD7ED558CCD)


_SEED = np.uint64(0x9E3779B97F4A7C15)


def _hash_block(block: np.ndarray, length: int) -> np.ndarray:
    """Hash the rows of a (k, length) uint8 block."""
    k = block.shape[0]
    pad = (-length) % 8
    if pad:
        block = np.concatenate([block, np.zeros((k, pad), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(block).view(np.uint64)
    h = np.full(k, _SEED ^ np.uint64(length), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h ^= words[:, j]
            h *= _MIX
            h ^= h >> np.uint64(29)
    return h


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of every string of a pyarrow string array (equal strings, equal hash).

    Strings of one byte length are read straight from the arrow data buffer as a 2-D block
    when every non-empty string has that length (e.g. police.uk Crime IDs); otherwise each
    length is taken out separately.
    """
    if not isinstance(arr, pa.Array) or arr.type != pa.string():
        arr = (
            pa.array(arr, type=pa.string())
            if not isinstance(arr, pa.Array)
            else (arr.cast(pa.string()))
        )
    arr = arr.fill_null("") if arr.null_count else arr
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    out = np.full(len(arr), _SEED, dtype=np.uint64)
    nonzero = np.unique(lengths[lengths > 0])
    if len(nonzero) == 0:
        return out
    if len(nonzero) == 1:
        groups = [(int(nonzero[0]), np.flatnonzero(lengths > 0), arr)]
    else:
        groups = []
        for length in nonzero:
            idx = np.flatnonzero(lengths == length)
            groups.append((int(length), idx, arr.take(pa.array(idx))))
    for length, idx, sub in groups:
        offsets = np.frombuffer(sub.buffers()[1], dtype=np.int32)[
            sub.offset : sub.offset + len(sub) + 1
        ]
        data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        out[idx] = _hash_block(data.reshape(len(idx), length), length)
    return out


@dataclass
class Ids:
    """The ids of one file's records: as given (stripped), or ``<prefix>#<record number>``
    where blank or absent. ``given`` is None when the format has no id; ``blank`` marks
    the records that get a made id; ``hashes`` is the 64-bit hash of every final id.
    The final ids are built only for the records asked for (:meth:`take`)."""

    given: pa.Array | None
    blank: np.ndarray
    prefix: str
    hashes: np.ndarray

    @classmethod
    def of(cls, given: pa.ChunkedArray | pa.Array | None, n: int, prefix: str) -> Ids:
        if given is None:
            made = _prefixed(prefix, pa.array(np.arange(1, n + 1, dtype=np.int64)))
            return cls(None, np.ones(n, dtype=bool), prefix, hash_strings(made))
        ids = given
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
        if ids.null_count or ids.type != pa.string():
            ids = ids.cast(pa.string()).fill_null("")
        if _may_have_outer_space(ids):
            ids = pc.utf8_trim_whitespace(ids)
        h = hash_strings(ids)
        blank = pc.equal(ids, "").to_numpy(zero_copy_only=False)
        if blank.any():
            rows = np.flatnonzero(blank)
            h[rows] = hash_strings(_prefixed(prefix, pa.array(rows + 1)))
        return cls(ids, blank, prefix, h)

    def take(self, rows: np.ndarray) -> pa.Array:
        """The final ids of ``rows`` (record positions, ascending or not) in one copy."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.given is None:
            return _prefixed(self.prefix, pa.array(rows + 1))
        made_here = self.blank[rows]
        if not made_here.any():
            return self.given.take(pa.array(rows))
        made = _prefixed(self.prefix, pa.array(rows[made_here] + 1))
        both = pa.concat_arrays([self.given, made.cast(pa.string())])
        index = np.where(made_here, len(self.given) + np.cumsum(made_here) - 1, rows)
        return both.take(pa.array(index))


def repeated_after_first(
    parts: list[tuple[Ids, np.ndarray]],
) -> list[np.ndarray]:
    """For each ``(ids, rows)`` part, in order: True for each of ``rows`` whose id already
    occurred (in an earlier part, or at an earlier one of these rows). Exact: the texts are
    compared where the hashes repeat."""
    out = [np.zeros(len(rows), dtype=bool) for _, rows in parts]
    if not parts:
        return out
    maybe = _repeated(np.concatenate([ids.hashes[rows] for ids, rows in parts]))
    if not maybe.any():
        return out
    texts, where = [], []
    start = 0
    for k, (ids, rows) in enumerate(parts):
        m = maybe[start : start + len(rows)]
        start += len(rows)
        if m.any():
            pos = np.flatnonzero(m)
            texts.extend(ids.take(rows[pos]).to_pylist())
            where.extend((k, int(p)) for p in pos)
    dup = pd.Series(texts, dtype=object).duplicated(keep="first").to_numpy()
    for (k, p), d in zip(where, dup, strict=True):
        out[k][p] = bool(d)
    return out
