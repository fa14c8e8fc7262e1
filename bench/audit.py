"""Audit chain benchmark: append and verify throughput, and verification memory.

    .venv/bin/python bench/audit.py [--events 100000] [--database-url URL]

Every decision the engine makes appends an event, so append speed bounds ingest speed;
``records audit verify`` walks the whole chain, so it must stream: its memory has to stay
flat however long the chain grows. This appends N events in transactions of 1,000
(``audit.append_many``, what batch flows do), measures one-event-per-transaction appends
separately (what interactive commands do), verifies at 10,000 events and at N, and
prints events per second side by side with the peak memory of each verification.

Without ``--database-url`` it uses a temporary SQLite catalog. With a PostgreSQL URL it
creates its own temporary database on that server and drops it afterwards, so it never
touches the data of the database named in the URL.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from records.storage import audit  # noqa: E402
from records.storage.catalog import upgrade  # noqa: E402
from records.storage.db import Catalog, dispose_engines  # noqa: E402
from bench.measure import temporary_postgres  # noqa: E402

BATCH = 1_000
SMALL_MARK = 10_000


@contextlib.contextmanager
def temporary_catalog(database_url: str | None) -> Iterator[str]:
    """A fresh catalog URL: a temporary SQLite file, or a temporary PostgreSQL database."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="records-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'catalog.db'}"
            dispose_engines()
        return
    with temporary_postgres(database_url) as url:
        yield url


def pending(n: int, start: int) -> list[audit.PendingEvent]:
    """Events shaped like real ones: ids, hashes, versions and a confidence, no content."""
    return [
        audit.PendingEvent(
            actor="flow:nightly",
            action="record.classified",
            subject_type="record",
            subject_id=f"rec-{i:09d}",
            payload={
                "content_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                "series": f"SR-{i % 97:03d}",
                "schedule_version": 3,
                "rule_version": "2025.1",
                "confidence": round(0.5 + (i % 50) / 100, 2),
                "student_ids": [f"S{i % 4_000:06d}"],
            },
        )
        for i in range(start, start + n)
    ]


def append_batches(catalog: Catalog, start: int, stop: int) -> float:
    """Append events start..stop-1 in transactions of BATCH; return the seconds taken."""
    began = time.perf_counter()
    for first in range(start, stop, BATCH):
        with catalog.writing() as session:
            audit.append_many(session, pending(min(BATCH, stop - first), first))
    return time.perf_counter() - began


def timed_verify(catalog: Catalog, expected: int) -> float:
    began = time.perf_counter()
    with catalog.reading() as session:
        result = audit.verify(session)
    elapsed = time.perf_counter() - began
    if not result.ok or result.events != expected:
        raise SystemExit(f"verification failed: {result}")
    return elapsed


def verify_peak_bytes(catalog: Catalog) -> int:
    """Peak Python heap allocated during one verification (tracemalloc, its own run)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    with catalog.reading() as session:
        audit.verify(session)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - baseline


def single_event_rate(catalog: Catalog, n: int) -> float:
    """Events per second when every event is its own write transaction."""
    began = time.perf_counter()
    for i in range(n):
        with catalog.writing() as session:
            audit.append(session, "clerk", "record.viewed", "record", f"rec-{i:09d}", {"via": "cli"})
    return n / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2_000, help="one-event transactions to time")
    parser.add_argument("--database-url", help="PostgreSQL server to create a temporary database on")
    args = parser.parse_args()
    marks = sorted({min(SMALL_MARK, args.events), args.events})

    with temporary_catalog(args.database_url) as url:
        catalog = Catalog(url)
        upgrade(catalog)
        backend = catalog.engine.dialect.name
        server = catalog.engine.dialect.server_version_info
        print(f"audit chain bench: {backend} {'.'.join(map(str, server or ()))}, Python {sys.version.split()[0]}, "
              f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
        print(f"{'events':>9}  {'append/s (1,000 per txn)':>24}  {'verify/s':>9}  {'verify peak memory':>18}")
        appended, append_seconds, peaks = 0, 0.0, []
        for mark in marks:
            append_seconds += append_batches(catalog, appended, mark)
            appended = mark
            verify_seconds = timed_verify(catalog, appended)
            peaks.append(verify_peak_bytes(catalog))
            print(f"{appended:>9,}  {appended / append_seconds:>24,.0f}  {appended / verify_seconds:>9,.0f}  "
                  f"{peaks[-1] / 2**20:>14.2f} MiB")
        rate = single_event_rate(catalog, args.single)
        print(f"append, one event per transaction: {args.single:,} events at {rate:,.0f}/s")
        if len(peaks) == 2:
            print(f"verification peak memory, {marks[1]:,} vs {marks[0]:,} events: ratio {peaks[1] / peaks[0]:.2f} "
                  f"(chain {marks[1] / marks[0]:.0f}x longer)")
        print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
