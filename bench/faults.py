"""Fault injection, the long runs: hundreds of kills and dropped connections during ingest.

    .venv/bin/python bench/faults.py [--kills 500] [--drops 500] [--stream-chunk 4]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--no-postgres]

For each backend (SQLite; PostgreSQL in a scratch database created through
``--postgres-url`` and dropped afterwards) a fresh installation ingests rounds of new
files (5 emails, an mbox of 12 messages committed 4 at a time, a born-digital PDF):

- kills: a forked child ingests the round and is SIGKILLed at a uniformly random moment
  of its run (calibrated on one un-killed round); then the consistency check, then the
  sweep a restart runs (``records sweep --grace-hours 0``), which must leave no orphan;
- drops: the catalog connection dies at a random statement or commit of the round (the
  server ends the backend on PostgreSQL; the connection is closed under the transaction
  on SQLite); the living process must clean up after itself (no sweep) and stay consistent.

Finally every round is ingested again (the recovery): each file must end ingested exactly
once with all its records, nothing left over, the chain verified. Printed: per backend
and kind, faults injected, how many landed mid-run, orphans the sweep removed, problems
found (the target is 0), and seconds per fault, side by side. The CI versions are
``tests/test_faults.py`` (eight of each per backend).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["RECORDS_EXTRACT_WORKERS"] = "1"
os.environ.setdefault("RECORDS_LOG_LEVEL", "critical")  # hundreds of expected failures: no log line each

# A connection closed under SQLAlchemy makes its pool log each failed cursor close: expected here.
logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import records.flows  # noqa: E402, F401 - Prefect's settings before Prefect is imported
import records.flows.ingest as ingest_flow  # noqa: E402
from tests import fault_injection as faults  # noqa: E402


def _installation(folder: Path, database_url: str):  # type: ignore[no-untyped-def]
    from records.storage.installation import initialize, open_installation

    os.environ["RECORDS_DATABASE_URL"] = database_url
    os.environ.pop("RECORDS_KEYSTORE", None)
    os.environ.pop("RECORDS_STORE_URL", None)
    initialize(folder, actor="system:bench")
    return open_installation(folder)


def run_backend(name: str, database_url: str, work: Path, kills: int, drops: int, chunk: int, seed: int) -> dict[str, dict[str, float]]:
    installation = _installation(work / "home", database_url)
    home = installation.paths.home
    rng = random.Random(seed)
    folders: list[Path] = []
    problems: list[str] = []

    def new_round() -> list[Path]:
        folders.append(work / f"round{len(folders)}")
        return faults.make_round(folders[-1], len(folders) - 1)

    took = [faults.timed_child(home, new_round(), stream_chunk=chunk)]  # shortened by runs that finish first
    results: dict[str, dict[str, float]] = {}

    started, landed, swept = time.monotonic(), 0, 0
    for n in range(kills):
        landed += faults.run_killed(home, new_round(), rng.uniform(0, took[0] * 1.1), stream_chunk=chunk, took=took)
        problems += [f"kill {n}: {p}" for p in faults.check_consistent(installation)]
        removed = faults.sweep_now(installation)
        swept += sum(removed.values())
        left = faults.orphans(installation)
        if any(left.values()):
            problems.append(f"kill {n}: orphans after the sweep {left}")
    results["kills"] = {"faults": kills, "mid-run": landed, "swept": swept, "seconds/fault": (time.monotonic() - started) / max(kills, 1)}

    ingest_flow.STREAM_CHUNK = chunk
    with faults.dropping_connection(installation.catalog, at=10**9) as seen:
        ingest_flow.process_batch(installation, new_round(), actor="system:bench")
    points = seen["points"]
    started, failed = time.monotonic(), 0
    for n in range(drops):
        with faults.dropping_connection(installation.catalog, at=rng.randint(1, points)):
            try:
                ingest_flow.process_batch(installation, new_round(), actor="system:bench")
            except Exception:  # noqa: BLE001
                failed += 1
        problems += [f"drop {n}: {p}" for p in faults.check_consistent(installation)]
        left = faults.orphans(installation)
        if any(left.values()):
            problems.append(f"drop {n}: orphans without a sweep {left}")
    results["drops"] = {"faults": drops, "mid-run": failed, "swept": 0, "seconds/fault": (time.monotonic() - started) / max(drops, 1)}

    started = time.monotonic()
    files = [f for folder in folders for f in sorted(folder.iterdir())]
    reports = []
    for start in range(0, len(files), 50):
        reports += ingest_flow.process_batch(installation, files[start : start + 50], actor="system:recovery")
    for file_name, (status, count) in faults.final_counts(reports).items():
        expected = faults.MBOX_MESSAGES if file_name.endswith(".mbox") else 1
        if status not in ("ingested", "duplicate") or count != expected:
            problems.append(f"recovery: {file_name} ended {status} with {count} record(s), expected {expected}")
    problems += [f"recovery: {p}" for p in faults.check_consistent(installation)]
    if any(faults.orphans(installation).values()):
        problems.append(f"recovery: orphans {faults.orphans(installation)}")
    results["recovery"] = {"faults": 0, "mid-run": 0, "swept": 0, "seconds/fault": time.monotonic() - started}
    for line in problems[:20]:
        print(f"  {name}: {line}", file=sys.stderr)
    for kind in results:
        results[kind]["problems"] = sum(1 for p in problems if p.startswith(kind.rstrip("s")))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--drops", type=int, default=500)
    parser.add_argument("--stream-chunk", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    backends: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="records-faults-") as scratch:
        backends["sqlite"] = run_backend("sqlite", f"sqlite:///{Path(scratch) / 'sqlite' / 'home' / 'catalog.db'}", Path(scratch) / "sqlite", args.kills, args.drops, args.stream_chunk, args.seed)
        if not args.no_postgres:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            name = f"records_faults_{uuid.uuid4().hex[:10]}"
            admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            try:
                url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
                backends["postgresql"] = run_backend("postgresql", url, Path(scratch) / "pg", args.kills, args.drops, args.stream_chunk, args.seed)
            finally:
                from records.storage.db import dispose_engines

                dispose_engines()
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(f"{'backend':<11} {'kind':<9} {'faults':>7} {'mid-run':>8} {'swept':>7} {'problems':>9} {'s/fault':>8}")
    total = 0
    for backend, kinds in backends.items():
        for kind, row in kinds.items():
            total += int(row["problems"])
            print(f"{backend:<11} {kind:<9} {int(row['faults']):>7} {int(row['mid-run']):>8} {int(row['swept']):>7} {int(row['problems']):>9} {row['seconds/fault']:>8.2f}")
    print("every file whole or absent, nothing orphaned, chain verified" if total == 0 else f"{total} problem(s): see above")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
