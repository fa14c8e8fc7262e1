"""Storing what intake found: sources, records, pages and their audit events.

Two steps, because the store and the catalog cannot share a transaction:
``prepare_*`` write encrypted content (a new key per record) and touch no table;
``commit_*`` write rows and audit events in the caller's transaction. Content that a
failed transaction leaves unreferenced is removed (``Cleanup.on_failure``); content that
a committed merge replaced is removed only after the commit (``Cleanup.after_commit``),
so a rollback never leaves a record pointing at nothing.

A printout's record keeps the file's own bytes under the record's key, and its source
points at the same blob: destroying the record leaves no copy in a kept original. A
quarantined source keeps its bytes under a key of its own so that a retry can read them.

The same record seen again (``Item.dedupe_key``: an email's Message-ID, a thread part's
platform locator) is one record: the new source is added to it, and a chat thread part
gains the messages it did not have (``record.extended``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import statistics
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, select, text, update
from sqlalchemy.orm import Session, object_session

from records.errors import DiskFull
from records.intake.model import Item, Message
from records.intake.normalize import storable_key
from records.intake.origin import origin_key
from records.intake.pipeline import FileDigest, FileExtraction
from records.storage import audit
from records.storage.audit import PendingEvent
from records.storage.blobstore import BlobPackWriter, pack_of
from records.storage.bulk import insert_rows
from records.storage.content import SMALL_BYTES, ContentStore, StoredBlob
from records.storage.destroy import discard_uncommitted
from records.storage.ids import new_id
from records.storage.keystore import RecordKey
from records.storage.models import Record, RecordPage, RecordSource, Source, Staff


@dataclass
class SourceReport:
    """One line of ``records ingest --json``'s ``sources``."""

    id: str
    path: str
    sha256: str
    status: str
    reason: str | None
    records: list[str]
    # The plaintext of the text blobs this ingest wrote (text blob id → text), so that
    # classifying the batch right after does not decrypt them again. Not part of the JSON.
    texts: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "sha256": self.sha256, "status": self.status, "reason": self.reason, "records": self.records}


@dataclass
class Cleanup:
    """Content to remove once the transaction's fate is known."""

    on_failure_keys: list[str] = field(default_factory=list)
    on_failure_blobs: list[str] = field(default_factory=list)
    after_commit_keys: list[str] = field(default_factory=list)
    after_commit_blobs: list[str] = field(default_factory=list)

    def failed(self, content: ContentStore, catalog: Any = None) -> None:
        """Remove what the failed transaction would have referred to.

        With ``catalog`` (the transaction was under way) only what no row names goes: a
        connection lost during COMMIT leaves the outcome unknown, and the commit may have
        happened; deleting its content then would lose a file's only copy. When the
        catalog cannot be asked either, everything is left to the sweep (``sweep.py``).
        """
        keys, blobs = self.on_failure_keys, self.on_failure_blobs
        if catalog is not None:
            try:
                with catalog.reading() as session:
                    named_keys, named_blobs = rows_naming(session, keys, blobs)
            except Exception as exc:  # noqa: BLE001 - the database is still away: the sweep will do it
                from records import logs

                logs.get("ingest").warning("ingest.cleanup_deferred", keys=len(keys), blobs=len(blobs), error=type(exc).__name__)
                return
            keys = [k for k in keys if k not in named_keys]
            blobs = [b for b in blobs if b not in named_blobs]
        discard_uncommitted(content, keys, blobs)

    def committed(self, content: ContentStore) -> None:
        discard_uncommitted(content, self.after_commit_keys, self.after_commit_blobs)

    def extend(self, other: Cleanup) -> None:
        self.on_failure_keys += other.on_failure_keys
        self.on_failure_blobs += other.on_failure_blobs
        self.after_commit_keys += other.after_commit_keys
        self.after_commit_blobs += other.after_commit_blobs


@dataclass
class PreparedRecord:
    record_id: str
    parent_id: str | None
    key_id: str
    blob: StoredBlob
    text_blob_id: str
    item: Item


@dataclass
class PreparedSource:
    source_id: str
    path: Path
    digest: FileDigest
    file: FileExtraction
    key_id: str
    blob: StoredBlob
    records: list[PreparedRecord] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)  # every record this source produced or joined
    part_of: str | None = None
    # The source key's AEAD, kept from ``prepare_source`` so a printout's text (stored
    # under the same key) does not read the key back from the key store.
    primitive: RecordKey | None = field(default=None, repr=False)
    row: Source | None = field(default=None, repr=False)  # the catalog row, once commit_source added it

    def cleanup_for(self, records: list[PreparedRecord]) -> Cleanup:
        """What to remove if the transaction writing ``records`` fails."""
        cleanup = Cleanup()
        for record in records:
            if record.key_id != self.key_id:
                cleanup.on_failure_keys.append(record.key_id)
                cleanup.on_failure_blobs.append(record.blob.blob_id)
            cleanup.on_failure_blobs.append(record.text_blob_id)
        return cleanup

    def source_cleanup(self) -> Cleanup:
        return Cleanup(on_failure_keys=[self.key_id], on_failure_blobs=[self.blob.blob_id])


