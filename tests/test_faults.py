"""Faults during ingest and disposal: a killed process, a dropped connection, a full disk.

After any of them, and the recovery a restart runs (``records sweep``, then the same
ingest again), every file is held whole or not at all: no row names content that is
gone, no content is left that no row names, nothing is held twice, the chain verifies.
CI runs eight faults of each kind per backend (``RECORDS_FAULT_ROUNDS``); ``bench/faults.py``
runs hundreds.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

import records.flows.ingest as ingest_flow
from records.errors import DiskFull
from records.flows.disposal import execute_batch
from records.storage import audit
from records.storage.models import AuditEventRow, Record, Source
from tests import fault_injection as faults
from tests.cli_helpers import run, setup_users

ROUNDS = int(os.environ.get("RECORDS_FAULT_ROUNDS", "8"))


def _expected(name: str) -> int:
    return faults.MBOX_MESSAGES if name.endswith(".mbox") else 1


def _recover_and_check(installation, folders: list[Path], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A restart: sweep, then ingest every round again; each file ends whole, exactly once."""
    faults.sweep_now(installation)
    monkeypatch.setattr(ingest_flow, "STREAM_CHUNK", 4)
    files = [f for folder in folders for f in sorted(folder.iterdir())]
    reports = ingest_flow.process_batch(installation, files, actor="system:recovery")
    for name, (status, count) in faults.final_counts(reports).items():
        assert status in ("ingested", "duplicate"), (name, status)
        assert count == _expected(name), (name, count)
    assert faults.check_consistent(installation) == []
    assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}
    with installation.catalog.reading() as session:
        assert session.execute(select(func.count()).select_from(Source).where(Source.status == "ingesting")).scalar_one() == 0
        records = session.execute(select(func.count()).select_from(Record)).scalar_one()
    assert records == len(folders) * faults.EXPECTED_PER_ROUND


def test_ingest_killed_anywhere_leaves_each_file_whole_or_absent(installation, tmp_path, monkeypatch):
    home = installation.paths.home
    folders = [tmp_path / f"round{n}" for n in range(ROUNDS + 1)]
    took = [faults.timed_child(home, faults.make_round(folders[0], 0))]
    rng = random.Random(8)
    killed = 0
    for number, folder in enumerate(folders[1:], start=1):
        files = faults.make_round(folder, number)
        killed += faults.run_killed(home, files, rng.uniform(0, took[0] * 1.2), took=took)
        assert faults.check_consistent(installation) == [], f"after kill {number}"
        faults.sweep_now(installation)
        assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}
    assert killed >= ROUNDS // 2, f"only {killed} of {ROUNDS} children were killed mid-way: the kills came too late"
    _recover_and_check(installation, folders, monkeypatch)


def test_a_kill_between_storing_and_committing_is_swept_with_an_audit_event(installation, tmp_path, monkeypatch):
    """The worst moment: every key and blob written, the transaction not committed."""
    import records.storage.ingest as store

    real = store.append_events

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGKILL)

    files = faults.make_round(tmp_path / "round0", 0)
    monkeypatch.setattr(store, "append_events", die)
    pid = faults.ingest_in_child(installation.paths.home, files)
    _, status = os.waitpid(pid, 0)
    monkeypatch.setattr(store, "append_events", real)
    assert os.WIFSIGNALED(status)
    assert faults.check_consistent(installation) == []
    left = faults.orphans(installation)
    assert left["keys"] > 0 and left["blobs"] > 0, left
    # Inside the grace period nothing goes: another process may be about to commit it.
    assert run("sweep", "--json").json()["orphan_keys"] == []
    swept = run("sweep", "--grace-hours", "0", "--json")
    assert swept.exit_code == 0, swept.stderr
    assert len(swept.json()["orphan_keys"]) == left["keys"] and len(swept.json()["orphan_blobs"]) == left["blobs"]
    assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}
    with installation.catalog.reading() as session:
        event = session.execute(select(AuditEventRow).where(AuditEventRow.action == "store.swept")).scalar_one()
        assert '"keys":' in event.payload and audit.verify(session).ok
    _recover_and_check(installation, [tmp_path / "round0"], monkeypatch)


def test_connection_dropped_anywhere_during_ingest(installation, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_flow, "STREAM_CHUNK", 4)
    folders = [tmp_path / f"round{n}" for n in range(ROUNDS + 1)]
    with faults.dropping_connection(installation.catalog, at=10**9) as seen:
        ingest_flow.process_batch(installation, faults.make_round(folders[0], 0), actor="system:faults")
    points = seen["points"]
    rng = random.Random(9)
    failed = 0
    for number, folder in enumerate(folders[1:], start=1):
        files = faults.make_round(folder, number)
        with faults.dropping_connection(installation.catalog, at=rng.randint(1, points)):
            try:
                ingest_flow.process_batch(installation, files, actor="system:faults")
            except Exception:  # noqa: BLE001 - whichever error the dead connection raised
                failed += 1
        assert faults.check_consistent(installation) == [], f"after drop {number}"
        # The process lived: its own cleanup removed what the failed transaction had stored.
        assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}, f"after drop {number}"
    assert failed >= ROUNDS // 2
    _recover_and_check(installation, folders, monkeypatch)


