"""Announcements of automatic choices (CRS, cell size, bandwidth, method).

Every automatic choice geodemand makes is announced with its units through the standard
``logging`` logger ``"geodemand"`` at INFO level, and also recorded in the result's
parameters. The command-line interface shows these messages unless ``--quiet`` is given.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("geodemand")


def announce(message: str) -> None:
    """Announce an automatic choice (logged at INFO on the ``geodemand`` logger)."""
    logger.info(message)