def rows_naming(session: Session, keys: list[str], blobs: list[str]) -> tuple[set[str], set[str]]:
    """Which of these key and blob ids a source or record row names (a committed batch)."""
    named_keys: set[str] = set()
    named_blobs: set[str] = set()
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        named_keys.update(session.execute(select(Source.key_id).where(Source.key_id.in_(part))).scalars())
        named_keys.update(session.execute(select(Record.key_id).where(Record.key_id.in_(part))).scalars())
    for start in range(0, len(blobs), 500):
        part = blobs[start : start + 500]
        named_blobs.update(session.execute(select(Source.blob_id).where(Source.blob_id.in_(part))).scalars())
        named_blobs.update(session.execute(select(Record.blob_id).where(Record.blob_id.in_(part))).scalars())
        named_blobs.update(session.execute(select(Record.text_blob_id).where(Record.text_blob_id.in_(part))).scalars())
    return named_keys, named_blobs


def known_sources(session: Session, shas: list[str]) -> dict[str, tuple[str, list[str]]]:
    """sha256 → (source id, record ids) for sources already held."""
    if not shas:
        return {}
    found: dict[str, tuple[str, list[str]]] = {}
    rows = session.execute(select(Source.id, Source.sha256).where(Source.sha256.in_(shas))).all()
    for source_id, sha in rows:
        found[sha] = (source_id, [])
    if found:
        ids = {source_id: sha for sha, (source_id, _) in found.items()}
        for record_id, source_id in session.execute(
            select(RecordSource.record_id, RecordSource.source_id).where(RecordSource.source_id.in_(list(ids))).order_by(RecordSource.record_id)
        ):
            found[ids[source_id]][1].append(record_id)
    return found


# Names the "new source with these bytes" advisory locks on PostgreSQL: the two-key form
# keeps them apart from the audit chain's one-key lock (audit.py).
_SOURCE_LOCK_SPACE = 0x5352  # "SR"


def lock_new_sources(session: Session, shas: list[str]) -> dict[str, tuple[str, list[str]]]:
    """In the transaction that adds sources with these sha256: which are held already.

    Two workers that read the same bytes (two paths, two batches) both prepared a source;
    exactly one must be committed. On PostgreSQL each sha256 is locked until the end of
    the transaction (in sorted order, so two batches cannot deadlock), and the check runs
    after the lock: a worker that waited sees the other's committed source and records a
    duplicate instead. On SQLite the write transaction (``BEGIN IMMEDIATE``) already
    excludes every other writer. The unique constraint on ``sources.sha256`` stays the
    last line of defence.
    """
    shas = sorted(set(shas))
    if not shas:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        for sha in shas:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:sha))"), {"space": _SOURCE_LOCK_SPACE, "sha": sha})
    return known_sources(session, shas)


_STREAM_LOCK_SPACE = 0x5354  # "ST": one worker streams a given content at a time


@contextmanager
def streaming_lock(engine: Engine, sha: str) -> Iterator[None]:
    """Held while one worker streams a source chunk by chunk (many transactions).

    A stream shows as ``ingesting`` until its last chunk, which is also what a crash
    leaves behind for a rerun to resume; without this lock a second worker could take a
    live stream for a crashed one and write its records twice. On PostgreSQL it is a
    session-level advisory lock on a connection of its own, so it goes when the worker
    dies; on SQLite (one machine, a single writer) there is nothing to hold.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        key = {"space": _STREAM_LOCK_SPACE, "sha": sha}
        connection.execute(text("SELECT pg_advisory_lock(:space, hashtext(:sha))"), key)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:space, hashtext(:sha))"), key)
            connection.commit()


# --- preparing content (no SQL) ------------------------------------------------------


def prepare_source(
    content: ContentStore, path: Path, digest: FileDigest, file: FileExtraction, *, key: tuple[str, RecordKey] | None = None
) -> PreparedSource:
    """Keep the file's own bytes, encrypted under a new key (``key``: one made already)."""
    if key is None:
        source_key = new_id("K")
        primitive = content.ensure_key(source_key)
    else:
        source_key, primitive = key
    try:
        with path.open("rb") as handle:
            blob = content.put(source_key, handle, primitive=primitive)
    except BaseException as exc:
        discard_uncommitted(content, [source_key], [f"{source_key}.blob"])
        if isinstance(exc, DiskFull):
            raise exc.for_file(path) from exc
        raise
    return PreparedSource(new_id("S"), path, digest, file, source_key, blob, primitive=primitive)


