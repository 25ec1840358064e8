"""One exception family for every user-facing error.

Messages name the file, row or field, what was found and what was expected, so the
command-line interface can print them on one line without a traceback.
"""

from __future__ import annotations


class GeodemandError(Exception):
    """Base class of every error geodemand raises on purpose."""


class InputFormatError(GeodemandError):
    """A file is malformed: wrong columns, binary junk, empty, or unreadable."""


class InvalidParameterError(GeodemandError, ValueError):
    """A function argument or option has a value geodemand cannot use."""


class BoundaryError(GeodemandError):
    """A boundary layer is unusable (no polygons, missing name field, ...)."""


class GridTooLargeError(GeodemandError, MemoryError):
    """A raster grid would need more memory than allowed."""


class InternalConsistencyError(GeodemandError, AssertionError):
    """An invariant that must always hold failed (a bug: please report it)."""
