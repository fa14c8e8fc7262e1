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

Parsing an mbox costs more than storing it, so where there are cores to spare one
reading child would leave this process waiting. There, a reader that ``reads_in_parts``
is read by ``reading_processes()`` children at once (two from three cores up; one on two
cores, where a second would compete with storing for a core), each parsing every n-th
message (``pipeline.read_part``); this process takes their messages' outcomes in turn,
message 1 from the first child, message 2 from the second, and so on, and the reader's
own ``assemble`` makes of them what reading in one process gives
(``pipeline.assemble_parts``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from records.intake.model import Item, PartOutcome, Quarantine, ReadOptions
from records.intake.pipeline import FileExtraction, Plan, assemble_parts, read, read_part
from records.intake.registry import Sniff, readers

MIN_BYTES = int(os.environ.get("RECORDS_STREAM_PROCESS_MIN_BYTES", str(16 * 1024**2)))
BATCH_ITEMS = 32  # items sent together (fewer, larger pickles)
BATCH_BYTES = 2 * 1024**2  # ... or about this many bytes of them
AHEAD_BYTES = 16 * 1024**2  # received and not yet taken, at most (one batch always fits)
PIPE_BYTES = 1024**2  # a reading child's pipe (the unprivileged maximum on Linux)


class StreamStopped(Exception):
    """The child's reader failed mid-stream with an exception other than ``Quarantine``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # the original exception's class name, as the report names it

    @property
    def original(self) -> str:
        """The name a report gives the error (``pipeline._failure`` asks for it)."""
        return self.kind


def reading_processes() -> int:
    """How many children parse a file that ``reads_in_parts``: one core is this process's.

    One on a two-core machine. Storing is now cheaper than parsing (about 3.3 s against
    4.3 s of CPU for a 64 MB mbox), so a second reader there only takes the core that
    storing needs: three busy processes on two cores stored a 64 MB mbox in 5.8-6.1 s,
    against 4.5-4.6 s with one reader (``bench/exports.py``). With more cores, two
    readers parse faster than storing can keep up with; a third would wait.
    ``RECORDS_STREAM_READERS`` sets the number.
    """
    configured = os.environ.get("RECORDS_STREAM_READERS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return min(int(configured), 8)
    return max(1, min(2, (os.cpu_count() or 1) - 1))


def wanted(planned: Plan) -> bool:
    """Whether this stream is worth a process of its own."""
    return bool(getattr(planned.reader, "items_hold_bytes", False)) and planned.sniff.size >= MIN_BYTES and (os.cpu_count() or 1) > 1


def read_stream(planned: Plan, options: ReadOptions, *, timezone: str) -> FileExtraction:
    """``read`` for a streaming plan: in a child process when ``wanted``, else here."""
    if not wanted(planned):
        return read(planned, options, timezone=timezone)
    parts = reading_processes() if getattr(planned.reader, "reads_in_parts", False) else 1
    if parts > 1:
        return _read_in_parts(planned, options, timezone, parts)
    context = multiprocessing.get_context("spawn")  # not fork: Prefect's threads hold locks
    ours, theirs = _pipe(context)
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


def _read_in_parts(planned: Plan, options: ReadOptions, timezone: str, parts: int) -> FileExtraction:
    """``parts`` children each parse every n-th message; their outcomes are assembled in turn."""
    context = multiprocessing.get_context("spawn")  # not fork: Prefect's threads hold locks
    children: list[tuple[Any, Connection]] = []
    for part in range(parts):
        ours, theirs = _pipe(context)
        child = context.Process(
            target=_serve_part, args=(theirs, planned.sniff, planned.reader.name, replace(options, ocr_workers=1), timezone, part, parts), daemon=True, name=f"records-stream-{part + 1}"
        )
        child.start()
        theirs.close()
        children.append((child, ours))
    for child, conn in children:
        try:
            conn.recv()  # ("ready",): the child is running, its reader found
        except (EOFError, OSError):  # a child could not start: read here instead, as with one child
            for other, other_conn in children:
                _stop(other, other_conn, finished=False)
            return read(planned, options, timezone=timezone)
    return assemble_parts(planned, _in_turn(children))


def _pipe(context: Any) -> tuple[Connection, Connection]:
    """A one-way pipe from a reading child, holding up to ``PIPE_BYTES`` unread (Linux).

    The thread that receives a child's batches needs this process's GIL for every read,
    and storing holds it most of the time: with the kernel's 64 KiB a batch of 32 emails
    did not fit, and the child waited for the GIL's turn in the middle of every send (a
    sixth of its time). With room for several batches it writes them and reads on.
    """
    ours, theirs = context.Pipe(duplex=False)
    try:
        import fcntl

        fcntl.fcntl(ours.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or capped lower by /proc/sys/fs/pipe-max-size: the default size works, slower
    return ours, theirs


def _serve_part(conn: Connection, sniff: Sniff, reader_name: str, options: ReadOptions, timezone: str, part: int, parts: int) -> None:
    """A child reading one part: ("ready",), ("outcomes", [...]) batches, then the end, a quarantine or a failure."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    reader = next(r for r in readers() if r.name == reader_name)
    outcomes = read_part(Plan(sniff, reader), options, part, parts, timezone=timezone)
    try:
        conn.send(("ready",))
    except (BrokenPipeError, ConnectionResetError):
        conn.close()
        return
    _pump(conn, outcomes, _outcome_bytes, lambda batch: ("outcomes", batch))


