"""When written content is durable: at once, or once for a whole batch.

Every blob and key is fsynced (with its folder) before the catalog may refer to it. For
a batch of hundreds of small records that is six fsyncs a record, which dominated ingest
time; inside ``batched()`` the fsyncs are skipped and one ``os.sync()`` at the end makes
everything durable before the batch's transaction commits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_deferring: ContextVar[bool] = ContextVar("records_defer_fsync", default=False)


def fsync_fd(fd: int) -> None:
    if not _deferring.get():
        os.fsync(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer), then make them durable."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    fsync_fd(fd)


def fsync_dir(folder: Path) -> None:
    if _deferring.get():
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def batched() -> Iterator[None]:
    """Defer fsyncs inside the block; on a clean exit, flush everything once."""
    if _deferring.get():
        yield
        return
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)
    os.sync()