def prepare_sources(content: ContentStore, files: list[tuple[Path, FileDigest, FileExtraction]]) -> list[PreparedSource]:
    """``prepare_source`` for a batch of files, their keys made together in one key pack.

    A printout's record shares its source's key, so this is the one key file a batch of
    printouts writes instead of one per file. On failure everything written is removed.
    A small file whose shared text is small too gets a small record's AEAD key
    (``_small_source``, ``content.SMALL_BYTES``): two 1 MiB-segment streams (its bytes,
    then its printout's text) cost about 1 ms a file, more than the rest of storing a
    born-digital printout.
    """
    keys = content.new_keys(len(files), [_small_source(d, f) for _, d, f in files])
    prepared: list[PreparedSource] = []
    try:
        for (path, file_digest, file), key in zip(files, keys, strict=True):
            prepared.append(prepare_source(content, path, file_digest, file, key=key))
    except BaseException:
        discard_uncommitted(content, [k for k, _ in keys], [s.blob.blob_id for s in prepared])
        raise
    return prepared


def _small_source(digest: FileDigest, file: FileExtraction) -> bool:
    """Whether everything stored under a source's key is known to be small: the file's bytes
    and, when its first item shares the key (``prepare_records``), that item's text."""
    if digest.size > SMALL_BYTES:
        return False
    items = file.extraction.items if file.extraction is not None else []
    if not isinstance(items, list):  # a stream's items are not known yet
        return False
    return not items or items[0].content is not None or len(items[0].text) * 4 <= SMALL_BYTES


def held_source(source_id: str, key_id: str, blob: StoredBlob, path: Path, digest: FileDigest, file: FileExtraction) -> PreparedSource:
    """A source already in the store (a retry): its encrypted original is reused."""
    return PreparedSource(source_id, path, digest, file, key_id, blob)


def _content_stream(item: Item, fallback: Path) -> io.BufferedIOBase | io.BytesIO:
    if isinstance(item.content, bytes):
        return io.BytesIO(item.content)
    return (item.content or fallback).open("rb")


def prepare_records(content: ContentStore, source: PreparedSource, items: Iterable[Item], *, reuse_source_key: bool) -> list[PreparedRecord]:
    """Encrypt each item's own bytes and text under a key of its own.

    With ``reuse_source_key`` the first item whose content is the file itself (a
    printout, a single email) shares the source's key and blob: one copy, one key.
    The other items' blobs and texts go into one blob pack per key pack (``blobstore``):
    two files for the whole chunk instead of two per record, each record's ciphertext
    still under its own key and destroyed on its own.
    """
    prepared: list[PreparedRecord] = []
    queue: list[tuple[Item, str | None]] = [(item, None) for item in items]
    reuses = reuse_source_key and bool(queue) and queue[0][0].content is None
    # One key per record, all made at once in one key pack (keystore.py: a file per key
    # cost more than the rest of storing a short email); a small record's key streams in
    # small segments (content.py, ``SMALL_BYTES``).
    small = [_small(item) for item in _preorder([item for item, _ in queue])][1 if reuses else 0 :]
    keys = iter(content.new_keys(len(small), small))
    key_ids = []
    try:
        with contextlib.ExitStack() as open_packs:
            packs: dict[str, BlobPackWriter] = {}
            first = reuse_source_key
            while queue:
                item, parent_id = queue.pop(0)
                if first and item.content is None:
                    key_id, item_blob = source.key_id, source.blob
                    primitive = source.primitive
                    pack = None
                else:
                    key_id, primitive = next(keys)
                    key_ids.append(key_id)
                    pack_id = pack_of(f"{key_id}.blob")
                    if pack_id is not None and pack_id not in packs:
                        packs[pack_id] = open_packs.enter_context(content.blobs.pack(pack_id))
                    pack = packs.get(pack_id) if pack_id else None
                    with _content_stream(item, source.path) as handle:
                        item_blob = content.put(key_id, handle, primitive=primitive, pack=pack)
                first = False
                text_blob_id = content.put_text(key_id, item.text, primitive=primitive, pack=pack)
                record = PreparedRecord(new_id("R"), parent_id, key_id, item_blob, text_blob_id, item)
                prepared.append(record)
                queue[0:0] = [(child, record.record_id) for child in item.children]
    except BaseException as exc:
        # Every key of the pack goes (the pack with them), and whatever the record being
        # written when it failed had stored already (an unfinished blob pack is never
        # linked into the store).
        cleanup = source.cleanup_for(prepared)
        cleanup.on_failure_keys = list(dict.fromkeys(cleanup.on_failure_keys + key_ids + [k for k, _ in keys]))
        cleanup.on_failure_blobs = list(dict.fromkeys(cleanup.on_failure_blobs + [f"{k}.{kind}" for k in key_ids for kind in ("blob", "text")]))
        cleanup.failed(content)
        if isinstance(exc, DiskFull) and exc.file is None:
            raise exc.for_file(source.path) from exc
        raise
    return prepared


