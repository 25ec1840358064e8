"""Crash-safe publication of an output bundle folder.

A run writes its bundle into a staging folder ``<root>/.bundles/<name>.<run id>.partial``.
When complete it is renamed to ``<root>/.bundles/<name>.<run id>`` (atomic), and the
published path ``<root>/<name>`` — a symbolic link — is switched to it by renaming a new link
over the old one (atomic on POSIX). So at every instant ``<root>/<name>`` is either the
previous complete bundle or the new complete bundle, whatever kills the process and when.

Publication and clean-up hold an exclusive lock on ``<root>/.lock`` (``fcntl.flock``, released
by the operating system if the process dies), so concurrent runs cannot remove each other's
bundles. Clean-up removes staging folders of dead runs and bundle versions no link points to.
On systems without symbolic links (Windows without the privilege) the bundle folder is swapped
in with two renames under the same lock, and a next run restores a bundle a crash left
half-swapped.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

BUNDLES = ".bundles"
_PARTIAL = re.compile(r"^(?P<name>.+)\.(?P<pid>\d+)-(?P<stamp>\d+)-[0-9a-f]{8}\.partial$")
_VERSION = re.compile(r"^(?P<name>.+)\.(?P<pid>\d+)-(?P<stamp>\d+)-[0-9a-f]{8}$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old-\d+$")


def new_staging(root: Path, name: str) -> Path:
    """A fresh, empty staging folder for the bundle ``name`` under ``root``."""
    store = root / BUNDLES
    store.mkdir(parents=True, exist_ok=True)
    run_id = f"{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    staging = store / f"{name}.{run_id}.partial"
    staging.mkdir()
    return staging


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(staging: Path, root: Path, name: str) -> Path:
    """Make the complete ``staging`` folder the bundle ``root/name``; return ``root/name``."""
    final = root / name
    version = staging.with_name(staging.name.removesuffix(".partial"))
    with _lock(root):
        os.replace(staging, version)
        if _symlinks_work(root):
            link_tmp = root / f".{name}.link-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.symlink(os.path.relpath(version, root), link_tmp, target_is_directory=True)
            if final.exists() and not final.is_symlink():  # a folder from an older geodemand
                shutil.rmtree(final)
            os.replace(link_tmp, final)
        else:  # pragma: no cover - exercised on Windows only
            old = root / f".{name}.old-{os.getpid()}"
            if final.exists():
                os.replace(final, old)
            shutil.copytree(version, final)
            shutil.rmtree(old, ignore_errors=True)
        _clean(root)
    return final


def recover(root: Path) -> int:
    """Remove what dead runs left behind (under the lock); safe to call at any time.

    Returns the number of staging folders of dead runs removed.
    """
    if root.is_dir():
        with _lock(root):
            return _clean(root)
    return 0


def _symlinks_work(root: Path) -> bool:
    probe = root / f".symlink-probe-{os.getpid()}"
    try:
        os.symlink(".", probe, target_is_directory=True)
    except (OSError, NotImplementedError):
        return False
    probe.unlink()
    return True


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean(root: Path) -> int:
    """Delete staging folders of dead runs, unreferenced versions and stray links (locked);
    return the number of staging folders removed."""
    store = root / BUNDLES
    if not store.is_dir():
        return 0
    removed = 0
    referenced = set()
    for entry in root.iterdir():
        if entry.is_symlink():
            target = Path(os.readlink(entry))
            if not target.is_absolute():
                target = (root / target)
            if entry.name.startswith(".") and ".link-" in entry.name:
                pid = int(entry.name.rsplit(".link-", 1)[1].split("-")[0])
                if not _alive(pid):
                    entry.unlink()
                    continue
            referenced.add(target.resolve())
        elif m := _OLD.match(entry.name):  # a half-swapped bundle (no-symlink systems)
            final = root / m.group("name")
            if not final.exists():
                os.replace(entry, final)
            else:
                shutil.rmtree(entry, ignore_errors=True)
    for entry in store.iterdir():
        if m := _PARTIAL.match(entry.name):
            if not _alive(int(m.group("pid"))):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        elif _VERSION.match(entry.name) and entry.resolve() not in referenced:
            shutil.rmtree(entry, ignore_errors=True)
    return removed