def _approved_batch(installation, tmp_path, count: int) -> tuple[dict, list[str], set[str]]:  # type: ignore[no-untyped-def]
    """A STU-TEMPORARY batch of ``count`` of Leo's old emails, proposed and approved by two
    officers; its record ids, and the keys and blobs its execution will shred."""
    from tests.test_classification_flow import _email, _ingest
    from tests.test_disposal import WHEN, _setup

    _setup(tmp_path)
    files = [_email(tmp_path / f"leo{i}.eml", "Ana Rivera <ana.rivera@example.net>", f"Leo {i}", f"Leo homework note number {i}.", WHEN + dt.timedelta(hours=i)) for i in range(count)]
    ids = [record for found in _ingest(installation, *files).values() for record in found]
    batch = next(b for b in run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] if b["series"] == "STU-TEMPORARY")
    assert run("dispose", "approve", batch["batch_id"], "--authorization", "SPR-1", "--actor", "omar").exit_code == 0
    with installation.catalog.reading() as session:
        rows = session.execute(select(Record.key_id, Record.blob_id, Record.text_blob_id).where(Record.id.in_(ids))).all()
    return batch, ids, {value for row in rows for value in row if value}


def test_connection_dropped_during_disposal_destroys_each_record_exactly_once(installation, tmp_path):
    batch, ids, shredding = _approved_batch(installation, tmp_path, 6)
    rng = random.Random(10)
    for _ in range(6):
        with faults.dropping_connection(installation.catalog, at=rng.randint(1, 40)):
            try:
                execute_batch(installation, batch["batch_id"], actor="omar")
            except Exception:  # noqa: BLE001
                pass
        assert faults.check_consistent(installation, may_be_shredded=shredding) == []
    final = execute_batch(installation, batch["batch_id"], actor="omar")
    assert sorted(final["destroyed"]) == sorted(ids)
    with installation.catalog.reading() as session:
        destroyed = list(session.execute(select(AuditEventRow.subject_id).where(AuditEventRow.action == "record.destroyed")).scalars())
    assert sorted(destroyed) == sorted(ids)  # exactly once each
    assert faults.orphans(installation)["keys"] == 0  # no destroyed record's key survives
    assert run("audit", "verify").exit_code == 0


def test_disposal_killed_anywhere_destroys_each_record_exactly_once(installation, tmp_path):
    """SIGKILL of the process executing a batch (no cleanup of its own runs), many times."""
    from records.storage.installation import open_installation

    batch, ids, shredding = _approved_batch(installation, tmp_path, 3 * ROUNDS + 1)  # a round destroys 3 at most
    home = installation.paths.home
    rng = random.Random(11)

    def execute_until_killed(at: int, after_shred: bool) -> None:
        """Run the batch; at the ``at``-th record, SIGKILL this process before its key is
        shredded or just after (key gone, no tombstone yet, transaction open)."""
        import records.storage.destroy as destroy

        real, calls = destroy._shred, [0]

        def shred(content, record):  # type: ignore[no-untyped-def]
            calls[0] += 1
            if calls[0] == at and not after_shred:
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(content, record)
            if calls[0] == at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        destroy._shred = shred
        execute_batch(open_installation(home), batch["batch_id"], actor="omar")

    killed = 0
    for _ in range(ROUNDS):
        at, after_shred = rng.randint(1, 4), rng.random() < 0.5
        pid = faults.in_child(lambda: execute_until_killed(at, after_shred))
        _, status = os.waitpid(pid, 0)
        killed += os.WIFSIGNALED(status)
        assert faults.check_consistent(installation, may_be_shredded=shredding) == []
        with installation.catalog.reading() as session:
            destroyed = list(session.execute(select(AuditEventRow.subject_id).where(AuditEventRow.action == "record.destroyed")).scalars())
        assert len(destroyed) == len(set(destroyed)), "a record was destroyed twice"
    final = execute_batch(installation, batch["batch_id"], actor="omar")
    assert set(final["destroyed"]) <= set(ids)
    with installation.catalog.reading() as session:
        destroyed = list(session.execute(select(AuditEventRow.subject_id).where(AuditEventRow.action == "record.destroyed")).scalars())
        statuses = set(session.execute(select(Record.status).where(Record.id.in_(ids))).scalars())
    assert sorted(destroyed) == sorted(ids) and statuses == {"destroyed"}  # each exactly once
    assert killed == ROUNDS, "every child must die inside the batch"
    assert faults.orphans(installation)["keys"] == 0  # no destroyed record's key survives
    assert run("audit", "verify").exit_code == 0


# --- a full disk ------------------------------------------------------------------------


def _big_email(path: Path, tag: str, size: int) -> Path:
    message = faults._message("Ana Rivera <ana.rivera@example.net>", f"Scans {tag}", "The scans you asked for.", dt.datetime(2023, 10, 2, tzinfo=dt.UTC), tag)
    message.add_attachment(os.urandom(size), maintype="application", subtype="octet-stream", filename="scan.bin")
    path.write_bytes(bytes(message))
    return path


