"""Fault injection for ingest and disposal: kill the process, drop the database connection.

Shared by ``tests/test_faults.py`` (short runs, in CI) and ``bench/faults.py`` (long runs).

- ``run_killed`` forks a child that ingests a batch and kills it with SIGKILL after a
  delay: nothing of the child's own cleanup runs, as with the OOM killer or a power cut.
- ``dropping_connection`` makes the catalog's connection die at its Nth statement or
  commit: on PostgreSQL the server ends the backend (``pg_terminate_backend``), on
  SQLite the connection is closed under the transaction.
- ``check_consistent`` states what must hold after any fault: the chain verifies, every
  key and blob a row needs is there, no record is held twice; ``orphans`` lists what no
  row needs (the sweep's business).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, func, select, text

from records.storage import audit
from records.storage.db import dispose_engines
from records.storage.models import Record, Source
from records.storage.sweep import referenced, sweep

EMAILS = 5
MBOX_MESSAGES = 12
EXPECTED_PER_ROUND = EMAILS + MBOX_MESSAGES + 1  # records: emails, mbox messages, one printout
FINAL_STATUSES = {"ingested", "partial", "quarantined"}


class ConnectionDropped(Exception):
    """Raised by the SQLite stand-in when no server can end the connection for us."""


def _message(sender: str, subject: str, body: str, when: dt.datetime, tag: str) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = "Elena Marsh <emarsh@schools.example.org>"
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(when)
    message["Message-ID"] = f"<{tag}@mail.example.net>"
    message.set_content(body)
    return message


def make_round(folder: Path, number: int) -> list[Path]:
    """One round's files, all new: emails, an mbox (a streaming source) and a printout."""
    from tests.fixtures.printouts import born_digital_pdf

    folder.mkdir(parents=True, exist_ok=True)
    when = dt.datetime(2023, 10, 2, 14, 0, tzinfo=dt.UTC)
    files = []
    for i in range(EMAILS):
        message = _message("Ana Rivera <ana.rivera@example.net>", f"Homework {number}.{i}", f"Leo homework note {number}.{i}.", when + dt.timedelta(hours=i), f"r{number}-e{i}")
        path = folder / f"note{i}.eml"
        path.write_bytes(bytes(message))
        files.append(path)
    separator = b"From 1773664405479613283@xxx Tue Aug 08 12:36:29 +0000 2023\n"
    messages = [
        _message("Grace Kim <grace.kim@example.com>", f"Essay {number}.{i}", f"Will essay draft {number}.{i}.", when + dt.timedelta(days=i), f"r{number}-m{i}")
        for i in range(MBOX_MESSAGES)
    ]
    mbox = folder / "takeout.mbox"
    mbox.write_bytes(b"".join(separator + bytes(m).replace(b"\r\n", b"\n") + b"\n" for m in messages))
    files.append(mbox)
    files.append(born_digital_pdf(folder / "letter.pdf", [[f"Permission slip, round {number}", "Please sign and return by Friday."]]))
    return files


def _warm_up() -> None:
    """Import what ingest imports lazily (readers, libmagic, pypdf), once, before forking:
    otherwise every child pays seconds of imports and the kills land inside them."""
    import records.flows.ingest  # noqa: F401
    from records.intake import registry

    for reader in registry.readers():
        __import__(type(reader).__module__)
    import magic  # noqa: F401
    import pypdf  # noqa: F401


def in_child(work: Callable[[], object]) -> int:
    """Fork a child that runs ``work`` and exits (0 when it returned); return its pid.

    The parent's pooled connections are closed first so the child opens its own (a
    forked database connection is shared, and corrupts both sides). The parent must reap it.
    """
    dispose_engines()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        work()
        code = 0
    finally:
        os._exit(code)


def kill_after(pid: int, delay: float, *, took: list[float] | None = None) -> bool:
    """SIGKILL the child ``pid`` after ``delay`` seconds; say whether it died killed.

    ``took``: a child that finished first records its run time there (``took[0]`` keeps
    the shortest), so the next delays stay within a whole run as the runs get faster.
    """
    started = time.monotonic()
    deadline = started + delay
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if took is not None:
                took[0] = min(took[0], time.monotonic() - started)
            return False  # finished before the kill
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def ingest_in_child(home: Path, files: list[Path], *, stream_chunk: int = 4) -> int:
    """Fork a child that ingests ``files``; return its pid (see ``in_child``)."""
    _warm_up()

    def ingest() -> None:
        os.environ["RECORDS_EXTRACT_WORKERS"] = "1"  # read in this process: nothing to orphan
        import records.flows.ingest as flow
        from records.storage.installation import open_installation

        flow.STREAM_CHUNK = stream_chunk  # several chunks per mbox, so a kill can land between them
        flow.process_batch(open_installation(home), files, actor="system:faults")

    return in_child(ingest)


