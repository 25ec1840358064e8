"""Announcements of automatic choices (CRS, cell size, bandwidth, method) and warnings.

Every automatic choice geodemand makes is announced with its units through the standard
``logging`` logger ``"geodemand"`` (INFO) and recorded in the result's parameters; data
problems that change a result are warnings (WARNING, shown even when quiet).

Announcements are visible by default, in plain Python, Jupyter and the command line: the
package logger carries a handler that prints ``geodemand: <message>`` to the current
``sys.stderr``. It steps aside as soon as the application configures logging itself (a
handler on the root logger, e.g. ``logging.basicConfig``), so nothing is printed twice.
:func:`quiet` silences announcements (warnings still show); ``quiet(False)`` restores them.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("geodemand")


class _DefaultHandler(logging.Handler):
    """Prints ``geodemand: message`` to the current ``sys.stderr`` unless the application
    configured logging (then its own handlers receive the records)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("geodemand: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers and logger.propagate:
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


_HANDLER = _DefaultHandler()
if not any(isinstance(h, _DefaultHandler) for h in logger.handlers):
    logger.addHandler(_HANDLER)
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)


def quiet(on: bool = True) -> None:
    """Silence announcements of automatic choices (``on=False`` shows them again).

    Warnings are still shown.
    """
    _HANDLER.setLevel(logging.WARNING if on else logging.INFO)


def announce(message: str) -> None:
    """Announce an automatic choice (INFO on the ``geodemand`` logger)."""
    logger.info(message)


def warn(message: str) -> None:
    """Warn about a data problem that changes a result (WARNING; shown even when quiet)."""
    logger.warning(message)