def _preorder(items: list[Item]) -> Iterator[Item]:
    """Items and their children, at every depth, in the order ``prepare_records`` stores them."""
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(item.children))


def _small(item: Item) -> bool:
    """Whether everything stored under this item's key is known to be small."""
    return isinstance(item.content, bytes) and len(item.content) <= SMALL_BYTES and len(item.text) * 4 <= SMALL_BYTES


# --- committing rows (the caller's transaction) ----------------------------------------


def _method(item: Item) -> str:
    ocr = sum(1 for p in item.pages if p.ocr)
    if not item.pages:
        return "reader"
    if ocr == 0:
        return "text_layer"
    return "ocr" if ocr == len(item.pages) else "text_layer+ocr"


def _mean_confidence(item: Item) -> float | None:
    values = [p.confidence for p in item.pages if p.ocr and p.confidence is not None]
    return round(statistics.fmean(values), 4) if values else None


def _item_origin(item: Item) -> tuple[str | None, bool]:
    """(origin key, is forward) for emails; (None, False) for everything else."""
    if item.forwarded_from:
        f = item.forwarded_from
        return origin_key(f.get("sender"), f.get("sent_at"), f.get("subject_sha256")), True
    own = next((e for e in item.evidence if e.kind == "origin"), None)
    return (own.detail if own else None), False


DEDUPE_KEY_COLUMN = 512  # Record.dedupe_key's width
CONVERSATION_FORMATS = frozenset({"sms-thread", "facebook-thread", "instagram-thread", "x-dm-thread", "x-posts"})


def scoped_dedupe_key(item: Item, owner_staff_id: str | None) -> str | None:
    """A conversation is the same record only within one owner's exports.

    An email's Message-ID names one message wherever it is found; an SMS counterpart or
    a group chat does not: two teachers texting the same parent hold two records.
    """
    if not item.dedupe_key:
        return None
    if item.format not in CONVERSATION_FORMATS:
        return storable_key(item.dedupe_key, limit=DEDUPE_KEY_COLUMN)
    owner = owner_staff_id or (item.owner.address if item.owner and item.owner.address else None) or "owner-unknown"
    return storable_key(f"{owner}|{item.dedupe_key}", limit=DEDUPE_KEY_COLUMN)


def match_owner(session: Session, item: Item) -> str | None:
    """The staff member whose export this is, recognised from the export's own account."""
    if item.owner is None:
        return None
    wanted_address = (item.owner.address or "").lower()
    wanted_name = (item.owner.name or "").strip().lower()
    by_name: list[str] = []
    for staff in session.execute(select(Staff)).scalars():
        addresses = {a.lower() for a in (*staff.school_emails, *staff.personal_emails, *staff.phones, *staff.handles)}
        if wanted_address and wanted_address in addresses:
            return staff.staff_id
        if wanted_name and f"{staff.first_name} {staff.last_name}".lower() == wanted_name:
            by_name.append(staff.staff_id)
    return by_name[0] if len(by_name) == 1 else None


def commit_source(session: Session, source: PreparedSource, *, actor: str, owner_staff_id: str | None, status: str, now: dt.datetime) -> list[PendingEvent]:
    file = source.file
    source.row = Source(
            id=source.source_id,
            sha256=source.digest.sha256,
            path=str(source.path),
            size=source.digest.size,
            detected_type=file.sniff.mime if file.sniff else None,
            detected=file.extraction.detected if file.extraction else None,
            status=status,
            reason=file.reason_for(source.source_id),
            key_id=source.key_id,
            blob_id=source.blob.blob_id,
            owner_staff_id=owner_staff_id,
            received_at=now,
            received_by=actor,
            reader=file.extraction.reader if file.extraction else None,
            quarantine_kind=file.quarantine.kind if file.quarantine else None,
            file_modified=source.digest.modified,
            updated_at=now,
            part_of=source.part_of,
        )
    # Not flushed here: the rows that refer to it (records, audit events) flush the
    # session first, so a batch's sources go to the catalog in one statement.
    session.add(source.row)
    events = [PendingEvent(actor, "source.received", "source", source.source_id, {"sha256": source.digest.sha256, "size": source.digest.size})]
    if file.sniff is not None:
        events.append(
            PendingEvent(actor, "source.detected", "source", source.source_id, {"mime": file.sniff.mime, "reader": file.extraction.reader if file.extraction else None})
        )
    return events


