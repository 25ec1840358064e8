"""Safe, unique file names for things named by the data (LPUs).

Every LPU gets its own file stem, safe on every operating system: ASCII letters, digits and
hyphens only (accents folded, everything else a hyphen), at most :data:`MAX_STEM` characters
(longer names are cut and given a short hash of the full name), never a Windows device name
(``con``, ``nul``, ``com1``...), never the name of another file of the bundle (``force``,
``summary``, ...), and never the stem of another LPU (``A/B`` and ``a b`` both slug to
``a-b``: the second in sorted order becomes ``a-b-2``). The same names always give the same
stems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

#: Longest stem, characters (file systems allow 255 bytes; leave room for prefixes/suffixes).
MAX_STEM = 60
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                    *(f"lpt{i}" for i in range(10))}
#: Stems the bundle uses for its own files.
RESERVED = {"force", "summary", "manifest", "targets", "rejects", "patrol_areas", "patrol-areas",
            "density", "hotspots", "gistar", "knox", "equity", "reviews", "register", "index",
            "partnership", "emerging", "incidents", "risk"}


def slug(name: str) -> str:
    """The bare slug of ``name`` (may collide or be reserved; see :func:`file_stems`)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(text) > MAX_STEM:
        digest = hashlib.sha1(str(name).encode("utf-8")).hexdigest()[:8]
        text = text[: MAX_STEM - 9].rstrip("-") + "-" + digest
    return text or "lpu"


def file_stems(names: Iterable[str]) -> dict[str, str]:
    """``{name: stem}``: a safe, unique file stem for every distinct name."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted({str(n) for n in names}):
        stem = slug(name)
        if stem in _WINDOWS_DEVICES or stem in RESERVED:
            stem = f"{stem}-lpu"
        candidate, k = stem, 2
        while candidate in taken:
            candidate = f"{stem}-{k}"
            k += 1
        taken.add(candidate)
        out[name] = candidate
    return out
