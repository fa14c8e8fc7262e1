"""When written content is durable: at once, or once for a whole batch.

Every blob and key is fsynced (with its folder) before the catalog may refer to it. For
a batch of hundreds of small records that is six fsyncs a record, which dominated ingest
time; inside ``batched()`` each sync is put off, and at the end of the block every file
and folder written in it is synced once, before the batch's transaction commits.

The files are synced one by one (``fsync`` of each, opened again), not with
one ``os.sync()``: that flushed every dirty page of the machine, the catalog's own
database file included, and a 1 GB mbox made it wait 690 times. A block that writes more
than ``MAX_DEFERRED`` files still ends with ``os.sync()``, which is cheaper there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEFERRED = 256  # files whose sync a batch puts off, at most (each holds a descriptor)


@dataclass
class _Deferred:
    """The syncs a ``batched()`` block has put off."""

    descriptors: list[int] = field(default_factory=list)  # the files, opened again; closed once synced
    folders: dict[str, None] = field(default_factory=dict)  # in order, once each
    overflowed: bool = False


_deferring: ContextVar[_Deferred | None] = ContextVar("records_defer_fsync", default=None)


def fsync_fd(fd: int) -> None:
    deferred = _deferring.get()
    if deferred is None:
        os.fsync(fd)
    elif len(deferred.descriptors) >= MAX_DEFERRED:
        deferred.overflowed = True
    else:
        again = _reopened(fd)
        if again is None:
            os.fsync(fd)  # no way to hold the file for later: sync it now
        else:
            deferred.descriptors.append(again)


def _reopened(fd: int) -> int | None:
    """A new descriptor of the file behind ``fd``, kept to sync it at the batch's end.

    Not ``os.dup``: a duplicate shares the open file, and with it any ``flock`` the
    caller takes on it (a blob pack's deleters lock the pack), so the lock would outlive
    the caller's ``close`` and the next deleter in this process would wait for ever.
    """
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # not Linux (no /proc), or a file that cannot be opened again


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer), then make them durable."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    fsync_fd(fd)


def fsync_dir(folder: Path) -> None:
    deferred = _deferring.get()
    if deferred is not None:
        deferred.folders[str(folder)] = None
        return
    _fsync_path(str(folder))


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def batched() -> Iterator[None]:
    """Defer fsyncs inside the block; on a clean exit, sync what it wrote, once each.

    Files first, then their folders (a new name is durable once its folder is). On an
    exception nothing is synced: the caller throws what the block wrote away.
    """
    if _deferring.get() is not None:
        yield
        return
    deferred = _Deferred()
    token = _deferring.set(deferred)
    clean = False
    try:
        yield
        clean = True
    finally:
        _deferring.reset(token)
        try:
            if clean:
                _sync(deferred)
        finally:
            for fd in deferred.descriptors:
                os.close(fd)


def _sync(deferred: _Deferred) -> None:
    if deferred.overflowed:
        os.sync()
        return
    for fd in deferred.descriptors:
        os.fsync(fd)
    for folder in deferred.folders:
        try:
            _fsync_path(folder)
        except FileNotFoundError:
            pass  # removed again inside the block: nothing in it is left to make durable
