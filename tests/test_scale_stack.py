"""The whole stack (scripts/stack.sh): a Prefect server, two process workers, PostgreSQL.

A few hundred mixed files go through the ``ingest`` deployment while an ``intake-worker``
run on the second worker drains the same queue: every file ends as exactly one job done,
every distinct content as exactly one source (copies are duplicates of it, whichever
worker saw them), both workers did part of the work, and the audit chain verifies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_URL, _postgres_database
from tests.fixtures.mixed import write_pile

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="the stack test needs PostgreSQL (RECORDS_TEST_POSTGRES_URL)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = _postgres_database()
    url = next(database)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "RECORDS_HOME": str(home),
        "RECORDS_DATABASE_URL": url,
        "RECORDS_PREFECT_PORT": str(_free_port()),
        "RECORDS_EXTRACT_WORKERS": "1",  # each worker reads one file at a time: two cores, two workers
        "RECORDS_LANES": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    for name in ("RECORDS_KEYSTORE", "RECORDS_STORE_URL", "RECORDS_ACTOR", "PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH"):
        env.pop(name, None)
    subprocess.run([BIN / "records", "init", "--json"], env=env, check=True, capture_output=True, timeout=300)
    started = subprocess.run([ROOT / "scripts" / "stack.sh", "start", "--workers", "2", "--limit", "1"], env=env, capture_output=True, text=True, timeout=600)
    try:
        assert started.returncode == 0, started.stderr
        env["PREFECT_HOME"] = str(home / "prefect")
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{env['RECORDS_PREFECT_PORT']}/api"
        yield env, url
    finally:
        subprocess.run([ROOT / "scripts" / "stack.sh", "stop"], env=env, capture_output=True, timeout=300)
        next(database, None)


def test_two_workers_ingest_a_mixed_pile_exactly_once(stack, tmp_path: Path) -> None:
    env, url = stack
    pile = write_pile(tmp_path / "pile", 200, scans=4, copies=10)
    prefect = [str(BIN / "prefect"), "deployment", "run"]

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*prefect, *args, "--param", "batch_size=5", "--watch"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # The second worker's run waits (up to 60 s of an empty queue) for the pile to arrive.
    helper = start("intake-worker/intake-worker", "--param", "linger=60")
    ingest = start("ingest/ingest", "--param", f"paths={json.dumps([str(tmp_path / 'pile')])}")
    for run in (ingest, helper):
        output, _ = run.communicate(timeout=900)
        assert "Completed" in output, output[-3000:]

    engine = create_engine(url)
    with engine.connect() as connection:
        jobs = connection.execute(text("SELECT path, state, worker, result FROM intake_jobs")).all()
        sources = dict(connection.execute(text("SELECT sha256, id FROM sources")).all())
        quarantined = connection.execute(text("SELECT path FROM sources WHERE status = 'quarantined'")).scalars().all()
    engine.dispose()
    results = [row.result if isinstance(row.result, dict) else json.loads(row.result) for row in jobs]
    assert sorted(row.path for row in jobs) == sorted(str(p) for p in pile.files)  # each file submitted once
    assert Counter(row.state for row in jobs) == {"done": len(pile.files)}  # none lost
    assert len(sources) == pile.distinct  # one source per distinct content, none twice
    assert all(sources[r["sha256"]] == r["id"] for r in results)  # every file points at the source of its bytes
    assert Counter(r["status"] for r in results)["duplicate"] == len(pile.copies)
    assert [Path(p).name for p in quarantined] == [pile.junk[0].name]
    assert len({row.worker.split(":")[1] for row in jobs}) >= 2  # both workers' flow runs claimed work

    verified = subprocess.run([BIN / "records", "audit", "verify", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True, verified.stdout + verified.stderr
