"""Blob packs: the records cut from one chunk of a stream share a file, not a fate.

A clerk destroying one email of a large mbox must find it gone, unreadable from the
store, while its pack mates stay readable; a crash while writing a pack or while
destroying one member never leaves anything half-done that a rerun does not finish.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from records.flows.ingest import process_batch
from records.storage import blobstore
from records.storage.blobstore import BlobMissing, FolderBlobStore
from records.storage.content import ContentCorrupted, ContentStore
from records.storage.destroy import destroy_record
from records.storage.keystore import KeyDestroyed, KeyStore
from records.storage.models import AuditEventRow, Record, Tombstone

REPO = Path(__file__).resolve().parents[1]
BODY = b"Jordan's IEP meeting moves to Tuesday at 3 pm in room 12. " * 40


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    keystore = KeyStore(tmp_path / "keys")
    keystore.create()
    return ContentStore(keystore, FolderBlobStore(tmp_path / "store"))


def _packed_records(store: ContentStore, count: int) -> list[str]:
    """``count`` records' content and text written into one pack; their key ids."""
    keys = store.new_keys(count)
    pack_id = blobstore.pack_of(f"{keys[0][0]}.blob")
    assert pack_id is not None
    with store.blobs.pack(pack_id) as pack:
        for n, (key_id, primitive) in enumerate(keys):
            store.put(key_id, io.BytesIO(BODY + bytes([n])), primitive=primitive, pack=pack)
            store.put_text(key_id, f"record {n}", primitive=primitive, pack=pack)
    return [key_id for key_id, _ in keys]


def _store_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_records_of_a_pack_are_read_and_destroyed_one_by_one(store: ContentStore, tmp_path: Path) -> None:
    first, second, third = _packed_records(store, 3)
    [pack_file] = _store_files(tmp_path / "store")  # six blobs, one file
    assert pack_file.suffix == ".pack" and oct(pack_file.stat().st_mode & 0o777) == "0o600"
    for n, key_id in enumerate((first, second, third)):
        assert store.open(key_id, f"{key_id}.blob").read() == BODY + bytes([n])
        assert store.read_text(key_id, f"{key_id}.text") == f"record {n}"
    # Each member is its own ciphertext under its own key: a pack mate's key cannot open it.
    with pytest.raises(ContentCorrupted):
        store.open(second, f"{first}.blob").read()
    with store.blobs.reader(f"{first}.blob") as raw:
        ciphertext = raw.read()
    assert BODY[:40] not in pack_file.read_bytes()

    before = pack_file.read_bytes()
    store.keystore.destroy(first)
    assert store.blobs.delete(f"{first}.blob") and store.blobs.delete(f"{first}.text")
    after = pack_file.read_bytes()
    assert len(after) == len(before) and ciphertext in before and ciphertext not in after
    assert first.encode() not in after and second.encode() in after
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) >= len(ciphertext) and all(after[i] == 0 for i in changed)  # zeroed in place, nothing else touched
    with pytest.raises(BlobMissing):
        store.blobs.reader(f"{first}.blob")
    assert not store.blobs.exists(f"{first}.text") and store.blobs.delete(f"{first}.blob") is False
    assert store.open(second, f"{second}.blob").read() == BODY + bytes([1])
    assert store.read_text(third, f"{third}.text") == "record 2"

    for key_id in (second, third):
        for kind in ("blob", "text"):
            store.blobs.delete(f"{key_id}.{kind}")
    assert _store_files(tmp_path / "store") == []  # the pack went with its last member


def test_a_failed_member_or_pack_leaves_nothing_behind(store: ContentStore, tmp_path: Path) -> None:
    blobs = store.blobs
    with blobs.pack("K-PACK") as pack:
        with pytest.raises(RuntimeError), pack.writer("K-PACK_0.blob") as file:
            file.write(b"x" * (3 * 1024 * 1024))  # large enough to stream into the pack file
            raise RuntimeError("the reader failed mid-message")
        with pack.writer("K-PACK_1.blob") as file:
            file.write(b"kept")
        with pytest.raises(ValueError):
            pack.writer("K-OTHER_1.blob").__enter__()  # a member's id names its pack
    assert not blobs.exists("K-PACK_0.blob")
    assert blobs.reader("K-PACK_1.blob").read() == b"kept"

    with pytest.raises(RuntimeError), blobs.pack("K-LOST") as pack:
        with pack.writer("K-LOST_0.blob") as file:
            file.write(b"never stored")
        raise RuntimeError("the chunk failed")
    assert not blobs.exists("K-LOST_0.blob")
    assert [p.name for p in _store_files(tmp_path / "store")] == ["K-PACK.pack"]


