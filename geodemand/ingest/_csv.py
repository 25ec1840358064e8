"""Reading one delimited text file into coded columns, every record accounted for.

The delimiter is found with :class:`csv.Sniffer` and the header read with :func:`csv.reader`
(the standard library's CSV grammar, so a quoted header name may hold the delimiter). The
records are then parsed by pyarrow's multi-threaded CSV reader straight into
dictionary-encoded columns (fast path). If that parser refuses the file (a record with too
many or too few fields, broken quoting), the file is read again record by record with
:func:`csv.reader` (slow path): records with the wrong number of fields are kept and marked
``malformed_record`` rather than dropped, and a quote that is never closed (which would
swallow the rest of the file into one field) is an :class:`~geodemand.errors.InputFormatError`
naming the line where it opens.

A blank line is a record with every field empty (rejected later as ``empty_record``), as is
a line holding only white space; record numbers count every record after the header.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from geodemand._announce import announce
from geodemand.errors import InputFormatError
from geodemand.ingest._coded import Coded
from geodemand.ingest.batch import NotIncidentDataError

#: delimiters tried by the sniffer, in order of preference when it cannot decide
DELIMITERS = ",;\t|"
_DICT = pa.dictionary(pa.int32(), pa.string())
_HEAD_BYTES = 65_536
_SNIFF_LINES = 20
#: longest field the slow path accepts (the csv module's default limit): longer means a
#: quote that was never closed
MAX_FIELD_CHARS = 131_072


class NotDelimitedTextError(NotIncidentDataError):
    """The bytes are not delimited text (binary, empty, or not decodable)."""


@dataclass
class CsvTable:
    """The records of one delimited file.

    Attributes
    ----------
    names : list of str
        Column names, stripped of surrounding space and made unique (a repeated name gets
        `` (2)``, `` (3)``, ... in file order).
    duplicated : set of str
        Names that occur more than once in the header after stripping.
    columns : dict
        Name -> :class:`Coded` text, or a pyarrow string array for ``string_columns``.
    n : int
        Number of records (data rows, blank lines included).
    malformed : dict
        Record index (0-based) -> (detail, fields) for records whose field count differs
        from the header's (slow path only).
    delimiter : str
        The delimiter used.
    """

    names: list[str]
    duplicated: set[str]
    columns: dict[str, Coded | pa.ChunkedArray]
    n: int
    malformed: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    delimiter: str = ","


# ---------------------------------------------------------------------------- text
#: file content: bytes, or a memoryview of a reused buffer (see ``readers.read_bytes``)
Data = bytes | memoryview


def _all_space(data: Data) -> bool:
    if not len(data):
        return True
    if not bytes(data[:_HEAD_BYTES]).isspace():
        return False
    return bytes(data).isspace()


def check_text_bytes(label: str, data: Data) -> None:
    """Refuse empty and binary content with a clear error."""
    if _all_space(data):
        raise NotDelimitedTextError(f"{label}: file is empty; expected a header row and records")
    if b"\x00" in bytes(data[:_HEAD_BYTES]):
        raise NotDelimitedTextError(
            f"{label}: contains binary data (NUL bytes); expected a text CSV or JSON file"
        )


def decode_text(label: str, data: Data) -> tuple[str, str]:
    """The whole text and its encoding (UTF-8, with or without BOM, else Windows-1252)."""
    data = bytes(data)
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise NotDelimitedTextError(
            f"{label}: not UTF-8 or Windows-1252 text; expected a CSV or JSON text file"
        ) from None
    return text, "cp1252"


def head_text(data: Data) -> str:
    """The first part of the file as text (for format detection only)."""
    head = bytes(data[:_HEAD_BYTES])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut at the end of the sample
            return head[: exc.start].decode("utf-8", errors="replace")
        return head.decode("cp1252", errors="replace")


def sniff_delimiter(head: str) -> str:
    """The field delimiter, by :class:`csv.Sniffer` over the first lines (else ``,``).

    The sniffer looks at the first :data:`_SNIFF_LINES` lines, then at the header line alone
    (data values may hold the delimiter of another dialect, e.g. ``;`` in police.uk outcome
    texts); it only chooses among :data:`DELIMITERS`.
    """
    lines = head.splitlines()
    for sample in ("\n".join(lines[:_SNIFF_LINES]), lines[0] if lines else ""):
        if not sample.strip():
            continue
        try:
            return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
        except csv.Error:
            continue
    return ","


def header_fields(head: str, delimiter: str) -> list[str]:
    """The first record of ``head`` as fields, by :func:`csv.reader` (unstripped)."""
    reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter, strict=False)
    try:
        return next(reader, [])
    except csv.Error:
        return []


def clean_names(fields: list[str]) -> tuple[list[str], set[str]]:
    """Strip names and make them unique; also return the names that were repeated."""
    names, seen, duplicated = [], {}, set()
    for f in fields:
        base = f.strip()
        k = seen.get(base, 0) + 1
        seen[base] = k
        if k > 1:
            duplicated.add(base)
            name = f"{base} ({k})"
            while name in seen:
                k += 1
                name = f"{base} ({k})"
            seen[name] = 1
        else:
            name = base
        names.append(name)
    return names, duplicated


# ---------------------------------------------------------------------------- reading
def read_delimited(
    label: str,
    data: Data,
    *,
    delimiter: str,
    header: bool = True,
    names: list[str] | None = None,
    string_columns: frozenset[str] = frozenset(),
) -> CsvTable:
    """Parse every record of a delimited file (see the module docstring).

    Parameters
    ----------
    label : str
        The file's name for messages.
    data : bytes or memoryview
        The file's content (decompressed).
    delimiter : str
        Field delimiter.
    header : bool
        The first record holds the column names; otherwise ``names`` gives them.
    string_columns : frozenset of str
        Columns (cleaned names) kept as plain pyarrow strings (e.g. incident ids, nearly all
        distinct); the others become :class:`Coded`.
    """
    check_text_bytes(label, data)
    if header:
        fields = header_fields(head_text(data), delimiter)
        if not any(f.strip() for f in fields):
            raise NotDelimitedTextError(f"{label}: the first line holds no column names")
    else:
        fields = list(names or [])
    clean, duplicated = clean_names(fields)
    try:
        table = _fast(data, delimiter, header, fields, clean, string_columns)
    except _Utf8Error:
        text, _ = decode_text(label, data)
        announce(f"{label}: not valid UTF-8, decoded as Windows-1252")
        data = text.encode("utf-8")
        try:
            table = _fast(data, delimiter, header, fields, clean, string_columns)
        except _FastPathRefusedError:
            table = None
    except _FastPathRefusedError:
        table = None
    if table is not None:
        return CsvTable(clean, duplicated, table[0], table[1], delimiter=delimiter)
    text, _ = decode_text(label, data)
    return _slow(label, text, delimiter, header, clean, duplicated, string_columns)


class _FastPathRefusedError(Exception):
    pass


class _Utf8Error(Exception):
    pass


def _fast(data, delimiter, header, fields, clean, string_columns):
    """pyarrow's CSV reader into coded columns; raises _FastPathRefusedError on parse errors."""
    raw_of = dict(zip(clean, fields, strict=True))
    types = {}
    for name, raw in raw_of.items():
        types[raw] = pa.string() if name in string_columns else _DICT
    read = pacsv.ReadOptions(
        use_threads=True,
        column_names=None if header else list(clean),
    )
    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=True,
        ignore_empty_lines=False,
    )
    convert = pacsv.ConvertOptions(
        column_types=types if header else {c: types[raw_of[c]] for c in clean},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    try:
        table = pacsv.read_csv(pa.py_buffer(data), read, parse, convert)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise _Utf8Error from None
        raise _FastPathRefusedError from None
    except (pa.ArrowException, OverflowError, MemoryError):
        raise _FastPathRefusedError from None
    if table.num_columns != len(clean) or _may_end_in_quotes(data, table):
        raise _FastPathRefusedError
    columns = {}
    for i, name in enumerate(clean):
        col = table.column(i)
        if name in string_columns:
            columns[name] = col if col.type == pa.string() else pc.cast(col, pa.string())
        else:
            columns[name] = Coded.from_arrow(col)
    return columns, table.num_rows


def _may_end_in_quotes(data: Data, table: pa.Table) -> bool:
    """True when the last record might end inside an unclosed quote, which pyarrow accepts
    silently when it is the last field: then its value holds a line break, or the file's
    last line (without a final line break) holds a quote. The slow path decides."""
    tail = bytes(data[-_HEAD_BYTES:])
    if tail[-1:] not in (b"\n", b"\r"):
        cut = tail.rfind(b"\n")
        last_line = tail[cut + 1 :] if cut >= 0 else bytes(data)
        if b'"' in last_line:
            return True
    if table.num_rows == 0 or table.num_columns == 0:
        return False
    last = table.column(table.num_columns - 1)[table.num_rows - 1].as_py()
    return isinstance(last, str) and ("\n" in last or "\r" in last)


def _slow(label, text, delimiter, header, clean, duplicated, string_columns) -> CsvTable:
    """Record by record with :func:`csv.reader`; wrong field counts become malformed."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False
    )
    width = len(clean)
    rows: list[list[str]] = []
    malformed: dict[int, tuple[str, list[str]]] = {}
    start = last_start = 1
    first = True
    try:
        for rec in reader:
            last_start = start
            start = reader.line_num + 1
            if first and header:
                first = False
                continue
            first = False
            if len(rec) == width:
                rows.append(rec)
            elif not any(f.strip() for f in rec):  # a blank line, or white space only
                rows.append([""] * width)
            else:
                malformed[len(rows)] = (
                    f"line {last_start}: {len(rec)} field(s), expected {width} as in the header",
                    rec,
                )
                rows.append([""] * width)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InputFormatError(
                f"{label}: line {start}: a field is longer than {MAX_FIELD_CHARS:,} characters, "
                "most likely a quote that is never closed; fix the quoting"
            ) from None
        raise InputFormatError(f"{label}: line {start}: {exc}; expected CSV text") from None
    _check_closed(label, text, delimiter, last_start)
    columns: dict[str, Coded | pa.ChunkedArray] = {}
    for j, name in enumerate(clean):
        values = [r[j] for r in rows]
        if name in string_columns:
            columns[name] = pa.chunked_array([pa.array(values, type=pa.string())])
        else:
            columns[name] = Coded.from_strings(values)
    return CsvTable(clean, duplicated, columns, len(rows), malformed, delimiter)


def _check_closed(label: str, text: str, delimiter: str, last_start: int) -> None:
    """Raise if the text ends inside a quoted field (a quote opened and never closed).

    The csv module, when not strict, ends the last record silently at the end of the text
    even inside quotes (swallowing every later line into one field); the last record is
    parsed again strictly to tell.
    """
    lines = io.StringIO(text, newline="").readlines()
    tail = "".join(lines[last_start - 1 :])
    strict = csv.reader(
        io.StringIO(tail, newline=""), delimiter=delimiter, quotechar='"', strict=True
    )
    try:
        for _ in strict:
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputFormatError(
                f"{label}: line {last_start}: a quoted field opens here and is never closed, "
                "so the rest of the file would be one field; fix the quoting"
            ) from None


# ---------------------------------------------------------------------------- batch parts
def table_blank(table: CsvTable) -> np.ndarray:
    """True for the records whose every field is empty (malformed records excluded)."""
    blank = np.ones(table.n, dtype=bool)
    for col in table.columns.values():
        if isinstance(col, Coded):
            blank &= col.blank()
        else:
            blank &= _arrow_blank(col)
        if not blank.any():
            break
    if table.malformed:
        blank[list(table.malformed)] = False
    return blank


def _arrow_blank(col: pa.ChunkedArray) -> np.ndarray:
    trimmed = pc.utf8_trim_whitespace(col.fill_null(""))
    return pc.equal(trimmed, "").to_numpy(zero_copy_only=False).astype(bool)


def table_record(table: CsvTable) -> Callable[[np.ndarray], list[str]]:
    """``record(rows)``: the records as JSON objects (column name -> text, as read); a
    malformed record as the JSON list of its fields."""

    def record(rows: np.ndarray) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return []
        out = np.full(len(rows), "{", dtype=object)
        for k, name in enumerate(table.names):
            col = table.columns[name]
            head = ("" if k == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
            if isinstance(col, Coded):
                used, inverse = np.unique(col.codes[rows], return_inverse=True)
                escaped = np.array(
                    [json.dumps(col.values[i], ensure_ascii=False) for i in used], dtype=object
                )
                values = escaped[inverse]
            else:
                taken = col.take(pa.array(rows)).to_pylist()
                values = np.array([json.dumps(v, ensure_ascii=False) for v in taken], dtype=object)
            out = out + head + values
        out = out + "}"
        for k, r in enumerate(rows):
            if int(r) in table.malformed:
                out[k] = json.dumps(table.malformed[int(r)][1], ensure_ascii=False)
        return out.tolist()

    return record


def table_malformed(table: CsvTable) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per record ``"malformed_record"`` or ``""``, and the detail; (None, None) if none."""
    if not table.malformed:
        return None, None
    problem = np.full(table.n, "", dtype=object)
    detail = np.full(table.n, "", dtype=object)
    rows = np.fromiter(table.malformed, dtype=np.int64)
    problem[rows] = "malformed_record"
    detail[rows] = [table.malformed[int(r)][0] for r in rows]
    return problem, detail
