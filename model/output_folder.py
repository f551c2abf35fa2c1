"""One writer per results folder, and combined outputs that change as one unit.

An experiment's folder ``<out>/<name>/`` is written by one process at a time: :func:`output_lock`
holds an operating-system lock on ``.vmob.lock`` in the folder (released by the kernel when the
process dies, however it dies) and records the holder's pid, host, start time and command in it,
so a second writer stops at once and says who holds the folder. A lock file left by a process
that is gone is taken over with a note.

The combined outputs are written into ``.staging/`` inside the folder; when everything is there,
the staging folder is renamed to ``.committing/`` (the commit point: one atomic rename) and its
files are moved into place, ``manifest.json`` last. :func:`recover` finishes what a killed
writer left: an incomplete ``.staging/`` (and any ``.writing-*`` folder or temporary file) is
removed, a ``.committing/`` is rolled forward. Files of an earlier commit that the new one does
not have (a table no longer asked for) are removed while committing, with a note.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from model.errors import VmobError
from model.outputs import DERIVED_TABLES, TABLES

log = logging.getLogger(__name__)

#: The lock file inside an experiment's folder.
LOCK_FILE = ".vmob.lock"
#: Folder the combined outputs are written into before they are committed.
STAGING = ".staging"
#: The staging folder after its commit point; rolled forward by :func:`recover`.
COMMITTING = ".committing"
#: The file moved into place last; its ``files`` list names every file of the commit.
MANIFEST = "manifest.json"
#: Combined outputs the runner writes (also recognised in folders written before ``files`` lists).
KNOWN_OUTPUTS: frozenset[str] = frozenset(
    [f"{table}.{ext}" for table in TABLES + DERIVED_TABLES for ext in ("csv", "parquet")]
    + ["datapackage.json", "summary.xlsx", "link_volumes.parquet", "network_links.parquet", "runs.csv",
       MANIFEST]
)
#: Byte offset locked on Windows (beyond the record, so the record stays readable).
_WINDOWS_LOCK_OFFSET = 1 << 20

Note = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def process_started(pid: int) -> float | None:
    """Start time (seconds since the epoch) of a running process, ``None`` if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:  # exists, but we may not look at it
        return float("nan")


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host."""
    return process_started(pid) is not None


# --------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------


def lock_record() -> dict[str, Any]:
    """What the lock file says about this process."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "process_started": process_started(os.getpid()),
        "command": " ".join(sys.argv),
    }


