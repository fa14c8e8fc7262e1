"""The destroy primitive: the only way anything is ever deleted (design.md, "Storage of content").

Order matters, because the store and the catalog cannot share a transaction:

1. the record's key is shredded first: from that instant every copy of the blob and
   text, in the store and in any backup, is unreadable (crypto-shredding);
2. then the blob and the text are deleted from the store;
3. then, in the caller's write transaction, the tombstone is written, the record is
   marked destroyed and stripped of its participants, and one ``record.destroyed``
   event is appended to the audit chain.

A crash between 1 and 3 leaves a record whose content is already gone but which has no
tombstone yet; calling ``destroy_record`` again finishes it. Once a tombstone exists,
another call only makes sure the key and blobs are gone and reports
``already_destroyed`` without a second audit event. A rollback of the caller's
transaction cannot bring the key back: call this only once the decision is final
(holds checked, batch approved).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.errors import NotFound
from records.storage import audit, durability
from records.storage.content import ContentStore
from records.storage.models import Record, RecordStudent, Tombstone

_TOMBSTONE_FIELDS = (
    "record_id",
    "source_id",
    "format",
    "series_code",
    "sent_at_first",
    "sent_at_last",
    "content_sha256",
    "reason",
    "batch_id",
    "approval_reference",
    "destroyed_at",
    "destroyed_by",
)


@dataclass(frozen=True)
class DestroyResult:
    """The outcome for one record; ``tombstone`` holds the tombstone's columns."""

    record_id: str
    tombstone: dict[str, Any] = field(default_factory=dict)
    already_destroyed: bool = False


def _tombstone_dict(row: Tombstone) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _TOMBSTONE_FIELDS}


def _shred(content: ContentStore, record: Record | None) -> bool:
    """Key first, then blob and text. Say whether the key was still there."""
    if record is None:
        return False
    key_was_there = content.keystore.destroy(record.key_id) if record.key_id else False
    for blob_id in (record.blob_id, record.text_blob_id):
        if blob_id:
            content.blobs.delete(blob_id)
    return key_was_there


def destroy_record(
    session: Session,
    content: ContentStore,
    record_id: str,
    *,
    actor: str,
    reason: str,
    batch_id: str | None = None,
    approval_reference: str | None = None,
    now: dt.datetime | None = None,
    students: list[str] | None = None,
) -> DestroyResult:
    """Destroy one record's content and leave its tombstone, inside the caller's transaction."""
    if not reason or len(reason) > 32:
        raise ValueError("a destruction needs a reason code of 1 to 32 characters")
    if not actor:
        raise ValueError("a destruction needs an actor")
    destroyed_at = now or dt.datetime.now(dt.UTC)
    if destroyed_at.tzinfo is None:
        raise ValueError("naive datetime given as the time of destruction; use an aware UTC time")

    # Lock the record row first (PostgreSQL; SQLite's write transaction already excludes
    # other writers) so two destroyers of one record serialise, then look for a tombstone.
    record = session.execute(
        select(Record).where(Record.id == record_id).with_for_update(),
        execution_options={"populate_existing": True},
    ).scalar_one_or_none()
    tombstone = session.get(Tombstone, record_id, populate_existing=True)

    if tombstone is not None:
        _shred(content, record)  # finish an interrupted destroy, if any content is left
        return DestroyResult(record_id=record_id, tombstone=_tombstone_dict(tombstone), already_destroyed=True)
    if record is None:
        raise NotFound(f"no record {record_id}")

    key_was_there = _shred(content, record)

    tombstone = Tombstone(
        record_id=record.id,
        source_id=record.source_id,
        format=record.format,
        series_code=record.series_code,
        sent_at_first=record.sent_at_first,
        sent_at_last=record.sent_at_last,
        content_sha256=record.content_sha256,
        reason=reason,
        batch_id=batch_id,
        approval_reference=approval_reference,
        destroyed_at=destroyed_at,
        destroyed_by=actor,
    )
    session.add(tombstone)
    record.status = "destroyed"
    record.participants = []
    record.text_chars = 0
    session.flush()

    audit.append(
        session,
        actor,
        "record.destroyed",
        "record",
        record_id,
        {
            "reason": reason,
            "batch_id": batch_id,
            "approval_reference": approval_reference,
            "series_code": record.series_code,
            "source_id": record.source_id,
            "content_sha256": record.content_sha256,
            "key_id": record.key_id,
            "blob_id": record.blob_id,
            "text_blob_id": record.text_blob_id,
            # False when a crashed earlier attempt had already shredded the key.
            "key_shredded_now": key_was_there,
            # Each linked student's access log shows the deletion (603 CMR 23.07).
            "students": students if students is not None else _linked_students(session, record_id),
        },
    )
    return DestroyResult(record_id=record_id, tombstone=_tombstone_dict(tombstone), already_destroyed=False)


def _linked_students(session: Session, record_id: str) -> list[str]:
    return sorted(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record_id)).scalars())


__all__ = ["DestroyResult", "destroy_record"]


def discard_uncommitted(content: ContentStore, key_ids: list[str], blob_ids: list[str]) -> None:
    """Remove content written for a batch whose catalog transaction did not commit.

    Such content was never a record (no row, no audit event names it), so there is
    nothing to tombstone; leaving it would only leave unreadable orphans in the store.
    The members of a blob pack are zeroed one by one, so their syncs wait for one flush.
    """
    if not key_ids and not blob_ids:
        return  # the usual case after a commit: a stream's chunk replaced nothing
    with durability.batched():
        content.keystore.destroy_many(key_ids)
        for blob_id in blob_ids:
            content.blobs.delete(blob_id)
