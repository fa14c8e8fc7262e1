"""The encrypted content store, the key store, and the destroy primitive."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from records.config import Paths
from records.errors import ConfigurationError, NotFound, RecordsError
from records.storage import audit
from records.storage.blobstore import BlobMissing, FolderBlobStore, open_blob_store
from records.storage.content import ContentCorrupted, ContentStore
from records.storage.db import Catalog
from records.storage.destroy import destroy_record
from records.storage.keystore import KeyDestroyed, KeyStore
from records.storage.models import AuditEventRow, Record, Source, Tombstone

REPO = Path(__file__).resolve().parents[1]
PLAIN = b"Dear Ms. Alvarez, Jordan's IEP meeting is moved to Tuesday. " * 50


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    keystore = KeyStore(tmp_path / "keys")
    keystore.create()
    return ContentStore(keystore, FolderBlobStore(tmp_path / "store"))


def _blob_file(content: ContentStore, blob_id: str) -> Path:
    blobs = content.blobs
    assert isinstance(blobs, FolderBlobStore)
    return blobs._path(blob_id)


# --- content -------------------------------------------------------------------------


def test_bytes_and_text_round_trip(store: ContentStore) -> None:
    store.keystore.new_key("K-1")
    stored = store.put("K-1", io.BytesIO(PLAIN))
    assert stored.blob_id == "K-1.blob"
    assert stored.size == len(PLAIN)
    assert stored.sha256 == hashlib.sha256(PLAIN).hexdigest()
    with store.open("K-1", stored.blob_id) as reader:
        assert reader.read() == PLAIN

    text = "Réunion déplacée à mardi — Jordan 🙂"
    text_id = store.put_text("K-1", text)
    assert text_id == "K-1.text"
    assert store.read_text("K-1", text_id) == text

    store.keystore.new_key("K-empty")
    empty = store.put("K-empty", io.BytesIO(b""))
    assert empty.size == 0
    assert store.open("K-empty", empty.blob_id).read() == b""


def test_put_needs_an_existing_key_unless_ensured(store: ContentStore) -> None:
    with pytest.raises(KeyDestroyed):
        store.put("K-none", io.BytesIO(b"x"))
    store.ensure_key("K-none")
    store.ensure_key("K-none")  # a second call reuses the key
    stored = store.put("K-none", io.BytesIO(b"x"))
    assert store.open("K-none", stored.blob_id).read() == b"x"


def test_each_record_has_its_own_key_and_blobs_hold_no_plaintext(store: ContentStore) -> None:
    store.keystore.new_key("K-a")
    store.keystore.new_key("K-b")
    a = store.put("K-a", io.BytesIO(PLAIN), blob_id="same-a")
    b = store.put("K-b", io.BytesIO(PLAIN), blob_id="same-b")
    raw_a = _blob_file(store, a.blob_id).read_bytes()
    raw_b = _blob_file(store, b.blob_id).read_bytes()
    assert raw_a != raw_b
    for raw in (raw_a, raw_b):
        assert b"Alvarez" not in raw and b"IEP" not in raw
    text_id = store.put_text("K-a", "Jordan Alvarez, grade 7")
    assert b"Alvarez" not in _blob_file(store, text_id).read_bytes()
    # One record's key cannot open another's blob.
    with pytest.raises(ContentCorrupted):
        store.open("K-b", a.blob_id).read()


def test_tampered_or_truncated_blob_fails(store: ContentStore) -> None:
    store.keystore.new_key("K-t")
    data = os.urandom(3 * 1024 * 1024 + 17)  # several 1 MiB segments
    stored = store.put("K-t", io.BytesIO(data))
    file = _blob_file(store, stored.blob_id)
    original = file.read_bytes()

    for position in (10, len(original) // 2, len(original) - 1):
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        file.write_bytes(bytes(damaged))
        with pytest.raises(ContentCorrupted) as caught:
            store.open("K-t", stored.blob_id).read()
        assert isinstance(caught.value, RecordsError)
        assert stored.blob_id in str(caught.value)

    file.write_bytes(original[:-100])
    with pytest.raises(ContentCorrupted):
        store.open("K-t", stored.blob_id).read()
    file.write_bytes(original)
    assert hashlib.sha256(store.open("K-t", stored.blob_id).read()).hexdigest() == stored.sha256


def test_swapped_blobs_fail_on_associated_data(store: ContentStore) -> None:
    """Same key, two blobs: only the associated data (the blob id) tells them apart."""
    store.keystore.new_key("K-s")
    body = store.put("K-s", io.BytesIO(PLAIN))
    text_id = store.put_text("K-s", "extracted text")
    body_file, text_file = _blob_file(store, body.blob_id), _blob_file(store, text_id)
    body_bytes, text_bytes = body_file.read_bytes(), text_file.read_bytes()
    body_file.write_bytes(text_bytes)
    text_file.write_bytes(body_bytes)
    with pytest.raises(ContentCorrupted):
        store.open("K-s", body.blob_id).read()
    with pytest.raises(ContentCorrupted):
        store.read_text("K-s", text_id)


_BIG_SCRIPT = r"""
import hashlib, io, json, os, resource, sys
from pathlib import Path

