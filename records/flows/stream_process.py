"""A large stream read in a process of its own, while this one stores what it has read.

An mbox's ingest is two kinds of work: parsing messages and cutting them into items
(intake), then encrypting, storing and cataloguing them (storage). In one process they
take turns on one core; the machine has two. Here the reader runs in a spawned child
that sends its items back in small batches, and a thread of this process receives them
into a bounded buffer, so the child keeps parsing while this process stores the chunk
before. The items, their order, the problems and where reading stopped are exactly what
reading in this process gives (``read``): only where the work runs changes.

Only readers whose items carry their bytes (``items_hold_bytes``; an mbox) are read so:
a reader whose items name temporary files would reuse them before this process stored
them. Small files stay in this process: a child's start-up (about a second of imports)
costs more than it saves below ``MIN_BYTES``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from records.intake.model import Item, Quarantine, ReadOptions
from records.intake.pipeline import FileExtraction, Plan, read
from records.intake.registry import Sniff, readers

MIN_BYTES = int(os.environ.get("RECORDS_STREAM_PROCESS_MIN_BYTES", str(16 * 1024**2)))
BATCH_ITEMS = 32  # items sent together (fewer, larger pickles)
BATCH_BYTES = 2 * 1024**2  # ... or about this many bytes of them
AHEAD_BYTES = 16 * 1024**2  # received and not yet taken, at most (one batch always fits)


class StreamStopped(Exception):
    """The child's reader failed mid-stream with an exception other than ``Quarantine``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # the original exception's class name, as the report names it


def wanted(planned: Plan) -> bool:
    """Whether this stream is worth a process of its own."""
    return bool(getattr(planned.reader, "items_hold_bytes", False)) and planned.sniff.size >= MIN_BYTES and (os.cpu_count() or 1) > 1


def read_stream(planned: Plan, options: ReadOptions, *, timezone: str) -> FileExtraction:
    """``read`` for a streaming plan: in a child process when ``wanted``, else here."""
    if not wanted(planned):
        return read(planned, options, timezone=timezone)
    context = multiprocessing.get_context("spawn")  # not fork: Prefect's threads hold locks
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(
        target=_serve, args=(theirs, planned.sniff, planned.reader.name, replace(options, ocr_workers=1), timezone), daemon=True, name="records-stream"
    )
    child.start()
    theirs.close()
    try:
        head = ours.recv()
    except (EOFError, OSError):  # the child could not start or died at once: read here instead
        _stop(child, ours)
        return read(planned, options, timezone=timezone)
    result: FileExtraction = head[1]
    if result.extraction is None:
        _stop(child, ours)
        return result
    result.extraction.items = _received(child, ours, result.extraction.problems)
    return result


def _item_bytes(item: Item) -> int:
    size = len(item.content) if isinstance(item.content, bytes) else 0
    return size + len(item.text) + sum(_item_bytes(child) for child in item.children)


def _serve(conn: Connection, sniff: Sniff, reader_name: str, options: ReadOptions, timezone: str) -> None:
    """The child: read the file and send ("head", ...), then ("items", [...], problems), then the end."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    reader = next(r for r in readers() if r.name == reader_name)
    result = read(Plan(sniff, reader), options, timezone=timezone)
    if result.extraction is None:
        conn.send(("head", result))
        conn.close()
        return
    items, problems = iter(result.extraction.items), result.extraction.problems
    head = replace(result.extraction, items=[], problems=list(problems))
    conn.send(("head", FileExtraction(result.sniff, head, None)))
    sent = len(problems)
    batch: list[Item] = []
    held = 0
    try:
        while True:
            try:
                item = next(items, None)
            except Quarantine as stop:
                end: tuple[Any, ...] = ("quarantine", stop.kind, stop.reason)
                break
            except (Exception, MemoryError, RecursionError) as exc:  # noqa: BLE001 - reported as reading in-process would
                end = ("failed", type(exc).__name__)
                break
            if item is None:
                end = ("end",)
                break
            batch.append(item)
            held += _item_bytes(item)
            if len(batch) >= BATCH_ITEMS or held >= BATCH_BYTES:
                conn.send(("items", batch, problems[sent:]))
                sent = len(problems)
                batch, held = [], 0
        conn.send(("items", batch, problems[sent:]))
        conn.send(end)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the ingesting process stopped reading (it failed, or was killed): nothing to do
    finally:
        conn.close()


class _Buffer:
    """Batches received from the child, bounded by bytes (one batch always fits)."""

    def __init__(self) -> None:
        self.batches: deque[tuple[Any, ...]] = deque()
        self.bytes = 0
        self.closed = False
        self.lock = threading.Condition()

    def put(self, message: tuple[Any, ...], size: int) -> bool:
        with self.lock:
            while self.batches and self.bytes + size > AHEAD_BYTES and not self.closed:
                self.lock.wait()
            if self.closed:
                return False
            self.batches.append((message, size))
            self.bytes += size
            self.lock.notify_all()
            return True

    def get(self) -> tuple[Any, ...]:
        with self.lock:
            while not self.batches:
                self.lock.wait()
            message, size = self.batches.popleft()
            self.bytes -= size
            self.lock.notify_all()
            return message  # type: ignore[no-any-return]

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.batches.clear()
            self.lock.notify_all()


def _receive(conn: Connection, buffer: _Buffer) -> None:
    """The receiving thread: the pipe into the buffer, until the end or an error."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            buffer.put(("died",), 0)
            return
        size = sum(_item_bytes(item) for item in message[1]) if message[0] == "items" else 0
        if not buffer.put(message, size) or message[0] != "items":
            return


def _received(child: Any, conn: Connection, problems: list[str]) -> Iterator[Item]:
    """The child's items in order; its problems join ``problems`` as they come."""
    buffer = _Buffer()
    thread = threading.Thread(target=_receive, args=(conn, buffer), name="records-stream-receive", daemon=True)
    thread.start()
    finished = False
    try:
        while True:
            message = buffer.get()
            if message[0] == "items":
                problems.extend(message[2])
                batch = message[1]
                message = None
                while batch:
                    yield batch.pop(0)
                continue
            finished = True
            if message[0] == "quarantine":
                raise Quarantine(message[1], message[2])
            if message[0] == "failed":
                raise StreamStopped(message[1])
            if message[0] == "died":
                raise StreamStopped("the reading process died")
            return
    finally:
        buffer.close()
        _stop(child, conn, finished)
        thread.join(timeout=10)


def _stop(child: Any, conn: Connection, finished: bool = True) -> None:
    """End the child (done, or no longer wanted) and wait for it, so its CPU time is counted."""
    if finished:
        child.join(timeout=5)
    if child.is_alive():
        child.kill()  # stopped early (this process failed): the child would wait on a full pipe
        child.join()
    conn.close()