def _outcome_bytes(outcome: PartOutcome) -> int:
    return _item_bytes(outcome.item) if outcome.item is not None else 0


def _in_turn(children: list[tuple[Any, Connection]]) -> Iterator[PartOutcome]:
    """Message 1 from the first child, message 2 from the second, ...: every outcome in file order.

    Every child cuts the same file the same way, so each message has exactly one owner
    and the first child to run out of messages marks the end of the file. A child that
    stopped (failed, quarantined, died) stops the whole stream at its turn: the messages
    before it have been handed out, as reading in one process would have.
    """
    buffers = [_Buffer(AHEAD_BYTES // len(children)) for _ in children]
    threads = [
        threading.Thread(target=_receive, args=(conn, buffer), name=f"records-stream-receive-{n + 1}", daemon=True)
        for n, ((_, conn), buffer) in enumerate(zip(children, buffers, strict=True))
    ]
    for thread in threads:
        thread.start()
    pending: list[deque[PartOutcome]] = [deque() for _ in children]
    finished = False
    number = 0
    try:
        while True:
            turn = number % len(children)
            queue = pending[turn]
            while not queue:
                message = buffers[turn].get()
                if message[0] == "outcomes":
                    queue.extend(message[1])
                    continue
                _raise_if_stopped(message)
                finished = True  # the end of the file: the other children are ending too
                return
            outcome = queue.popleft()
            number += 1
            if outcome.number != number:
                raise StreamStopped(f"the reading processes disagree: message {outcome.number} came where {number} was due")
            yield outcome
    finally:
        for buffer in buffers:
            buffer.close()
        for child, _ in children:
            _end(child, finished)
        for thread in threads:
            thread.join(timeout=10)  # each sees its pipe's end once its child has gone
        for _, conn in children:
            conn.close()


def _raise_if_stopped(message: tuple[Any, ...]) -> None:
    """A child's last message: its quarantine or failure raised here, as reading here would; the end returns."""
    if message[0] == "quarantine":
        raise Quarantine(message[1], message[2])
    if message[0] == "failed":
        raise StreamStopped(message[1])
    if message[0] == "died":
        raise StreamStopped("the reading process died")


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

    def batch_of(batch: list[Item]) -> tuple[Any, ...]:
        nonlocal sent
        message = ("items", batch, problems[sent:])
        sent = len(problems)
        return message

    _pump(conn, items, _item_bytes, batch_of)


def _pump(conn: Connection, values: Iterator[Any], size_of: Callable[[Any], int], message_of: Callable[[list[Any]], tuple[Any, ...]]) -> None:
    """Send what ``values`` yields in batches (``message_of``), then how it ended; close ``conn``.

    The end is ("end",), ("quarantine", kind, reason) or ("failed", error name): what
    reading in the ingesting process would have raised there.
    """
    batch: list[Any] = []
    held = 0
    try:
        while True:
            try:
                value = next(values, None)
            except Quarantine as stop:
                end: tuple[Any, ...] = ("quarantine", stop.kind, stop.reason)
                break
            except (Exception, MemoryError, RecursionError) as exc:  # noqa: BLE001 - reported as reading in-process would
                end = ("failed", type(exc).__name__)
                break
            if value is None:
                end = ("end",)
                break
            batch.append(value)
            held += size_of(value)
            if len(batch) >= BATCH_ITEMS or held >= BATCH_BYTES:
                conn.send(message_of(batch))
                batch, held = [], 0
        conn.send(message_of(batch))
        conn.send(end)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the ingesting process stopped reading (it failed, or was killed): nothing to do
    finally:
        conn.close()


class _Buffer:
    """Batches received from the child, bounded by bytes (one batch always fits)."""

    def __init__(self, limit: int = AHEAD_BYTES) -> None:
        self.limit = limit
        self.batches: deque[tuple[Any, ...]] = deque()
        self.bytes = 0
        self.closed = False
        self.lock = threading.Condition()

    def put(self, message: tuple[Any, ...], size: int) -> bool:
        with self.lock:
            while self.batches and self.bytes + size > self.limit and not self.closed:
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
        if message[0] == "items":
            size = sum(_item_bytes(item) for item in message[1])
        elif message[0] == "outcomes":
            size = sum(_outcome_bytes(outcome) for outcome in message[1])
        else:
            size = 0
        if not buffer.put(message, size) or message[0] not in ("items", "outcomes"):
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
            _raise_if_stopped(message)
            return
    finally:
        buffer.close()
        _end(child, finished)
        thread.join(timeout=10)  # it sees the pipe's end once the child has gone
        conn.close()


def _stop(child: Any, conn: Connection, finished: bool = True) -> None:
    """End the child and close its pipe (nothing reads from it any more)."""
    _end(child, finished)
    conn.close()


def _end(child: Any, finished: bool = True) -> None:
    """End the child (done, or no longer wanted) and wait for it, so its CPU time is counted.

    The pipe stays open: a thread still reading it sees its end once the child has gone,
    where closing it under the thread would fail inside ``recv``.
    """
    if finished:
        child.join(timeout=5)
    if child.is_alive():
        child.kill()  # stopped early (this process failed): the child would wait on a full pipe
        child.join()