def read_lock_record(path: Path) -> dict[str, Any] | None:
    """The record in a lock file, or ``None`` if it is empty or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def describe_holder(record: dict[str, Any] | None) -> str:
    """``pid 123 on host x since 2026-…`` (or what is known of it)."""
    if not record:
        return "another process (it has not written its details yet)"
    return f"pid {record.get('pid', '?')} on host {record.get('host', '?')} since {record.get('started', '?')}"


def _try_lock(handle: IO[str]) -> bool:
    """Take the operating system's exclusive lock on an open file without waiting."""
    if sys.platform == "win32":
        import msvcrt

        handle.seek(_WINDOWS_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def output_lock(folder: Path, note: Note) -> Iterator[dict[str, Any]]:
    """Hold the folder's lock while the block runs; yield this process's lock record.

    Raises
    ------
    VmobError
        When another process holds the folder (naming it and the holder's pid, host and start
        time), or the lock file cannot be created.
    """
    path = folder / LOCK_FILE
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run, closed in the finally below
    except OSError as err:
        raise VmobError(f"Cannot lock the results folder {folder} ({err.strerror or err})") from None
    try:
        try:
            locked = _try_lock(handle)
        except OSError as err:  # a file system without locks
            raise VmobError(f"Cannot lock the results folder {folder} ({err.strerror or err})") from None
        if not locked:
            raise VmobError(
                f"Results folder {folder} is in use by {describe_holder(read_lock_record(path))}; "
                "wait for that run to finish or use another --out or experiment name"
            )
        previous = read_lock_record(path)
        if previous:
            note(f"took over the lock of {describe_holder(previous)} in {folder}: that process is gone")
        record = lock_record()
        _write_record(handle, record)
        try:
            yield record
        finally:
            _write_record(handle, None)
    finally:
        handle.close()  # closing releases the lock


def _write_record(handle: IO[str], record: dict[str, Any] | None) -> None:
    """Replace the lock file's content with ``record`` (empty for none) and flush it to disk."""
    handle.seek(0)
    handle.truncate()
    if record is not None:
        handle.write(json.dumps(record))
    handle.flush()
    os.fsync(handle.fileno())


# --------------------------------------------------------------------------------------------
# Committing the combined outputs
# --------------------------------------------------------------------------------------------


def new_staging(folder: Path) -> Path:
    """An empty staging folder for the next commit (whatever was staged before is discarded)."""
    staging = folder / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def commit(folder: Path, note: Note) -> list[str]:
    """Make the staged files the folder's current outputs; return their names.

    The staging folder must hold a ``manifest.json``; its ``files`` list is written here.
    """
    staging = folder / STAGING
    files = sorted(p.name for p in staging.iterdir() if p.is_file())
    if MANIFEST not in files:
        raise VmobError(f"Nothing to commit in {staging}: no {MANIFEST}")
    manifest_path = staging / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"] = files
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _fsync_folder(staging)
    os.replace(staging, folder / COMMITTING)  # the commit point
    _fsync_folder(folder)
    roll_forward(folder, note)
    return files


def roll_forward(folder: Path, note: Note) -> None:
    """Move a committed folder's files into place (``manifest.json`` last) and remove stale outputs.

    Safe to repeat after a crash at any point: files already moved are no longer in
    ``.committing/``, and the manifest in place stays the old one until the last move.
    """
    committing = folder / COMMITTING
    if not (committing / MANIFEST).exists():  # interrupted after the last move
        shutil.rmtree(committing)
        return
    new_files = current_files(committing / MANIFEST) or set()
    stale = sorted(((current_files(folder / MANIFEST) or set()) | KNOWN_OUTPUTS) - new_files)
    stale = [name for name in stale if (folder / name).is_file()]
    for name in stale:
        (folder / name).unlink()
    if stale:
        note(f"removed {len(stale)} file(s) of an earlier run that this run does not write: {', '.join(stale)}")
    moving = sorted((p for p in committing.iterdir() if p.is_file() and p.name != MANIFEST), key=lambda p: p.name == "datapackage.json")
    for path in moving:
        os.replace(path, folder / path.name)
    os.replace(committing / MANIFEST, folder / MANIFEST)
    shutil.rmtree(committing)
    _fsync_folder(folder)


def current_files(manifest_path: Path) -> set[str] | None:
    """The ``files`` a manifest lists (``None`` for a missing or unreadable one, or one without a list)."""
    try:
        files = json.loads(manifest_path.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    return {str(f) for f in files if isinstance(f, str) and "/" not in f and "\\" not in f} if isinstance(files, list) else None


def recover(folder: Path, note: Note) -> None:
    """Finish or undo what a killed writer left in ``folder`` (call it holding the lock).

    A committed ``.committing/`` is rolled forward; an uncommitted ``.staging/``, ``.writing-*``
    folders and ``.*.tmp`` files of interrupted atomic writes are removed.
    """
    if (folder / COMMITTING).is_dir():
        note(f"finishing the combined outputs an interrupted run committed in {folder}")
        roll_forward(folder, note)
    leftovers = [folder / STAGING, *folder.glob(".writing-*"), *folder.glob(".*.tmp")]
    leftovers = [p for p in leftovers if p.exists()]
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    if leftovers:
        note(f"removed what an interrupted run left half-written in {folder}: {', '.join(p.name for p in leftovers)}")


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (renames) to disk where the platform allows it."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