def finish_source(session: Session, source: PreparedSource, *, actor: str, now: dt.datetime) -> list[PendingEvent]:
    """Set the source's final status and reason once every record is written."""
    # The row object added by commit_source belongs to that transaction's session; a
    # streaming source finishes in a later transaction, where only a fresh row persists.
    row = source.row if source.row is not None and object_session(source.row) is session else session.get(Source, source.source_id)
    assert row is not None
    file = source.file
    row.status = file.status
    row.reason = file.reason_for(source.source_id)
    row.quarantine_kind = file.quarantine.kind if file.quarantine else None
    row.updated_at = now
    if file.quarantine is not None:
        return [PendingEvent(actor, "source.quarantined", "source", source.source_id, {"kind": file.quarantine.kind, "reason": row.reason})]
    if file.status == "partial":
        return [PendingEvent(actor, "source.partial", "source", source.source_id, {"problems": len(file.extraction.problems) if file.extraction else 0})]
    return []


def _merge_messages(old: list[dict[str, Any]], new: list[Message]) -> tuple[list[dict[str, Any]], int]:
    def key(m: dict[str, Any]) -> str:
        if m.get("message_id"):
            return f"id:{m['message_id']}"
        return f"m:{m.get('sender_address') or m.get('sender_name') or ''}|{m.get('sent_at') or ''}|{m.get('text')}"

    seen = {key(m) for m in old}
    merged = list(old)
    added = 0
    for message in new:
        as_json = message.to_json()
        if key(as_json) not in seen:
            seen.add(key(as_json))
            merged.append(as_json)
            added += 1
    merged.sort(key=lambda m: m.get("sent_at") or "")
    return merged, added


