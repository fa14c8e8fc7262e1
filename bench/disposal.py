"""Disposal planning benchmark: the nightly plan over a large catalog, time and memory.

    .venv/bin/python bench/disposal.py [--records 1000000]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--no-postgres]

The nightly flow counts due-soon and overdue records with ``disposal.plan_rows`` and
proposes batches from it; ``records dispose plan`` calls ``disposal.plan``. Both must
run over every record of a district's catalog, so they must stay in the database and
stream. For each backend this builds a fresh installation (a temporary ``RECORDS_HOME``;
on PostgreSQL a temporary database with a random name, created through the server of
``--postgres-url`` and dropped afterwards), bulk-inserts synthetic records with Core
``insert()`` executemany in chunks of 10,000 (one source, a roster of students, a few
thousand ``record_students`` links, two active holds: one on students, one on a date
range), and measures in a child process per measurement, each reporting its wall time
and peak resident memory (``VmHWM`` in ``/proc/self/status``):

- stream: ``plan_rows`` counting records per state, keeping no ids, at N/4 records and
  again at N (the first N/4 are measured, then the rest is inserted);
- full: ``plan``, which returns the id lists (its memory grows with the plan: printed
  for information).

The synthetic mix: every record ``active``, series across the default schedule, dates
spread so that about 30% are eligible, 5% due soon (``destroy_by`` within 90 days), 5%
overdue, and the rest retained (not yet eligible, still enrolled, or NON-RECORD, which
is never planned). Each size's per-state counts are checked against an independent
computation made in Python while generating the rows, so the benchmark cannot silently
measure the wrong thing.

Target: the streaming plan's memory does not grow with the catalog: peak at N / peak at
N/4 at most 1.25. The default 1,000,000 took 14.5 minutes for both backends on the shared
2-core machine (load average 6 to 10; most of it the bulk insert, about 3,000 records/s);
``--records 100000`` takes about two minutes, ``--records 20000`` under one (most of it
start-up), ``--no-postgres`` halves either.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds, peak_mb, temporary_postgres  # noqa: E402

MEMORY_TARGET = 1.25  # streaming plan: peak at N / peak at N/4
INSERT_CHUNK = 10_000
AS_OF = dt.date(2026, 1, 15)  # the plan's date (fixed: the synthetic dates are spread around it)
SEED = 20_260_115
STATES = ("eligible", "due_soon", "overdue", "held")
SOURCE_ID = "S-BENCH00000000000"
HOLD_STUDENTS = ("S-000001", "S-000002")  # litigation hold: two students
HOLD_FROM, HOLD_TO = dt.date(2019, 9, 1), dt.date(2020, 6, 30)  # audit hold: one school year
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE_MILLIS = int(dt.datetime(2025, 9, 1, tzinfo=dt.UTC).timestamp() * 1000)
FORMATS = ("email", "email", "email", "sms", "facebook", "printout", "slack")


# ---------------------------------------------------------------- synthetic catalog


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def record_id(i: int, rng: random.Random) -> str:
    """Shaped like ``ids.new_id("R")`` and sorted by i (records ingested over time)."""
    return f"R-{_encode(_BASE_MILLIS + 40 * i, 9)}{_encode(rng.getrandbits(30), 6)}"


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def _day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def _instant(rng: random.Random, day: dt.date) -> dt.datetime:
    """Any second of that UTC day: some fall on the other side of midnight in New York."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(86_400))