def _state(installation) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    with installation.catalog.reading() as session:
        sources = session.execute(select(func.count()).select_from(Source)).scalar_one()
        verification = audit.verify(session)
    assert verification.ok
    return sources, verification.events, verification.head


def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.parametrize("how", ["tmpfs", "injected"])
def test_a_full_disk_fails_clearly_changes_nothing_and_the_retry_works(installation, tmp_path, monkeypatch, how):
    from records.storage.blobstore import FolderBlobStore, _WatchedFile
    from records.storage.content import ContentStore

    before_file = _big_email(tmp_path / "small.eml", "small", 1000)
    first = ingest_flow.process_batch(installation, [before_file], actor="system:test")
    kept_record = first[0].records[0]
    mount = tmp_path / "volume"
    mounted = how == "tmpfs" and _tmpfs(mount, "256k")
    if how == "tmpfs" and not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root): the injected variant covers the same path")
    try:
        if mounted:
            # The store moves to a 256 KiB volume: the attachment below does not fit.
            for blob_id, _ in installation.content.blobs.inventory():
                with installation.content.blobs.reader(blob_id) as original, FolderBlobStore(mount).writer(blob_id) as copy:
                    copy.write(original.read())
            installation.content = ContentStore(installation.keystore, FolderBlobStore(mount))
        else:
            real_write = _WatchedFile.write

            def full(self, data):  # type: ignore[no-untyped-def]
                if len(data) > 100_000:
                    self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    raise self.error
                return real_write(self, data)

            monkeypatch.setattr(_WatchedFile, "write", full)
        before = _state(installation)
        big = _big_email(tmp_path / "scans.eml", "big", 600_000)
        with pytest.raises(DiskFull) as failure:
            ingest_flow.process_batch(installation, [big], actor="system:test")
        message = str(failure.value)
        assert "scans.eml" in message and "full" in message and "run the same command again" in message
        assert _state(installation) == before  # no row, no event
        assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}
        with installation.content.open(*_key_and_blob(installation, kept_record)) as reader:
            assert b"The scans you asked for." in reader.read()  # what was stored before reads as before
        # Space comes back; the same file goes in.
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
        else:
            monkeypatch.undo()
        again = ingest_flow.process_batch(installation, [big], actor="system:test")
        assert again[0].status == "ingested" and len(again[0].records) == 2  # the message and its attachment
        assert faults.check_consistent(installation) == []
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _key_and_blob(installation, record_id: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with installation.catalog.reading() as session:
        record = session.get(Record, record_id)
        return record.key_id, record.blob_id


def test_a_full_catalog_volume_is_one_clear_line(installation, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    import records.doctor

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT INTO audit_events ...", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(records.doctor, "diagnose", full)
    outcome = run("doctor")
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and "volume is full" in outcome.stderr and "run the same command again" in outcome.stderr


def test_a_commit_whose_answer_is_lost_keeps_the_content_it_committed(installation, tmp_path, monkeypatch):
    """The connection dies after the server committed but before the answer came back: the
    batch looks failed to us, yet its rows exist. Its cleanup must not delete their content."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    lost: list[bool] = []

    def mark(session, flush_context) -> None:  # type: ignore[no-untyped-def]
        if any(isinstance(row, Source) for row in session.new):
            session.info["wrote_sources"] = True

    def answer_lost(session) -> None:  # type: ignore[no-untyped-def]
        if session.info.pop("wrote_sources", False) and not lost:
            lost.append(True)
            raise faults.ConnectionDropped("the server's answer to COMMIT was lost")

    monkeypatch.setattr(ingest_flow, "STREAM_CHUNK", 4)
    files = faults.make_round(tmp_path / "round0", 0)
    event.listen(Session, "after_flush", mark)
    event.listen(Session, "after_commit", answer_lost)
    try:
        with pytest.raises(faults.ConnectionDropped):
            ingest_flow.process_batch(installation, files, actor="system:faults")
    finally:
        event.remove(Session, "after_flush", mark)
        event.remove(Session, "after_commit", answer_lost)
    assert lost
    assert faults.check_consistent(installation) == []  # every committed row's content is there
    _recover_and_check(installation, [tmp_path / "round0"], monkeypatch)


def test_records_ingest_on_a_full_disk_prints_one_line_and_is_not_retried(installation, tmp_path, monkeypatch, prefect_server):
    from records.storage.blobstore import _WatchedFile

    setup_users()
    attempts: list[int] = []

    def full(self, data):  # type: ignore[no-untyped-def]
        attempts.append(len(data))
        self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise self.error

    monkeypatch.setattr(_WatchedFile, "write", full)
    outcome = run("ingest", str(_big_email(tmp_path / "scans.eml", "big", 2000)), "--json")
    assert outcome.exit_code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith("error: the store at ") and "scans.eml" in outcome.stderr and outcome.stderr.count("\n") == 1
    assert len(attempts) == 1  # Prefect's retries are for dropped connections, not for a disk that stays full