def _transcript(messages: list[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        stamp = (m.get("sent_at") or "(no date)").replace("T", " ")
        lines.append(f"{stamp}  {m.get('sender_name') or m.get('sender_address') or '(unknown)'}: {m.get('text')}")
    return "\n".join(lines)


def _extend(session: Session, content: ContentStore, existing: Record, record: PreparedRecord, source_id: str, actor: str, now: dt.datetime, cleanup: Cleanup) -> PendingEvent | None:
    """Add a later export's new messages to a thread part already held."""
    if not existing.key_id or not existing.blob_id:
        return None
    with content.open(existing.key_id, existing.blob_id) as handle:
        document = json.loads(handle.read().decode("utf-8"))
    merged, added = _merge_messages(document.get("messages", []), record.item.messages)
    if not added:
        return None
    document["messages"] = merged
    version = now.strftime("%Y%m%d%H%M%S%f")
    new_blob = content.put(existing.key_id, io.BytesIO(json.dumps(document, ensure_ascii=False).encode("utf-8")), blob_id=f"{existing.key_id}.blob.{version}")
    text = _transcript(merged)
    new_text = content.put_text(existing.key_id, text, blob_id=f"{existing.key_id}.text.{version}")
    cleanup.on_failure_blobs += [new_blob.blob_id, new_text]
    cleanup.after_commit_blobs += [b for b in (existing.blob_id, existing.text_blob_id) if b]
    existing.blob_id, existing.text_blob_id = new_blob.blob_id, new_text
    existing.content_sha256 = new_blob.sha256
    existing.text_chars = len(text)
    existing.message_count = len(merged)
    times = [m["sent_at"] for m in merged if m.get("sent_at")]
    if times:
        existing.sent_at_first = dt.datetime.fromisoformat(min(times).replace("Z", "+00:00"))
        existing.sent_at_last = dt.datetime.fromisoformat(max(times).replace("Z", "+00:00"))
    known = {(p.get("address"), p.get("name")) for p in existing.participants}
    extra = [p.to_json() for p in record.item.participants if (p.address, p.name) not in known]
    if extra:
        existing.participants = [*existing.participants, *extra]
    existing.updated_at = now
    return PendingEvent(actor, "record.extended", "record", existing.id, {"source_id": source_id, "new_messages": added, "messages": len(merged), "content_sha256": new_blob.sha256})


class PendingRows:
    """Rows of new records, their sources and pages, inserted together in bulk.

    Row-at-a-time ORM inserts with a flush each were a fifth of an mbox's ingest time;
    one ``executemany`` per table per chunk does the same writes. Rows wait here until
    ``flush`` (records first: sources and pages refer to them); anything that must read
    them back through the ORM (joining a record made earlier in the same chunk) flushes
    first.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.records: dict[str, dict[str, Any]] = {}  # by record id, in insertion order
        self.sources: list[dict[str, str]] = []
        self.pages: list[dict[str, Any]] = []
        self.written: set[str] = set()  # record ids already inserted by an earlier flush
        self.forward_updates: dict[str, str] = {}  # forward id → original id, rows already in the table

    def set_forward_of(self, record_id: str, original_id: str) -> None:
        row = self.records.get(record_id)
        if row is not None:
            row["forward_of"] = original_id
        else:
            self.forward_updates[record_id] = original_id

    def flush(self) -> None:
        self.session.flush()  # the source row (and anything else pending) first
        if self.records:
            insert_rows(self.session, Record.__table__, list(self.records.values()))
            self.written.update(self.records)
            self.records = {}
        if self.sources:
            insert_rows(self.session, RecordSource.__table__, self.sources)
            self.sources = []
        if self.pages:
            insert_rows(self.session, RecordPage.__table__, self.pages)
            self.pages = []
        if self.forward_updates:
            table = Record.__table__
            self.session.execute(
                update(table).where(table.c.id == bindparam("forward_id")).values(forward_of=bindparam("original_id")),
                [{"forward_id": f, "original_id": o} for f, o in self.forward_updates.items()],
            )
            self.forward_updates = {}


class _ForwardLinks:
    """Forward ↔ original links for a chunk of records, from one query instead of one per record.

    The same decisions as asking the catalog record by record (design.md: a forward links
    to its original whichever arrives first): a new forward takes a held original of its
    origin key (not destroyed); a new original takes every unlinked forward of its key.
    Records of the chunk join those lists as they are added, in order, so a forward and
    its original in the same chunk link as they would one after the other.
    """

    def __init__(self, session: Session, origins: set[str]) -> None:
        self.originals: dict[str, list[str]] = {}
        self.unlinked: dict[str, list[str]] = {}
        if not origins:
            return
        table = Record.__table__
        rows = session.execute(
            select(table.c.id, table.c.origin_key, table.c.is_forward, table.c.forward_of, table.c.status).where(
                table.c.origin_key.in_(sorted(origins))
            )
        ).all()
        for record_id, origin, is_forward, forward_of, status in rows:
            if not is_forward and status != "destroyed":
                self.originals.setdefault(origin, []).append(record_id)
            elif is_forward and forward_of is None:
                self.unlinked.setdefault(origin, []).append(record_id)

    def add(self, rows: PendingRows, record_id: str, origin: str, is_forward: bool, actor: str) -> list[PendingEvent]:
        events = []
        if is_forward:
            original = next((r for r in self.originals.get(origin, []) if r != record_id), None)
            if original:
                rows.set_forward_of(record_id, original)
                events.append(PendingEvent(actor, "record.linked", "record", record_id, {"forward_of": original}))
            else:
                self.unlinked.setdefault(origin, []).append(record_id)
        else:
            for forward in self.unlinked.pop(origin, []):
                rows.set_forward_of(forward, record_id)
                events.append(PendingEvent(actor, "record.linked", "record", forward, {"forward_of": record_id}))
            self.originals.setdefault(origin, []).append(record_id)
        return events


def _held_by_dedupe_key(session: Session, keys: set[str]) -> dict[str, Record]:
    """The oldest record not destroyed for each dedupe key, in one query (locked on PostgreSQL)."""
    if not keys:
        return {}
    query = select(Record).where(Record.dedupe_key.in_(sorted(keys)), Record.status != "destroyed").order_by(Record.created_at)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    held: dict[str, Record] = {}
    for record in session.execute(query).scalars():
        held.setdefault(record.dedupe_key, record)  # type: ignore[arg-type]
    return held


def commit_records(
    session: Session,
    content: ContentStore,
    source: PreparedSource,
    records: list[PreparedRecord],
    *,
    actor: str,
    owner_staff_id: str | None,
    now: dt.datetime,
    rows: PendingRows | None = None,
) -> tuple[list[PendingEvent], Cleanup]:
    """Insert new records, or join (and extend) records already held.

    With ``rows`` (a batch of files in one transaction) new rows are left there for the
    caller to flush once for the batch; they are flushed first whenever this call must
    look the catalog up (duplicates, forward links), so it sees every record before it.

    A chunk costs a fixed handful of statements, not several per record: owners,
    duplicates and forward links are looked up once for the whole chunk, and new rows are
    inserted in bulk (``PendingRows``). The outcome, and the order of the audit events,
    are those of handling the records one after the other.
    """
    events: list[PendingEvent] = []
    cleanup = source.cleanup_for(records)
    id_map: dict[str, str] = {}
    joined: set[str] = set()
    owners: dict[tuple[str | None, str | None] | None, str | None] = {}
    planned: list[tuple[PreparedRecord, str | None, str | None]] = []
    for record in records:
        item = record.item
        owner_tag = (item.owner.address, item.owner.name) if item.owner else None
        if owner_tag not in owners:
            owners[owner_tag] = owner_staff_id or match_owner(session, item)
        owner = owners[owner_tag]
        planned.append((record, owner, scoped_dedupe_key(item, owner)))
    keys = {key for _, _, key in planned if key}
    item_origins = {record.record_id: _item_origin(record.item) for record, _, _ in planned}
    origins = {origin for origin, _ in item_origins.values() if origin}
    shared = rows is not None
    rows = rows if rows is not None else PendingRows(session)
    if rows.records and (keys or origins):
        rows.flush()  # records of earlier files of the batch must be seen
    held = _held_by_dedupe_key(session, keys)
    made_here: dict[str, str] = {}  # dedupe key → record inserted by this chunk
    links = _ForwardLinks(session, origins)
    for record, owner, dedupe_key in planned:
        item = record.item
        parent_id = id_map.get(record.parent_id, record.parent_id) if record.parent_id else None
        existing = held.get(dedupe_key) if dedupe_key else None
        if existing is None and dedupe_key in made_here:
            rows.flush()
            existing = session.get(Record, made_here[dedupe_key])
        if existing is not None:
            id_map[record.record_id] = existing.id
            if record.key_id != source.key_id:
                cleanup.after_commit_keys.append(record.key_id)
                cleanup.after_commit_blobs.append(record.blob.blob_id)
            cleanup.after_commit_blobs.append(record.text_blob_id)
            if existing.id not in joined:
                rows.flush()
                if session.get(RecordSource, (existing.id, source.source_id)) is None:
                    session.add(RecordSource(record_id=existing.id, source_id=source.source_id))
                    joined.add(existing.id)
            extended = _extend(session, content, existing, record, source.source_id, actor, now, cleanup) if item.messages else None
            events.append(extended or PendingEvent(actor, "record.seen", "record", existing.id, {"source_id": source.source_id}))
            source.record_ids.append(existing.id)
            continue
        origin, is_forward = item_origins[record.record_id]
        rows.records[record.record_id] = {
            "id": record.record_id,
            "source_id": source.source_id,
            "parent_id": parent_id,
            "format": item.format,
            "locator": item.locator,
            "sent_at_first": item.sent_at_first,
            "sent_at_last": item.sent_at_last,
            "owner_staff_id": owner,
            "participants": [p.to_json() for p in item.participants],
            "text_chars": len(item.text),
            "content_sha256": record.blob.sha256,
            "key_id": record.key_id,
            "blob_id": record.blob.blob_id,
            "text_blob_id": record.text_blob_id,
            "series_code": "UNSCHEDULED",
            "series_confidence": 0.0,
            "series_evidence": [],
            "series_decided_by": "engine",
            "extraction_evidence": [e.to_json() for e in item.evidence if e.kind != "origin"],
            "status": "active",
            "created_at": now,
            "dedupe_key": dedupe_key,
            "origin_key": origin,
            "forward_of": None,
            "is_forward": is_forward,
            "message_count": len(item.messages),
            "updated_at": now,
        }
        if dedupe_key:
            made_here.setdefault(dedupe_key, record.record_id)
        rows.sources.append({"record_id": record.record_id, "source_id": source.source_id})
        rows.pages.extend(
            {"record_id": record.record_id, "number": p.number, "ocr": p.ocr, "confidence": p.confidence, "rotation": p.rotation, "skew": p.skew, "chars": len(p.text)}
            for p in item.pages
        )
        source.record_ids.append(record.record_id)
        events.append(
            PendingEvent(
                actor,
                "record.extracted",
                "record",
                record.record_id,
                {
                    "source_id": source.source_id,
                    "parent_id": parent_id,
                    "format": item.format,
                    "method": _method(item),
                    "pages": len(item.pages),
                    "ocr_pages": sum(1 for p in item.pages if p.ocr),
                    "ocr_confidence": _mean_confidence(item),
                    "messages": len(item.messages),
                    "content_sha256": record.blob.sha256,
                    "text_chars": len(item.text),
                    "owner_staff_id": owner,
                    "evidence": [e.to_json() for e in item.evidence if e.kind != "origin"],
                },
            )
        )
        if origin:
            events.extend(links.add(rows, record.record_id, origin, is_forward, actor))
    if not shared:
        rows.flush()
    return events, cleanup


def commit_duplicate(path: Path, digest: FileDigest, source_id: str, records: list[str], actor: str) -> tuple[SourceReport, PendingEvent]:
    event = PendingEvent(actor, "source.received", "source", source_id, {"sha256": digest.sha256, "size": digest.size, "duplicate": True})
    report = SourceReport(source_id, str(path), digest.sha256, "duplicate", f"the same file is held already as source {source_id}", records)
    return report, event


def report_for(source: PreparedSource) -> SourceReport:
    file = source.file
    texts = {record.text_blob_id: record.item.text for record in source.records}
    return SourceReport(source.source_id, str(source.path), source.digest.sha256, file.status, file.reason_for(source.source_id), list(dict.fromkeys(source.record_ids)), texts)


def append_events(session: Session, events: list[PendingEvent], now: dt.datetime) -> None:
    session.flush()
    audit.append_many(session, events, now=now, returning=False)


# --- quarantine retry ----------------------------------------------------------------


def quarantined_source(session: Session, source_id: str) -> Source:
    """The source to retry, or a refusal that says why it cannot be retried."""
    from records.errors import NotFound, Refused

    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"no source {source_id!r}: see `records quarantine list`")
    if source.status != "quarantined":
        raise Refused(f"source {source_id} is {source.status}, not quarantined: nothing to retry")
    if not source.key_id or not source.blob_id:
        raise Refused(f"source {source_id} kept no copy of its file: ingest the file again")
    return source


def retry_events(source: PreparedSource, *, actor: str, password_given: bool) -> PendingEvent:
    return PendingEvent(actor, "source.retried", "source", source.source_id, {"password_given": password_given, "outcome": source.file.status})


def source_owner(session: Session, source_id: str) -> str | None:
    row = session.get(Source, source_id)
    return row.owner_staff_id if row else None


def unfinished_sources(session: Session, shas: list[str]) -> dict[str, tuple[str, str, str]]:
    """Streaming sources a crash left ``ingesting``: sha256 → (source id, key id, blob id)."""
    if not shas:
        return {}
    rows = session.execute(
        select(Source.sha256, Source.id, Source.key_id, Source.blob_id).where(Source.sha256.in_(shas), Source.status == "ingesting")
    ).all()
    return {sha: (source_id, key_id, blob_id) for sha, source_id, key_id, blob_id in rows if key_id and blob_id}


def receive_parts(installation: Any, paths: list[Path], lead_of: dict[str, str], *, actor: str) -> list[SourceReport]:
    """Keep the other zips of a multi-zip export as sources of their own, without records.

    Their members were read with the lead zip; what each part holds is provenance.
    """
    from records.intake.pipeline import FileExtraction, digest

    content: ContentStore = installation.content
    reports: list[SourceReport] = []
    for path in paths:
        file_digest = digest(path)
        lead_digest = digest(Path(lead_of[str(path)]))
        with installation.catalog.reading() as session:
            held = known_sources(session, [file_digest.sha256, lead_digest.sha256])
        lead_id = held.get(lead_digest.sha256, (None, []))[0]
        if file_digest.sha256 in held:
            source_id, records = held[file_digest.sha256]
            report, event = commit_duplicate(path, file_digest, source_id, records, actor)
            with installation.catalog.writing() as session:
                append_events(session, [event], dt.datetime.now(dt.UTC))
            reports.append(report)
            continue
        file = FileExtraction(None, None, None)
        source = prepare_source(content, path, file_digest, file)
        source.part_of = lead_id
        try:
            with installation.catalog.writing() as session:
                now = dt.datetime.now(dt.UTC)
                events = commit_source(session, source, actor=actor, owner_staff_id=None, status="ingested", now=now)
                row = source.row
                row.reason = f"part of the export read with source {lead_id}" if lead_id else "part of a multi-zip export"  # type: ignore[union-attr]
                row.status = "ingested"  # type: ignore[union-attr]
                events.append(PendingEvent(actor, "source.part_of", "source", source.source_id, {"lead_source_id": lead_id}))
                append_events(session, events, now)
        except BaseException:
            source.source_cleanup().failed(content, installation.catalog)
            raise
        reports.append(SourceReport(source.source_id, str(path), file_digest.sha256, "ingested", f"part of the export read with source {lead_id}", []))
    return reports