from records.storage.blobstore import FolderBlobStore
from records.storage.content import CHUNK, ContentStore
from records.storage.keystore import KeyStore


class RandomSource(io.RawIOBase):
    # Random bytes made on demand: the input itself never sits in memory.
    def __init__(self, total):
        super().__init__()
        self.left = total
        self.digest = hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        data = os.urandom(n)
        buffer[:n] = data
        self.digest.update(data)
        self.left -= n
        return n


def rss_kib():
    # Peak RSS in KiB. Linux carries ru_maxrss across execve, so a child of a big pytest
    # process starts with the parent's peak; VmHWM belongs to this process image alone.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


root, total = Path(sys.argv[1]), int(sys.argv[2])
store = ContentStore(KeyStore(root / "keys"), FolderBlobStore(root / "store"))
store.keystore.create()
store.keystore.new_key("K-big")
baseline, baseline_maxrss = rss_kib(), maxrss_kib()
source = RandomSource(total)
stored = store.put("K-big", source)
after_put = rss_kib()
out, size = hashlib.sha256(), 0
with store.open("K-big", stored.blob_id) as reader:
    while chunk := reader.read(CHUNK):
        out.update(chunk)
        size += len(chunk)
print(json.dumps({
    "baseline_kib": baseline, "after_put_kib": after_put, "peak_kib": rss_kib(),
    "baseline_maxrss_kib": baseline_maxrss, "peak_maxrss_kib": maxrss_kib(),
    "input_sha256": source.digest.hexdigest(), "stored_sha256": stored.sha256,
    "output_sha256": out.hexdigest(), "stored_size": stored.size, "output_size": size,
    "blob_bytes": sum(p.stat().st_size for p in (root / "store").rglob("*") if p.is_file()),
}))
"""


def test_200_mb_round_trip_keeps_memory_flat(tmp_path: Path) -> None:
    total = 200 * 1024 * 1024
    script = tmp_path / "big.py"
    script.write_text(_BIG_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "big"), str(total)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"200 MB round trip: RSS baseline {result['baseline_kib'] / 1024:.1f} MiB, "
          f"after put {result['after_put_kib'] / 1024:.1f} MiB, peak {result['peak_kib'] / 1024:.1f} MiB "
          f"(ru_maxrss {result['baseline_maxrss_kib'] / 1024:.1f} -> {result['peak_maxrss_kib'] / 1024:.1f} MiB)")
    assert result["stored_size"] == result["output_size"] == total
    assert result["input_sha256"] == result["stored_sha256"] == result["output_sha256"]
    assert result["blob_bytes"] > total  # ciphertext: plaintext plus headers and tags
    assert result["peak_kib"] - result["baseline_kib"] < 150 * 1024
    assert result["peak_maxrss_kib"] - result["baseline_maxrss_kib"] < 150 * 1024


# --- key store -----------------------------------------------------------------------


def test_key_store_permissions_and_problems(tmp_path: Path) -> None:
    keystore = KeyStore(tmp_path / "keys")
    assert not keystore.exists
    assert keystore.problems() and "does not exist" in keystore.problems()[0]
    assert keystore.create() is True
    assert keystore.exists
    master = keystore.master_file.read_bytes()
    assert keystore.create() is False
    assert keystore.master_file.read_bytes() == master  # never overwritten

    keystore.new_key("K-p")
    key_file = keystore.records_dir / "K-p.key"
    assert _mode(keystore.path) == 0o700
    assert _mode(keystore.records_dir) == 0o700
    assert _mode(keystore.master_file) == 0o600
    assert _mode(key_file) == 0o600
    assert keystore.problems() == []

    os.chmod(key_file, 0o644)
    problems = keystore.problems()
    assert len(problems) == 1 and str(key_file) in problems[0] and "0644" in problems[0]
    os.chmod(key_file, 0o600)
    os.chmod(keystore.path, 0o755)
    assert any("chmod 700" in p for p in keystore.problems())
    os.chmod(keystore.path, 0o700)

    keystore.master_file.unlink()
    assert not keystore.exists
    assert any("master key" in p for p in keystore.problems())


def test_key_ids_and_destroy(tmp_path: Path) -> None:
    keystore = KeyStore(tmp_path / "keys")
    keystore.create()
    keystore.new_key("K-d")
    with pytest.raises(ValueError):
        keystore.new_key("K-d")
    for bad in ("../x", "a/b", "", "x" * 65, "a.b", "K d"):
        with pytest.raises(ValueError):
            keystore.new_key(bad)
    assert keystore.has_key("K-d")
    keystore.primitive("K-d")
    assert keystore.destroy("K-d") is True
    assert not (keystore.records_dir / "K-d.key").exists()
    assert keystore.destroy("K-d") is False
    with pytest.raises(KeyDestroyed) as caught:
        keystore.primitive("K-d")
    assert "K-d" in str(caught.value) and isinstance(caught.value, RecordsError)


def test_packed_keys_are_one_key_each_and_destroyed_one_by_one(store: ContentStore) -> None:
    keystore = store.keystore
    made = store.new_keys(3)
    assert len({key_id for key_id, _ in made}) == 3
    pack = next(keystore.packs_dir.glob("*.pack"))
    assert _mode(pack) == 0o600 and len(list(keystore.packs_dir.iterdir())) == 1
    for key_id, primitive in made:
        store.put(key_id, io.BytesIO(PLAIN), primitive=primitive)
        assert keystore.has_key(key_id) and store.open(key_id, f"{key_id}.blob").read() == PLAIN
    # Each key is its own: one cannot open a sibling's blob.
    with pytest.raises(ContentCorrupted):
        store.open(made[1][0], f"{made[0][0]}.blob").read()
    with pytest.raises(ValueError):
        keystore.new_key(made[0][0])
    first, second, third = (key_id for key_id, _ in made)
    before = pack.read_bytes()
    assert keystore.destroy(first) is True
    after = pack.read_bytes()
    assert len(after) == len(before) and first.encode() not in after and first.encode() in before
    # The destroyed key's wrapped bytes are zeroed in place; the others are untouched.
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed and all(after[i] == 0 for i in changed)
    with pytest.raises(KeyDestroyed):
        store.open(first, f"{first}.blob")
    assert not keystore.has_key(first) and keystore.destroy(first) is False
    assert store.open(second, f"{second}.blob").read() == PLAIN
    keystore.destroy_many([second, third])
    assert not pack.exists()  # every key of the pack is gone, and so is the pack
    with pytest.raises(KeyDestroyed):
        keystore.primitive(third)


def test_small_and_large_record_keys_of_one_pack_read_back_from_the_key_store(store: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small record's key is an AEAD key (each blob encrypted in one call), a large one's
    streams in 1 MiB segments; small records stored before (streaming keys with 4 KB
    segments) still read. All read back whole from a fresh key store: the kind travels
    with each keyset."""
    from tink import aead, streaming_aead

    from records.storage import keystore as keystore_module

    large = os.urandom(3 * 1024 * 1024 + 5)
    made = store.new_keys(3, [True, False, True])
    assert [isinstance(primitive, aead.Aead) for _, primitive in made] == [True, False, True]
    monkeypatch.setattr(keystore_module, "_TEMPLATE", streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_4KB)
    made += store.new_keys(1)  # a small record's key as earlier versions made it
    monkeypatch.undo()
    contents = [PLAIN * 40, large, b"", PLAIN * 40]
    for (key_id, primitive), data in zip(made, contents, strict=True):
        store.put(key_id, io.BytesIO(data), primitive=primitive)
        store.put_text(key_id, data.decode("latin-1")[:50_000], primitive=primitive)
    reopened = ContentStore(KeyStore(store.keystore.path), store.blobs)
    assert [isinstance(reopened.keystore.primitive(key_id), aead.Aead) for key_id, _ in made] == [True, False, True, False]
    for (key_id, _), data in zip(made, contents, strict=True):
        assert reopened.open(key_id, f"{key_id}.blob").read() == data
        assert reopened.read_text(key_id, f"{key_id}.text") == data.decode("latin-1")[:50_000]
    assert PLAIN[:40] not in b"".join(p.read_bytes() for p in store.blobs.root.rglob("*") if p.is_file())  # type: ignore[attr-defined]
    # Each key still opens only its own blobs, and a small blob altered or cut short fails.
    with pytest.raises(ContentCorrupted):
        reopened.open(made[0][0], f"{made[2][0]}.blob").read()
    first = made[0][0]
    with store.blobs.reader(f"{first}.blob") as raw:
        ciphertext = raw.read()
    for damaged in (ciphertext[:-1], ciphertext[:20] + bytes([ciphertext[20] ^ 1]) + ciphertext[21:]):
        with store.blobs.writer(f"{first}.blob") as out:
            out.write(damaged)
        with pytest.raises(ContentCorrupted):
            reopened.open(first, f"{first}.blob")