def _child(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import io, os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from records.storage import blobstore
        from records.storage.blobstore import FolderBlobStore
        blobs = FolderBlobStore(Path({str(tmp_path / "store")!r}))
        def die(*_):
            os.kill(os.getpid(), signal.SIGKILL)
        """
    ) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_a_pack_killed_while_written_is_never_readable_and_its_leftover_goes(tmp_path: Path) -> None:
    done = _child(
        tmp_path,
        """
        with blobs.pack("K-KILLED") as pack:
            for n in range(3):
                with pack.writer(f"K-KILLED_{n}.blob") as file:
                    file.write(b"ciphertext %d" % n * 1000)
            die()
        """,
    )
    assert done.returncode == -9, done.stderr
    blobs = FolderBlobStore(tmp_path / "store")
    [leftover] = _store_files(tmp_path / "store")
    assert leftover.name.startswith(".K-KILLED.") and leftover.name.endswith(".tmp")
    for n in range(3):
        assert not blobs.exists(f"K-KILLED_{n}.blob")  # the catalog never referred to them either
    assert blobs.delete("K-KILLED_0.blob") is True  # the cleanup of that chunk removes the leftover
    assert _store_files(tmp_path / "store") == []


def test_a_destroy_killed_between_ciphertext_and_id_is_finished_by_the_next_call(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path / "store")
    with blobs.pack("K-P") as pack:
        for n in range(2):
            with pack.writer(f"K-P_{n}.blob") as file:
                file.write(b"secret %d " % n * 500)
    pack_file = blobs._pack_path("K-P")
    done = _child(
        tmp_path,
        """
        real = blobstore._zero
        calls = []
        def zero_then_die(fd, start, end):
            calls.append(start)
            if len(calls) == 2:  # the ciphertext is zeroed, the id not yet
                die()
            real(fd, start, end)
        blobstore._zero = zero_then_die
        blobs.delete("K-P_0.blob")
        """,
    )
    assert done.returncode == -9, done.stderr
    data = pack_file.read_bytes()
    assert b"secret 0" not in data and b"K-P_0.blob" in data and b"secret 1" in data
    assert blobs.delete("K-P_0.blob") is True  # found by its id, finished
    assert b"K-P_0.blob" not in pack_file.read_bytes() and blobs.reader("K-P_1.blob").read() == b"secret 1 " * 500
    assert blobs.delete("K-P_1.blob") is True and not pack_file.exists()


def _message(n: int) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "Ana Rivera <ana.rivera@example.net>"
    message["To"] = "Elena Rivera <erivera@schools.example.org>"
    message["Subject"] = f"Homework week {n}"
    message["Date"] = email.utils.format_datetime(dt.datetime(2024, 3, 1 + n, 15, 0, tzinfo=dt.UTC))
    message["Message-ID"] = f"<hw{n}@mail.example.net>"
    message.set_content(f"Maya finished the reading log for week {n}.")
    return b"From ana@example.net Tue Aug 08 12:36:29 2023\n" + bytes(message).replace(b"\r\n", b"\n") + b"\n"


def test_an_mbox_is_stored_in_packs_and_one_email_destroyed_alone(installation, tmp_path: Path) -> None:
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(b"".join(_message(n) for n in range(5)))
    [report] = process_batch(installation, [mbox], actor="system:test")
    assert report.status == "ingested" and len(report.records) == 5
    content = installation.content
    store_root = content.blobs.root
    packs = [p for p in _store_files(store_root) if p.suffix == ".pack"]
    singles = [p for p in _store_files(store_root) if p.suffix != ".pack"]
    assert len(packs) == 1 and len(singles) == 1  # the five emails' blobs and texts, and the mbox itself
    with installation.catalog.reading() as session:
        rows = {r.id: (r.key_id, r.blob_id, r.text_blob_id) for r in session.scalars(select(Record))}
    gone, *kept = sorted(rows)

    class Killed(BaseException):
        pass

    real_zero = blobstore._zero
    calls: list[int] = []

    def zero_then_die(fd: int, start: int, end: int) -> None:
        calls.append(start)
        real_zero(fd, start, end)
        raise Killed("after the ciphertext")

    blobstore._zero = zero_then_die
    try:
        with pytest.raises(Killed), installation.catalog.writing() as session:
            destroy_record(session, content, gone, actor="officer", reason="retention")
    finally:
        blobstore._zero = real_zero
    with installation.catalog.writing() as session:
        result = destroy_record(session, content, gone, actor="officer", reason="retention")
    assert not result.already_destroyed
    key_id, blob_id, text_id = rows[gone]
    with pytest.raises(KeyDestroyed):
        content.read_text(key_id, text_id)
    assert not content.blobs.exists(blob_id) and not content.blobs.exists(text_id)
    assert blob_id.encode() not in packs[0].read_bytes()
    for record_id in kept:
        key_id, blob_id, text_id = rows[record_id]
        assert "reading log" in content.read_text(key_id, text_id)
        assert b"reading log" in content.open(key_id, blob_id).read()
    with installation.catalog.reading() as session:
        assert session.scalar(select(func.count()).select_from(Tombstone)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEventRow).where(AuditEventRow.action == "record.destroyed")) == 1


def test_the_sweep_removes_a_pack_no_row_names_and_keeps_the_ingested_ones(installation, tmp_path: Path) -> None:
    """A pack written by a batch that was killed before its commit is an orphan like any blob."""
    from records.storage.sweep import sweep

    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(b"".join(_message(n) for n in range(3)))
    [report] = process_batch(installation, [mbox], actor="system:test")
    content = installation.content
    orphan_keys = _packed_records(content, 2)  # stored, never committed: no row names them
    packs_dir = content.blobs.root / blobstore.PACKS
    leftover = next(packs_dir.glob("*/")) / ".K-leftover.0123456789abcdef.tmp"
    leftover.write_bytes(b"half a pack")
    with installation.catalog.writing() as session:
        swept = sweep(session, content, actor="system:test", grace=dt.timedelta(0))
    assert sorted(swept.orphan_blobs) == sorted(f"{k}.{kind}" for k in orphan_keys for kind in ("blob", "text"))
    assert swept.temporaries == 1 and not leftover.exists()
    assert len([p for p in _store_files(content.blobs.root) if p.suffix == ".pack"]) == 1  # the mbox's only
    with installation.catalog.reading() as session:
        rows = [(r.key_id, r.text_blob_id) for r in session.scalars(select(Record).where(Record.id.in_(report.records)))]
    assert all("reading log" in content.read_text(key_id, text_id) for key_id, text_id in rows)


def test_a_store_backup_copies_a_pack_again_once_a_member_is_zeroed(store: ContentStore, tmp_path: Path) -> None:
    """Hard-linking an unchanged file is safe; a pack zeroed in place since is not unchanged."""
    from records.storage.backup import _copy_tree

    first, second = _packed_records(store, 2)
    root = store.blobs.root
    _copy_tree(root, tmp_path / "b1", link_from=None)
    _copy_tree(root, tmp_path / "b2", link_from=tmp_path / "b1")
    [(b1_pack, b2_pack)] = [(p, tmp_path / "b2" / p.relative_to(tmp_path / "b1")) for p in _store_files(tmp_path / "b1")]
    assert b1_pack.stat().st_ino == b2_pack.stat().st_ino  # unchanged: linked
    store.blobs.delete(f"{first}.blob")
    _copy_tree(root, tmp_path / "b3", link_from=tmp_path / "b2")
    b3_pack = tmp_path / "b3" / b2_pack.relative_to(tmp_path / "b2")
    assert b3_pack.stat().st_ino != b2_pack.stat().st_ino
    assert f"{first}.blob".encode() not in b3_pack.read_bytes()
    assert f"{first}.blob".encode() in b2_pack.read_bytes()  # an earlier backup is a snapshot: never rewritten