@dataclass(frozen=True)
class Shape:
    """What depends on the total size (so that the first N/4 are a prefix of the N)."""

    total: int

    @property
    def students(self) -> int:
        return max(20, min(2_000, self.total // 250))

    @property
    def link_rate(self) -> float:  # about 4,000 linked records at 1,000,000
        return min(0.5, 4_000 / max(1, self.total))


def student_id(n: int) -> str:
    return f"S-{n:06d}"


def make_record(i: int, shape: Shape) -> tuple[dict[str, Any], list[str]]:
    """Record i of a catalog of ``shape.total`` records, and the students it is linked to."""
    rng = random.Random(SEED * 7_919 + i)
    u = rng.random()
    eligible_on = destroy_by = trigger_date = None
    trigger = "student_exit"
    if u < 0.05:  # overdue: a temporary record past its 7-year maximum
        series = rng.choice(("STU-TEMPORARY", "STU-TEMPORARY", "STU-SPED"))
        trigger_date = add_years(AS_OF, -7) - dt.timedelta(days=rng.randint(1, 900))
        eligible_on, destroy_by = trigger_date, add_years(trigger_date, 7)
        if destroy_by >= AS_OF:  # 29 February clamped forward: keep it overdue
            destroy_by = AS_OF - dt.timedelta(days=1)
        first = _day(rng, add_years(trigger_date, -4), trigger_date)
    elif u < 0.10:  # due soon: destroy_by within 90 days
        series = rng.choice(("STU-TEMPORARY", "STU-TEMPORARY", "STU-SPED"))
        destroy_by = AS_OF + dt.timedelta(days=rng.randint(0, 89))
        trigger_date = eligible_on = add_years(destroy_by, -7)
        first = _day(rng, add_years(trigger_date, -4), trigger_date)
    elif u < 0.40:  # eligible
        if rng.random() < 0.4:
            series = rng.choice(("STU-TEMPORARY", "STU-SPED"))
            trigger_date = eligible_on = _day(rng, add_years(AS_OF, -6), AS_OF)
            destroy_by = add_years(trigger_date, 7)
            first = _day(rng, add_years(trigger_date, -4), trigger_date)
        else:
            series, years = rng.choice((("CORR-TRANSITORY", 1), ("CORR-ADMIN", 3), ("PUBLIC-RECORDS-REQUEST", 2), ("UNSCHEDULED", 7)))
            trigger = "latest_entry" if series == "UNSCHEDULED" else "creation"
            first = _day(rng, dt.date(2005, 1, 1), add_years(AS_OF, -years) - dt.timedelta(days=60))
            trigger_date = first
            eligible_on = add_years(first, years)
    else:  # retained: not planned today
        w = rng.random()
        if w < 0.025:  # NON-RECORD: past its date but never planned (purged by its own path)
            series, trigger, years = "NON-RECORD", "creation", 0
            first = _day(rng, dt.date(2015, 1, 1), AS_OF)
            trigger_date = eligible_on = first
        elif w < 0.30:  # a student still enrolled: no dates yet
            series = rng.choice(("STU-TEMPORARY", "STU-TEMPORARY", "STU-SPED"))
            first = _day(rng, dt.date(2015, 9, 1), AS_OF)
        elif w < 0.55:  # transcript: 60 years after exit
            series = "STU-TRANSCRIPT"
            trigger_date = _day(rng, dt.date(2005, 6, 1), AS_OF)
            eligible_on = add_years(trigger_date, 60)
            first = _day(rng, add_years(trigger_date, -4), trigger_date)
        else:  # recent correspondence, not yet eligible
            series, years = rng.choice((("CORR-TRANSITORY", 1), ("CORR-ADMIN", 3), ("PUBLIC-RECORDS-REQUEST", 2), ("UNSCHEDULED", 7), ("PERSONNEL", 7)))
            trigger = {"UNSCHEDULED": "latest_entry", "PERSONNEL": "separation"}.get(series, "creation")
            first = _day(rng, add_years(AS_OF, -years) + dt.timedelta(days=1), AS_OF)
            trigger_date = first
            eligible_on = add_years(first, years)
            if eligible_on <= AS_OF:
                eligible_on = AS_OF + dt.timedelta(days=1)
    sent_first = _instant(rng, first)
    sent_last = sent_first + dt.timedelta(seconds=rng.randrange(60 * 86_400)) if rng.random() < 0.5 else sent_first
    created = dt.datetime(2025, 9, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=40 * i // 1000)
    if rng.random() < 0.03:  # a scanned document: no message dates, its date is created_at
        created, sent_first, sent_last = sent_first, None, None
    students: list[str] = []
    if rng.random() < shape.link_rate:
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
            # one student (in litigation) is in a tenth of the linked records
            n = 1 if rng.random() < 0.1 else rng.randint(1, shape.students)
            if student_id(n) not in students:
                students.append(student_id(n))
    row = {
        "id": record_id(i, rng),
        "source_id": SOURCE_ID,
        "format": FORMATS[i % len(FORMATS)],
        "locator": None,
        "sent_at_first": sent_first,
        "sent_at_last": sent_last,
        "owner_staff_id": None,
        "participants": [],
        "text_chars": rng.randrange(40, 20_000),
        "content_sha256": None,
        "series_code": series,
        "series_confidence": 0.9,
        "series_evidence": [],
        "series_decided_by": "engine",
        "extraction_evidence": [],
        "status": "active",
        "created_at": created,
        "is_forward": False,
        "message_count": rng.randint(1, 40),
        "retention_trigger": trigger if eligible_on or series.startswith("STU-") else None,
        "trigger_date": trigger_date,
        "eligible_on": eligible_on,
        "destroy_by": destroy_by,
        "disposition": "destroy",
        "needs_approval": series != "NON-RECORD",
        "schedule_version": 1,
        "students_decided_by": "engine",
    }
    return row, students


def hold_criteria() -> list[tuple[str, str, dict[str, Any]]]:
    from records.retention.holds import HoldCriteria

    return [
        ("litigation", "bench: counsel foresees litigation about two students", HoldCriteria(students=HOLD_STUDENTS).to_json()),
        ("audit", "bench: state audit of the 2019-2020 school year", HoldCriteria(date_from=HOLD_FROM, date_to=HOLD_TO).to_json()),
    ]


def expected_state(row: dict[str, Any], students: list[str], holds: list[dict[str, Any]], *, as_of: dt.date, due_soon_days: int, zone: ZoneInfo) -> str | None:
    """The plan's state of a generated record, computed here from domain.md, not from the engine.

    None: the plan does not name it (not active, NON-RECORD, no date, or not yet eligible).
    A hold covers a record when every kind of criterion it gives matches (AND), any value
    within a kind (OR); dates match when the record's own span overlaps [from, to] in the
    district's time zone.
    """
    if row["status"] != "active" or row["series_code"] == "NON-RECORD" or row["eligible_on"] is None or row["eligible_on"] > as_of:
        return None
    first = row["sent_at_first"] or row["sent_at_last"] or row["created_at"]
    last = row["sent_at_last"] or row["sent_at_first"] or row["created_at"]
    first_day, last_day = first.astimezone(zone).date(), last.astimezone(zone).date()
    for criteria in holds:
        if criteria.get("students") and not set(criteria["students"]) & set(students):
            continue
        if criteria.get("series") and row["series_code"] not in criteria["series"]:
            continue
        if criteria.get("records") and row["id"] not in criteria["records"]:
            continue
        if criteria.get("from") and last_day < dt.date.fromisoformat(criteria["from"]):
            continue
        if criteria.get("to") and first_day > dt.date.fromisoformat(criteria["to"]):
            continue
        return "held"
    destroy_by = row["destroy_by"]
    if destroy_by is not None and destroy_by < as_of:
        return "overdue"
    if destroy_by is not None and (destroy_by - as_of).days <= due_soon_days:
        return "due_soon"
    return "eligible"


def insert_catalog(catalog: Any, settings: Any, total: int, start: int, stop: int, *, progress: bool = False) -> collections.Counter[str]:
    """Insert records start..stop-1 of a catalog of ``total``; the first call (start 0) adds
    the source, the roster and the holds. Returns the expected per-state counts of these
    records (``retained`` for those the plan does not name)."""
    from sqlalchemy import insert

    from records.storage.models import Hold, Record, RecordStudent, Source, Student

    shape = Shape(total)
    now = dt.datetime.now(dt.UTC)
    holds = [criteria for _, _, criteria in hold_criteria()]
    if start == 0:
        with catalog.engine.begin() as connection:
            connection.execute(insert(Source.__table__), [{
                "id": SOURCE_ID, "sha256": "0" * 64, "path": "bench/synthetic.mbox", "size": 1, "status": "done",
                "received_at": now, "received_by": "system:bench", "detected_type": "application/mbox",
            }])
            connection.execute(insert(Student.__table__), [{
                "student_id": student_id(n), "first_name": f"First{n}", "last_name": f"Last{n}", "grade": str(n % 12 + 1),
                "guardian_names": [], "guardian_emails": [], "guardian_phones": [], "student_emails": [], "student_handles": [],
                "updated_at": now,
            } for n in range(1, shape.students + 1)])
            connection.execute(insert(Hold.__table__), [{
                "id": f"H-BENCH{k:011d}", "kind": kind, "reason": reason, "criteria": criteria, "placed_by": "officer", "placed_at": now,
            } for k, (kind, reason, criteria) in enumerate(hold_criteria())])
    counts: collections.Counter[str] = collections.Counter()
    began = time.perf_counter()
    for first in range(start, stop, INSERT_CHUNK):
        rows, links = [], []
        for i in range(first, min(stop, first + INSERT_CHUNK)):
            row, students = make_record(i, shape)
            rows.append(row)
            links.extend({"record_id": row["id"], "student_id": s, "confidence": 0.95, "evidence": [], "decided_by": "engine"} for s in students)
            counts[expected_state(row, students, holds, as_of=AS_OF, due_soon_days=settings.due_soon_days, zone=settings.zone) or "retained"] += 1
        with catalog.engine.begin() as connection:
            connection.execute(insert(Record.__table__), rows)
            if links:
                connection.execute(insert(RecordStudent.__table__), links)
        counts["links"] += len(links)
        if progress and (first // INSERT_CHUNK) % 20 == 19:
            done = min(stop, first + INSERT_CHUNK) - start
            print(f"    {min(stop, first + INSERT_CHUNK):,} records ({done / (time.perf_counter() - began):,.0f}/s)", flush=True)
    if catalog.is_sqlite:
        with catalog.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


# ---------------------------------------------------------------- what is measured


def stream_counts(installation: Any, as_of: dt.date = AS_OF) -> collections.Counter[str]:
    """What the nightly does: ``plan_rows`` counted per state, no id kept."""
    from records.storage import disposal

    counts: collections.Counter[str] = collections.Counter()
    with installation.catalog.reading() as session:
        for _, _, state in disposal.plan_rows(session, installation.settings, as_of):
            counts[state] += 1
    return counts


def full_plan_counts(installation: Any, as_of: dt.date = AS_OF) -> collections.Counter[str]:
    """``records dispose plan``: the full ``plan`` with its id lists (counted afterwards)."""
    from records.storage import disposal

    with installation.catalog.reading() as session:
        result = disposal.plan(session, installation.settings, as_of)
    return collections.Counter({state: len(getattr(result, state)) for state in STATES})


def child(kind: str, home: str) -> dict[str, Any]:
    from records.storage.installation import open_installation

    installation = open_installation(home)
    with installation.catalog.reading() as session:  # connect and warm up before the baseline
        from records.storage.retention import active_holds

        active_holds(session)
    base = peak_mb()
    cpu, start = cpu_seconds(), time.perf_counter()
    counts = stream_counts(installation) if kind == "stream" else full_plan_counts(installation)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": cpu_seconds() - cpu, "peak_mb": peak_mb(), "base_mb": base, "counts": dict(counts)}


def run_child(kind: str, home: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(home)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-6000:], sep="\n", file=sys.stderr)
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        return {"error": f"child exited {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run


def postgres_reachable(server_url: str) -> str | None:
    """None if we can connect, else why not."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(server_url, connect_args={"connect_timeout": 5})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: skip this backend
        return str(exc).strip().splitlines()[0]


def bench_backend(label: str, database_url: str | None, total: int, rows: list[dict[str, Any]]) -> bool:
    """Build, measure at N/4 and N; append table rows. False if a count did not match."""
    from records.storage.db import Catalog, dispose_engines
    from records.storage.installation import initialize, open_installation

    ok = True
    quarter = max(1, total // 4)
    with tempfile.TemporaryDirectory(prefix="records-bench-disposal-") as tmp:
        home = Path(tmp) / "home"
        env = dict(os.environ, RECORDS_HOME=str(home))
        for name in ("RECORDS_KEYSTORE", "RECORDS_STORE_URL"):
            env.pop(name, None)
        if database_url:
            env["RECORDS_DATABASE_URL"] = database_url
        else:
            env.pop("RECORDS_DATABASE_URL", None)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            initialize(home, actor="system:bench")
            installation = open_installation(home)
            catalog: Catalog = installation.catalog
            server = ".".join(map(str, catalog.engine.dialect.server_version_info or ()))
            print(f"{label} {server}: building {total:,} records in {tmp} ...", flush=True)
            expected: collections.Counter[str] = collections.Counter()
            for size, start in ((quarter, 0), (total, quarter)):
                began = time.perf_counter()
                expected += insert_catalog(catalog, installation.settings, total, start, size, progress=True)
                if not catalog.is_sqlite:
                    with catalog.engine.connect() as connection:  # what autovacuum does after a bulk load
                        connection.exec_driver_sql("ANALYZE")
                        connection.commit()
                dispose_engines()
                print(f"  {size:,} records ({size - start:,} inserted in {time.perf_counter() - began:.0f} s; "
                      f"{expected['links']:,} student links); expected: "
                      + ", ".join(f"{s} {expected[s]:,}" for s in (*STATES, "retained")), flush=True)
                for kind in ("stream", "full"):
                    print(f"  {kind} plan at {size:,} (load average {os.getloadavg()[0]:.2f}) ...", end="", flush=True)
                    result = run_child(kind, home, env)
                    if "error" in result:
                        print(f" FAILED: {result['error']}", flush=True)
                        ok = False
                        rows.append({"backend": label, "records": size, "kind": kind, **result})
                        continue
                    got = collections.Counter(result["counts"])
                    want = collections.Counter({s: expected[s] for s in STATES})
                    match = all(got[s] == want[s] for s in STATES)
                    ok = ok and match
                    print(f" {result['seconds']:.1f} s, peak {result['peak_mb']:.0f} MB, counts "
                          + ("match" if match else "MISMATCH: got " + json.dumps(dict(got)) + " expected " + json.dumps(dict(want))), flush=True)
                    rows.append({"backend": label, "records": size, "kind": kind, "planned": sum(got[s] for s in STATES), "match": match, **result})
        finally:
            dispose_engines()
            os.environ.clear()
            os.environ.update(saved)
    return ok


def print_table(rows: list[dict[str, Any]]) -> list[str]:
    header = f"{'backend':<11}{'plan':<8}{'records':>10}{'planned':>10}{'seconds':>9}{'records/s':>11}{'CPU %':>7}{'peak MB':>9}{'(start)':>9}{'ratio N/(N/4)':>15}  counts"
    print(header)
    print("-" * len(header))
    verdicts = []
    peaks: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if "error" in row:
            print(f"{row['backend']:<11}{row['kind']:<8}{row['records']:>10,}  FAILED: {row['error']}")
            continue
        peaks.setdefault((row["backend"], row["kind"]), []).append(row["peak_mb"])
        series = peaks[(row["backend"], row["kind"])]
        ratio = f"{series[1] / series[0]:.2f}" if len(series) == 2 else ""
        print(f"{row['backend']:<11}{row['kind']:<8}{row['records']:>10,}{row['planned']:>10,}{row['seconds']:>9.1f}"
              f"{row['records'] / row['seconds']:>11,.0f}{100 * row['cpu_s'] / row['seconds']:>7.0f}{row['peak_mb']:>9.0f}{row['base_mb']:>9.0f}{ratio:>15}  "
              f"{'ok' if row['match'] else 'MISMATCH'}")
    for (backend, kind), series in peaks.items():
        if len(series) != 2:
            continue
        ratio = series[1] / series[0]
        if kind == "stream":
            met = "MET" if ratio <= MEMORY_TARGET else "NOT MET"
            verdicts.append(f"{backend}: streaming plan peak memory N vs N/4 {ratio:.2f}, target <= {MEMORY_TARGET}: {met}")
        else:
            verdicts.append(f"{backend}: full plan (id lists) peak memory N vs N/4 {ratio:.2f} (grows with the plan; for information)")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Smaller runs: --records 100000 (about a minute), --records 20000 (seconds).")
    parser.add_argument("--records", type=int, default=1_000_000, help="catalog size N (also measured at N/4); default 1,000,000")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server to create (and drop) a temporary database on")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.records < 4:
        parser.error("--records must be at least 4")

    wall = time.perf_counter()
    print(f"disposal plan bench: {args.records:,} records (and {args.records // 4:,}), as of {AS_OF}, cores {os.cpu_count()}, "
          f"Python {sys.version.split()[0]}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    rows: list[dict[str, Any]] = []
    ok = bench_backend("sqlite", None, args.records, rows)
    if args.no_postgres:
        print("postgresql: skipped (--no-postgres)")
    else:
        why = postgres_reachable(args.postgres_url)
        if why:
            print(f"postgresql: skipped, cannot connect to {args.postgres_url}: {why}")
        else:
            with temporary_postgres(args.postgres_url) as url:
                ok = bench_backend("postgresql", url, args.records, rows) and ok
    print()
    verdicts = print_table(rows)
    print()
    print("\n".join(verdicts))
    if not ok:
        print("FAILED: a measurement failed or its per-state counts differ from the independent computation")
    print(f"\nwall time: {time.perf_counter() - wall:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