def test_small_keys_are_keysets_tink_makes_and_their_blobs_open_with_tink(store: ContentStore) -> None:
    """A small record's key is written without Tink's keyset machinery (keystore
    ``_SmallKey``): it must be the keyset Tink's AES256_GCM template makes, and each side
    must open what the other encrypted, or records would be unreadable."""
    import tink
    from tink import aead, secret_key_access
    from tink.proto import aes_gcm_pb2, tink_pb2

    def keyset(handle: tink.KeysetHandle) -> tink_pb2.Keyset:
        return tink_pb2.Keyset.FromString(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))

    reference = keyset(tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)).key[0]
    made = store.new_keys(3, [True, True, True])
    master = store.keystore._master_aead()
    raw_keys = set()
    for key_id, ours in made:
        wrapped = store.keystore._packed(key_id)
        assert wrapped is not None
        handle = tink.proto_keyset_format.parse_encrypted(wrapped, master, key_id.encode("ascii"))
        [key] = keyset(handle).key
        assert keyset(handle).primary_key_id == key.key_id != 0
        assert (key.key_data.type_url, key.key_data.key_material_type, key.status, key.output_prefix_type) == (
            reference.key_data.type_url, reference.key_data.key_material_type, reference.status, reference.output_prefix_type,
        )
        material = aes_gcm_pb2.AesGcmKey.FromString(key.key_data.value)
        assert material.version == 0 and len(material.key_value) == 32
        raw_keys.add(material.key_value)
        theirs = handle.primitive(aead.Aead)
        ciphertext = ours.encrypt(PLAIN, b"K-x.blob")
        assert ciphertext[:5] == b"\x01" + key.key_id.to_bytes(4, "big")  # Tink's prefix: version byte, key id
        assert theirs.decrypt(ciphertext, b"K-x.blob") == PLAIN
        assert ours.decrypt(theirs.encrypt(PLAIN, b"K-y.text"), b"K-y.text") == PLAIN
        with pytest.raises(tink.TinkError):
            theirs.decrypt(ciphertext, b"K-other.blob")  # the blob id is bound as associated data
    assert len(raw_keys) == 3  # one independent key per record
    assert ours.encrypt(PLAIN, b"a") != ours.encrypt(PLAIN, b"a")  # a fresh IV each time


