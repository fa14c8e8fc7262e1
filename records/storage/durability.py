"""When written content is durable: at once, or once for a whole batch.

Every blob and key is fsynced (with its folder) before the catalog may refer to it. For
a batch of hundreds of small records that is six fsyncs a record, which dominated ingest
time; inside ``batched()`` the fsyncs are put off, and at the end of the block each file
and folder the batch asked for is fsynced once, before the batch's transaction commits.

Only those: ``os.sync()`` (what this did before) flushes every file of every process on
the machine, and on a machine shared with other busy work a batch waited for their data
too. A batch that wrote more files than ``MAX_DEFERRED`` keeps no descriptors for them
and ends with one ``os.sync()`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEFERRED = 256  # descriptors one batch keeps open for its final fsync, at most


@dataclass
class _Deferred:
    """What a batch asked to fsync: a duplicate descriptor per file, its folders by path."""

    fds: list[int] = field(default_factory=list)
    folders: dict[str, None] = field(default_factory=dict)  # in order, once each
    overflowed: bool = False

    def keep(self, fd: int) -> None:
        if self.overflowed:
            return
        if len(self.fds) >= MAX_DEFERRED:
            self.overflowed = True
            self.close()
            return
        self.fds.append(os.dup(fd))  # survives the writer closing its own descriptor

    def flush(self) -> None:
        if self.overflowed:
            os.sync()
            return
        for fd in self.fds:
            os.fsync(fd)
        for folder in self.folders:
            _fsync_folder(Path(folder))

    def close(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)


_deferred: ContextVar[_Deferred | None] = ContextVar("records_deferred_fsyncs", default=None)


def fsync_fd(fd: int) -> None:
    deferred = _deferred.get()
    if deferred is None:
        os.fsync(fd)
    else:
        deferred.keep(fd)


def fsync_dir(folder: Path) -> None:
    deferred = _deferred.get()
    if deferred is None:
        _fsync_folder(folder)
    else:
        deferred.folders[str(folder)] = None


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def batched() -> Iterator[None]:
    """Defer fsyncs inside the block; on a clean exit, flush what it wrote, once each."""
    if _deferred.get() is not None:
        yield
        return
    deferred = _Deferred()
    token = _deferred.set(deferred)
    try:
        try:
            yield
        finally:
            _deferred.reset(token)
        deferred.flush()
    finally:
        deferred.close()