def run_killed(home: Path, files: list[Path], delay: float, *, stream_chunk: int = 4, took: list[float] | None = None) -> bool:
    """Ingest in a child and SIGKILL it after ``delay`` seconds; say whether it died killed."""
    return kill_after(ingest_in_child(home, files, stream_chunk=stream_chunk), delay, took=took)


def timed_child(home: Path, files: list[Path], *, stream_chunk: int = 4) -> float:
    """How long one un-killed child takes (to spread the kills over its whole run)."""
    _warm_up()
    started = time.monotonic()
    pid = ingest_in_child(home, files, stream_chunk=stream_chunk)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the un-killed ingest failed"
    return time.monotonic() - started


@contextmanager
def dropping_connection(catalog, at: int) -> Iterator[dict[str, int]]:  # type: ignore[no-untyped-def]
    """The catalog connection dies at its ``at``-th statement or commit (counted from 1)."""
    engine = catalog.engine
    seen = {"points": 0, "dropped": 0}
    postgres = engine.dialect.name == "postgresql"
    admin = None
    if postgres:
        from sqlalchemy import create_engine

        admin = create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=__import__("sqlalchemy.pool", fromlist=["NullPool"]).NullPool)

    def drop(dbapi_connection) -> None:  # type: ignore[no-untyped-def]
        seen["dropped"] += 1
        if postgres:
            assert admin is not None
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dbapi_connection.info.backend_pid})
        else:
            dbapi_connection.close()
            raise ConnectionDropped("the catalog connection was closed under the transaction")

    def point(dbapi_connection) -> None:  # type: ignore[no-untyped-def]
        seen["points"] += 1
        if seen["points"] == at:
            drop(dbapi_connection)

    def before_execute(connection, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        point(connection.connection.dbapi_connection)

    def before_commit(connection) -> None:  # type: ignore[no-untyped-def]
        point(connection.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", before_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", before_commit)
        if admin is not None:
            admin.dispose()
        engine.dispose()  # the dead connection must not go back to the pool


def check_consistent(installation, *, may_be_shredded: set[str] = frozenset()) -> list[str]:  # type: ignore[no-untyped-def, assignment]
    """What is wrong after a fault (empty when nothing): chain, dangling references, doubles.

    ``may_be_shredded``: keys and blobs of records an interrupted disposal was destroying
    (their content goes before their tombstone commits; the rerun finishes them).
    """
    problems = []
    content = installation.content
    held_keys = {key_id for key_id, _ in content.keystore.inventory()}
    held_blobs = {blob_id for blob_id, _ in content.blobs.inventory()}
    with installation.catalog.reading() as session:
        verification = audit.verify(session)
        if not verification.ok:
            problems.append(f"audit chain broken at {verification.first_bad_seq}: {verification.reason}")
        key_refs, blob_refs = referenced(session)
        statuses = Counter(session.execute(select(Source.status)).scalars())
        doubles = session.execute(
            select(Record.dedupe_key, func.count()).where(Record.dedupe_key.is_not(None), Record.status != "destroyed").group_by(Record.dedupe_key).having(func.count() > 1)
        ).all()
        shas = session.execute(select(Source.sha256, func.count()).group_by(Source.sha256).having(func.count() > 1)).all()
    if key_refs - held_keys - may_be_shredded:
        problems.append(f"rows name keys that are gone: {sorted(key_refs - held_keys)[:5]}")
    if blob_refs - held_blobs - may_be_shredded:
        problems.append(f"rows name blobs that are gone: {sorted(blob_refs - held_blobs)[:5]}")
    unexpected = set(statuses) - FINAL_STATUSES - {"ingesting"}
    if unexpected:
        problems.append(f"sources in unexpected states: {unexpected}")
    if doubles:
        problems.append(f"records held twice: {doubles[:5]}")
    if shas:
        problems.append(f"files held as two sources: {shas[:5]}")
    return problems


def orphans(installation) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What no row needs (keys, blobs, temporary files), at any age."""
    with installation.catalog.reading() as session:
        report = sweep(session, installation.content, actor="test", grace=dt.timedelta(0), dry_run=True)
    return {"keys": len(report.orphan_keys), "blobs": len(report.orphan_blobs), "temporaries": report.temporaries}


def sweep_now(installation) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The recovery a restart runs: ``records sweep --grace-hours 0`` (nothing else running)."""
    with installation.catalog.writing() as session:
        report = sweep(session, installation.content, actor="system:faults", grace=dt.timedelta(0))
    return {"keys": len(report.orphan_keys), "blobs": len(report.orphan_blobs), "temporaries": report.temporaries}


def final_counts(reports) -> dict[str, tuple[str, int]]:  # type: ignore[no-untyped-def]
    """file name within its round → (status, records) from a recovery run's reports."""
    return {f"{Path(r.path).parent.name}/{Path(r.path).name}": (r.status, len(r.records)) for r in reports}