def test_a_master_key_that_cannot_unwrap_what_it_wrapped_stores_no_key_pack(store: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tink checks every keyset it wraps; the small keys are checked once per pack, before
    the pack is written: content must never go under keys nobody could read."""
    master = store.keystore._master_aead()

    class Broken:
        def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
            return master.encrypt(plaintext[:-1] + bytes([plaintext[-1] ^ 1]), associated_data)

        def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
            return master.decrypt(ciphertext, associated_data)

    monkeypatch.setattr(store.keystore, "_master", Broken())
    with pytest.raises(RecordsError, match="could not be unwrapped"):
        store.new_keys(2, [True, True])
    assert not list(store.keystore.packs_dir.glob("*.pack"))


def test_wrapped_key_is_bound_to_its_id(tmp_path: Path) -> None:
    keystore = KeyStore(tmp_path / "keys")
    keystore.create()
    keystore.new_key("K-one")
    (keystore.records_dir / "K-one.key").rename(keystore.records_dir / "K-two.key")
    with pytest.raises(RecordsError):
        keystore.primitive("K-two")


# --- blob store ----------------------------------------------------------------------


def test_folder_blob_store(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path / "store")
    for bad in ("..", ".hidden", "a/b", "../../etc/passwd", "", "x" * 129):
        with pytest.raises(ValueError):
            blobs.exists(bad)
    with pytest.raises(BlobMissing):
        blobs.reader("nope")
    with pytest.raises(RuntimeError), blobs.writer("half") as file:
        file.write(b"partial")
        raise RuntimeError("crash mid-write")
    assert not blobs.exists("half")
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert _mode(blobs.root) == 0o700  # opening the store made its root

    with blobs.writer("whole") as file:
        file.write(b"bytes")
    assert blobs.exists("whole")
    path = blobs._path("whole")
    assert path.parent.parent == blobs.root and len(path.parent.name) == 2
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700 and _mode(blobs.root) == 0o700
    with blobs.reader("whole") as reader:
        assert reader.read() == b"bytes"
    assert blobs.delete("whole") is True
    assert blobs.delete("whole") is False


def test_open_blob_store(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'store'}")
    assert isinstance(store, FolderBlobStore) and store.root == (tmp_path / "store").resolve()
    with pytest.raises(ConfigurationError, match="S3-compatible"):
        open_blob_store("s3://bucket/records")
    for bad in ("/just/a/path", "file://relative/path", "http://example.org/x"):
        with pytest.raises(ConfigurationError, match="RECORDS_STORE_URL"):
            open_blob_store(bad)


# --- destroy -------------------------------------------------------------------------

NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)


def _content_for(paths: Paths) -> ContentStore:
    keystore = KeyStore(paths.keystore)
    keystore.create()
    return ContentStore(keystore, open_blob_store(paths.store_url))


def _make_record(catalog: Catalog, content: ContentStore, record_id: str) -> Record:
    key_id = f"K-{record_id}"
    content.keystore.new_key(key_id)
    stored = content.put(key_id, io.BytesIO(PLAIN))
    text_id = content.put_text(key_id, PLAIN.decode())
    with catalog.writing() as session:
        if session.get(Source, "S-1") is None:
            session.add(Source(
                id="S-1", sha256="0" * 64, path="inbox/export.zip", size=123, status="accepted",
                received_at=NOW, received_by="clerk",
            ))
            session.flush()
        record = Record(
            id=record_id, source_id="S-1", format="eml", created_at=NOW,
            sent_at_first=NOW - dt.timedelta(days=400), sent_at_last=NOW - dt.timedelta(days=399),
            participants=[{"address": "parent@example.org", "student_id": "ST-1"}], text_chars=len(PLAIN),
            content_sha256=stored.sha256, key_id=key_id, blob_id=stored.blob_id, text_blob_id=text_id,
            series_code="SR-17",
        )
        session.add(record)
    return record


def _destroyed_events(catalog: Catalog, record_id: str) -> list[AuditEventRow]:
    with catalog.reading() as session:
        return list(session.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "record.destroyed", AuditEventRow.subject_id == record_id,
        )))


def test_destroy_record(catalog: Catalog, paths: Paths) -> None:
    content = _content_for(paths)
    record = _make_record(catalog, content, "R-1")
    _make_record(catalog, content, "R-keep")
    assert content.open(record.key_id, record.blob_id).read() == PLAIN

    with catalog.writing() as session:
        result = destroy_record(
            session, content, "R-1", actor="officer", reason="retention",
            batch_id="B-1", approval_reference="RMU-2 #42", now=NOW,
        )
    assert not result.already_destroyed
    assert result.tombstone["content_sha256"] == record.content_sha256
    assert result.tombstone["batch_id"] == "B-1"

    with pytest.raises(KeyDestroyed):
        content.open(record.key_id, record.blob_id)
    with pytest.raises(KeyDestroyed):
        content.read_text(record.key_id, record.text_blob_id)
    assert not content.keystore.has_key(record.key_id)
    assert not (paths.keystore / "records" / f"{record.key_id}.key").exists()
    assert not content.blobs.exists(record.blob_id) and not content.blobs.exists(record.text_blob_id)
    with pytest.raises(BlobMissing):
        content.blobs.reader(record.blob_id)
    # The other record is untouched.
    assert content.read_text("K-R-keep", "K-R-keep.text") == PLAIN.decode()

    with catalog.reading() as session:
        tomb = session.get(Tombstone, "R-1")
        row = session.get(Record, "R-1")
        assert tomb is not None and row is not None
        assert tomb.content_sha256 == hashlib.sha256(PLAIN).hexdigest()
        assert (tomb.series_code, tomb.source_id, tomb.format) == ("SR-17", "S-1", "eml")
        assert tomb.sent_at_first == record.sent_at_first and tomb.sent_at_last == record.sent_at_last
        assert (tomb.reason, tomb.batch_id, tomb.approval_reference) == ("retention", "B-1", "RMU-2 #42")
        assert tomb.destroyed_at == NOW and tomb.destroyed_by == "officer"
        assert (row.status, row.participants, row.text_chars) == ("destroyed", [], 0)
        assert session.get(Record, "R-keep").status == "active"

    events = _destroyed_events(catalog, "R-1")
    assert len(events) == 1
    payload = json.loads(events[0].payload)
    assert payload["content_sha256"] == record.content_sha256 and payload["batch_id"] == "B-1"
    assert "Alvarez" not in events[0].payload and "parent@example.org" not in events[0].payload

    # Again: nothing more to do, no second event.
    with catalog.writing() as session:
        again = destroy_record(session, content, "R-1", actor="officer", reason="retention", batch_id="B-1")
    assert again.already_destroyed and again.tombstone["destroyed_at"] == NOW
    assert len(_destroyed_events(catalog, "R-1")) == 1
    with catalog.reading() as session:
        assert audit.verify(session).ok


def test_destroy_record_with_a_packed_key_leaves_its_pack_mates_readable(catalog: Catalog, paths: Paths) -> None:
    content = _content_for(paths)
    (gone, gone_aead), (kept, kept_aead) = content.new_keys(2)
    with catalog.writing() as session:
        session.add(Source(id="S-1", sha256="0" * 64, path="mail.mbox", size=1, status="ingested", received_at=NOW, received_by="clerk"))
        session.flush()
        for record_id, key_id, aead in (("R-gone", gone, gone_aead), ("R-kept", kept, kept_aead)):
            stored = content.put(key_id, io.BytesIO(PLAIN), primitive=aead)
            text_id = content.put_text(key_id, PLAIN.decode(), primitive=aead)
            session.add(Record(id=record_id, source_id="S-1", format="mbox-message", created_at=NOW, content_sha256=stored.sha256,
                               key_id=key_id, blob_id=stored.blob_id, text_blob_id=text_id, series_code="SR-17"))
    wrapped = content.keystore._packed(gone)
    assert wrapped
    with catalog.writing() as session:
        destroy_record(session, content, "R-gone", actor="officer", reason="retention", now=NOW)
    with pytest.raises(KeyDestroyed):
        content.read_text(gone, f"{gone}.text")
    assert not any(wrapped in p.read_bytes() for p in content.keystore.path.rglob("*") if p.is_file())
    assert content.read_text(kept, f"{kept}.text") == PLAIN.decode()


def test_destroy_finishes_after_a_crash(catalog: Catalog, paths: Paths) -> None:
    content = _content_for(paths)
    record = _make_record(catalog, content, "R-2")
    # The crash: the key was shredded, then the process died before the tombstone.
    assert content.keystore.destroy(record.key_id)
    with catalog.reading() as session:
        assert session.get(Tombstone, "R-2") is None

    with catalog.writing() as session:
        result = destroy_record(session, content, "R-2", actor="officer", reason="retention")
    assert not result.already_destroyed
    assert not content.blobs.exists(record.blob_id) and not content.blobs.exists(record.text_blob_id)
    with catalog.reading() as session:
        assert session.get(Tombstone, "R-2") is not None
        assert session.get(Record, "R-2").status == "destroyed"
        assert audit.verify(session).ok
    events = _destroyed_events(catalog, "R-2")
    assert len(events) == 1 and json.loads(events[0].payload)["key_shredded_now"] is False


def test_destroy_rolled_back_then_retried(catalog: Catalog, paths: Paths) -> None:
    """The caller's transaction fails after the shred: the retry still leaves one tombstone."""
    content = _content_for(paths)
    _make_record(catalog, content, "R-3")
    with pytest.raises(RuntimeError), catalog.writing() as session:
        destroy_record(session, content, "R-3", actor="officer", reason="retention")
        raise RuntimeError("crash before commit")
    with catalog.reading() as session:
        assert session.get(Tombstone, "R-3") is None
    with catalog.writing() as session:
        destroy_record(session, content, "R-3", actor="officer", reason="retention")
    with catalog.reading() as session:
        assert session.scalar(select(func.count()).select_from(Tombstone)) == 1
    assert len(_destroyed_events(catalog, "R-3")) == 1


def test_destroy_unknown_record(catalog: Catalog, paths: Paths) -> None:
    content = _content_for(paths)
    with pytest.raises(NotFound), catalog.writing() as session:
        destroy_record(session, content, "R-nope", actor="officer", reason="retention")
