"""The intake queue: two workers never hold one job, a dead worker's job is taken over
(and the chain says so), a stalled worker cannot finish a job it lost, and the same bytes
seen by two workers at once become one source."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest

from records.storage import audit
from records.storage import intake_queue as queue
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def _submit(catalog, count: int) -> list[str]:
    with catalog.writing() as session:
        return queue.enqueue(session, [queue.NewJob(f"/inbox/f{n:03d}.pdf") for n in range(count)], origin="inbox", actor="system:inbox", owner_staff_id=None, now=NOW)


def test_two_claims_split_the_queue_and_the_inbox_submits_a_file_once(catalog):
    ids = _submit(catalog, 10)
    with catalog.writing() as session:
        first = queue.claim(session, "host-a:1", 4, now=NOW)
    with catalog.writing() as session:
        second = queue.claim(session, "host-b:2", 4, now=NOW)
    got_a, got_b = {j.id for j in first.jobs}, {j.id for j in second.jobs}
    assert len(got_a) == len(got_b) == 4 and not got_a & got_b
    assert got_a == set(ids[:4])  # oldest first
    with catalog.writing() as session:  # the next inbox run sees the same ten files
        again = queue.enqueue(session, [queue.NewJob(f"/inbox/f{n:03d}.pdf") for n in range(10)], origin="inbox", actor="system:inbox", owner_staff_id=None, skip_known=True)
        assert again == ids
    with catalog.reading() as session:
        assert queue.counts(session) == {"waiting": 2, "claimed": 8, "done": 0, "failed": 0}


def test_concurrent_claims_on_postgresql_skip_locked_rows(catalog):
    """A claim whose transaction is still open holds its rows: the other worker skips them
    without waiting, instead of claiming them too."""
    if catalog.is_sqlite:
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): claims cannot overlap")
    _submit(catalog, 6)
    held = threading.Event()
    release = threading.Event()
    claims: dict[str, queue.Claim] = {}

    def slow_worker() -> None:
        with catalog.writing() as session:
            claims["a"] = queue.claim(session, "host-a:1", 3, now=NOW)
            held.set()
            release.wait(10)

    thread = threading.Thread(target=slow_worker)
    thread.start()
    assert held.wait(10)
    started = time.monotonic()
    with catalog.writing() as session:
        claims["b"] = queue.claim(session, "host-b:2", 6, now=NOW)
    waited = time.monotonic() - started
    release.set()
    thread.join()
    a, b = {j.id for j in claims["a"].jobs}, {j.id for j in claims["b"].jobs}
    assert len(a) == len(b) == 3 and not a & b
    assert waited < 5  # skipped, not blocked until the other transaction ended


def test_an_expired_lease_is_taken_over_and_audited(catalog):
    _submit(catalog, 2)
    with catalog.writing() as session:
        dead = queue.claim(session, "host-a:1", 2, now=NOW, lease=60)
    with catalog.writing() as session:  # within the lease: nothing to take
        assert queue.claim(session, "host-b:2", 2, now=NOW + dt.timedelta(seconds=30)).jobs == []
    with catalog.writing() as session:  # a heartbeat keeps it
        assert queue.heartbeat(session, [dead.token], now=NOW + dt.timedelta(seconds=50), lease=60) == 2
    with catalog.writing() as session:
        assert queue.claim(session, "host-b:2", 2, now=NOW + dt.timedelta(seconds=100)).jobs == []
    later = NOW + dt.timedelta(seconds=111)  # the worker died: no beat since 50 s
    with catalog.writing() as session:
        taker = queue.claim(session, "host-b:2", 2, now=later)
    assert sorted(j.id for j in taker.jobs) == sorted(j.id for j in dead.jobs) == sorted(taker.taken_over)
    with catalog.writing() as session:  # the stalled worker wakes up: its claim is gone
        assert queue.complete(session, dead.token, {j.id: {"status": "ingested", "path": j.path} for j in dead.jobs}) == []
    with catalog.writing() as session:
        assert len(queue.complete(session, taker.token, {j.id: {"status": "ingested", "path": j.path} for j in taker.jobs})) == 2
    with catalog.reading() as session:
        events = [e for e in audit.iter_events(session) if e.action == "intake.lease_taken_over"]
        assert audit.verify(session).ok
    assert len(events) == 2
    assert {e.payload["previous_worker"] for e in events} == {"host-a:1"} and {e.payload["worker"] for e in events} == {"host-b:2"}


def test_a_job_that_keeps_killing_workers_is_given_up(catalog):
    (job_id,) = _submit(catalog, 1)
    moment = NOW
    for _ in range(queue.MAX_ATTEMPTS):
        with catalog.writing() as session:
            assert [j.id for j in queue.claim(session, "host-a:1", 1, now=moment, lease=10).jobs] == [job_id]
        moment += dt.timedelta(seconds=11)
    with catalog.writing() as session:
        last = queue.claim(session, "host-b:2", 1, now=moment, lease=10)
    assert last.jobs == [] and last.given_up == [job_id]
    with catalog.reading() as session:
        assert queue.job_states(session, [job_id])[job_id][0] == "failed"
        failed = [e for e in audit.iter_events(session) if e.action == "intake.job_failed"]
    assert [e.subject_id for e in failed] == [job_id] and failed[0].payload["attempts"] == queue.MAX_ATTEMPTS


def test_same_bytes_read_by_two_workers_become_one_source(installation, tmp_path, monkeypatch):
    """Worker B looked before worker A committed the same file under another path: B's
    copy becomes a duplicate of A's source when B commits, and B's stored copy goes."""
    from records.flows import ingest as flow
    from records.storage.models import Source

    (tmp_path / "a").mkdir()
    one = born_digital_pdf(tmp_path / "a" / "letter.pdf", [EMAIL_PAGE])
    two = tmp_path / "b" / "letter-copy.pdf"
    two.parent.mkdir()
    two.write_bytes(one.read_bytes())
    store_files = lambda: sorted(p.name for p in (installation.paths.home / "store").rglob("*") if p.is_file())  # noqa: E731
    before = store_files()
    (first,) = flow.process_batch(installation, [one], actor="system:test")
    after_first = store_files()
    real = flow.store.known_sources
    calls = []

    def stale_first_look(session, shas):  # B's look happened before A committed
        calls.append(shas)
        return {} if len(calls) == 1 else real(session, shas)

    monkeypatch.setattr(flow.store, "known_sources", stale_first_look)
    (second,) = flow.process_batch(installation, [two], actor="system:test")
    assert first.status == "ingested" and second.status == "duplicate" and second.id == first.id
    assert second.records == first.records
    with installation.catalog.reading() as session:
        assert session.query(Source).count() == 1
    assert store_files() == after_first and after_first != before  # B's copy was removed


def test_postgresql_makes_the_second_writer_wait_then_see_the_first_source(catalog):
    """The lock behind the test above, on PostgreSQL: a transaction adding the same bytes
    waits for the first to commit, then finds its source."""
    if catalog.is_sqlite:
        pytest.skip("SQLite's BEGIN IMMEDIATE excludes every other writer already")
    from records.storage import ingest as store
    from records.storage.models import Source

    sha = "ab" * 32
    seen: dict[str, object] = {}
    locked = threading.Event()
    go = threading.Event()

    def first() -> None:
        with catalog.writing() as session:
            assert store.lock_new_sources(session, [sha]) == {}
            locked.set()
            go.wait(10)
            session.add(Source(id="S-FIRST", sha256=sha, path="/a", size=1, status="ingested", received_at=NOW, received_by="t", updated_at=NOW))

    thread = threading.Thread(target=first)
    thread.start()
    assert locked.wait(10)

    def second() -> None:
        with catalog.writing() as session:
            seen["held"] = store.lock_new_sources(session, [sha])

    other = threading.Thread(target=second)
    other.start()
    time.sleep(0.5)
    assert "held" not in seen  # still waiting for the first transaction
    go.set()
    thread.join()
    other.join(10)
    assert seen["held"] == {sha: ("S-FIRST", [])}


def test_the_dask_runner_is_used_only_when_configured(installation, monkeypatch):
    """Off by default; records.toml's [scale] or RECORDS_TASK_RUNNER turn it on; a typo is
    a clear configuration error, not a silent fallback."""
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from records.errors import ConfigurationError
    from records.flows import claimed
    from records.storage.installation import open_installation

    monkeypatch.delenv("RECORDS_TASK_RUNNER", raising=False)
    monkeypatch.delenv("RECORDS_LANES", raising=False)
    monkeypatch.setenv("RECORDS_EXTRACT_WORKERS", "4")
    runner, lanes = claimed.task_runner(installation)
    assert isinstance(runner, ThreadPoolTaskRunner) and lanes == 2
    settings = installation.paths.settings_file
    settings.write_text(settings.read_text().replace('task_runner = "threads"', 'task_runner = "dask"').replace("dask_workers = 2", "dask_workers = 3"))
    runner, lanes = claimed.task_runner(open_installation(installation.paths.home))
    assert isinstance(runner, DaskTaskRunner) and lanes == 3
    assert runner.cluster_kwargs["n_workers"] == 3
    assert os.environ["RECORDS_EXTRACT_WORKERS"] == "1"  # each Dask process reads one file at a time
    monkeypatch.setenv("RECORDS_TASK_RUNNER", "threads")
    assert isinstance(claimed.task_runner(installation)[0], ThreadPoolTaskRunner)
    monkeypatch.setenv("RECORDS_TASK_RUNNER", "ray")
    with pytest.raises(ConfigurationError, match="ray"):
        claimed.task_runner(installation)


def test_a_live_stream_is_not_taken_for_a_crashed_one(installation, tmp_path):
    """On PostgreSQL a worker streaming an mbox holds its bytes: a second worker with a copy
    waits instead of writing the same messages alongside, then finds them held."""
    if installation.catalog.is_sqlite:
        pytest.skip("SQLite installations have one writer on one machine")
    import mailbox
    from email.message import EmailMessage

    from records.flows.ingest import process_batch
    from records.intake.pipeline import digest
    from records.storage import ingest as store

    box = mailbox.mbox(tmp_path / "mail.mbox")
    for n in range(3):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.net", "b@school.example.org", f"Note {n}"
        message["Message-ID"] = f"<stream-{n}@example.net>"
        message.set_content(f"Body {n}\n")
        box.add(message)
    box.close()
    copy = tmp_path / "copy.mbox"
    copy.write_bytes((tmp_path / "mail.mbox").read_bytes())
    reports: dict[str, list] = {}
    with store.streaming_lock(installation.catalog.engine, digest(copy).sha256):  # "another worker streams it"
        second = threading.Thread(target=lambda: reports.update(copy=process_batch(installation, [copy], actor="system:test")))
        second.start()
        second.join(1.5)
        assert second.is_alive()  # waiting, not streaming alongside
    second.join(60)
    (first,) = reports["copy"]
    (again,) = process_batch(installation, [tmp_path / "mail.mbox"], actor="system:test")
    assert first.status == "ingested" and len(first.records) == 3
    assert again.status == "duplicate" and again.id == first.id


def test_a_lane_says_it_polls_the_queue_until_it_stops(installation):
    """The readiness signal that whoever adds work reads (bench/scale.py, operators): the
    lane's own row in the catalog, whatever task runner it runs on; a lane that died without
    removing its row stops counting once its row is two leases old."""
    from records.flows import claimed

    catalog = installation.catalog
    with catalog.reading() as session:
        assert queue.lanes_polling(session) == 0
    lane = threading.Thread(target=claimed.intake_lane.fn, args=(str(installation.paths.home), 5, 5.0))  # waits 5 s for work
    lane.start()
    seen = False
    while lane.is_alive() and not seen:
        with catalog.reading() as session:
            seen = queue.lanes_polling(session) == 1
        time.sleep(0.05)
    lane.join(60)
    assert seen, "the lane never said it was polling"
    with catalog.reading() as session:
        assert queue.lanes_polling(session) == 0  # it removed its row when it stopped
    with catalog.writing() as session:
        queue.lane_started(session, "host-a:1:1", now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3 * queue.lease_seconds()))
    with catalog.reading() as session:
        assert queue.lanes_polling(session) == 0  # a dead lane's stale row
