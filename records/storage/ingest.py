"""Storing what intake found: sources, records, pages and their audit events.

Two steps, because the store and the catalog cannot share a transaction:
``prepare`` writes encrypted content (a new key per record) and touches no table;
``commit`` writes every row and audit event of a batch in one transaction. When the
transaction fails, ``discard`` removes the batch's content so no orphan stays behind.

A printout's record keeps the file's own bytes under the record's key, and its source
points at the same blob: destroying the record leaves no copy in a kept original. A
quarantined source keeps its bytes under a key of its own so that a retry (with a
password, say) can read them again.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.intake.model import Item
from records.intake.pipeline import FileDigest, FileExtraction
from records.storage import audit
from records.storage.audit import PendingEvent
from records.storage.content import ContentStore, StoredBlob
from records.storage.destroy import discard_uncommitted
from records.storage.ids import new_id
from records.storage.models import Record, RecordPage, RecordSource, Source


@dataclass
class SourceReport:
    """One line of ``records ingest --json``'s ``sources``."""

    id: str
    path: str
    sha256: str
    status: str
    reason: str | None
    records: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "sha256": self.sha256, "status": self.status, "reason": self.reason, "records": self.records}


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

    @property
    def key_ids(self) -> list[str]:
        return list(dict.fromkeys([self.key_id, *(r.key_id for r in self.records)]))

    @property
    def blob_ids(self) -> list[str]:
        ids = [self.blob.blob_id]
        for record in self.records:
            ids += [record.blob.blob_id, record.text_blob_id]
        return list(dict.fromkeys(ids))


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


def prepare(
    content: ContentStore,
    path: Path,
    digest: FileDigest,
    file: FileExtraction,
    *,
    held: tuple[str, str, StoredBlob] | None = None,
) -> PreparedSource:
    """Encrypt the file and every record's content and text under new keys (no SQL).

    ``held`` is (source id, key id, blob) of a source already in the store: a retry
    reuses its encrypted original instead of writing the bytes a second time.
    """
    if held is None:
        source_key = new_id("K")
        content.ensure_key(source_key)
        with path.open("rb") as handle:
            blob = content.put(source_key, handle)
        prepared = PreparedSource(new_id("S"), path, digest, file, source_key, blob)
    else:
        prepared = PreparedSource(held[0], path, digest, file, held[1], held[2])
    if file.extraction is None:
        return prepared
    try:
        first = True
        queue: list[tuple[Item, str | None]] = [(item, None) for item in file.extraction.items]
        while queue:
            item, parent_id = queue.pop(0)
            if first and item.content is None:
                key_id, item_blob = prepared.key_id, prepared.blob  # the file itself is the record
            else:
                key_id = new_id("K")
                content.ensure_key(key_id)
                with (item.content or path).open("rb") as handle:
                    item_blob = content.put(key_id, handle)
            first = False
            text_blob_id = content.put_text(key_id, item.text)
            record = PreparedRecord(new_id("R"), parent_id, key_id, item_blob, text_blob_id, item)
            prepared.records.append(record)
            queue.extend((child, record.record_id) for child in item.children)
    except BaseException:
        if held is None:
            discard(content, prepared)
        else:
            discard_records(content, prepared)
        raise
    return prepared


def discard(content: ContentStore, prepared: PreparedSource) -> None:
    """Remove everything ``prepare`` wrote for a source that was never committed."""
    discard_uncommitted(content, prepared.key_ids, prepared.blob_ids)


def discard_records(content: ContentStore, prepared: PreparedSource) -> None:
    """Remove what a retry wrote, keeping the source's own encrypted original."""
    keys = [r.key_id for r in prepared.records if r.key_id != prepared.key_id]
    blobs = [b for r in prepared.records for b in (r.text_blob_id, r.blob.blob_id) if b != prepared.blob.blob_id]
    discard_uncommitted(content, keys, blobs)


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


def _record_row(record: PreparedRecord, source: PreparedSource, owner_staff_id: str | None, now: dt.datetime) -> Record:
    item = record.item
    return Record(
        id=record.record_id,
        source_id=source.source_id,
        parent_id=record.parent_id,
        format=item.format,
        locator=item.locator,
        sent_at_first=item.sent_at_first,
        sent_at_last=item.sent_at_last,
        owner_staff_id=owner_staff_id,
        participants=[p.to_json() for p in item.participants],
        text_chars=len(item.text),
        content_sha256=record.blob.sha256,
        key_id=record.key_id,
        blob_id=record.blob.blob_id,
        text_blob_id=record.text_blob_id,
        series_code="UNSCHEDULED",
        series_confidence=0.0,
        series_evidence=[],
        series_decided_by="engine",
        extraction_evidence=[e.to_json() for e in item.evidence],
        status="active",
        created_at=now,
    )


def commit(
    session: Session,
    prepared: list[PreparedSource],
    duplicates: list[tuple[Path, FileDigest, str]],
    *,
    actor: str,
    owner_staff_id: str | None = None,
) -> list[SourceReport]:
    """Write a batch's sources, records, pages and audit events in the caller's transaction.

    ``duplicates`` are files whose bytes are held already: (path, digest, source id).
    Each gets a receipt event on the existing source; nothing else changes.
    """
    now = dt.datetime.now(dt.UTC)
    events: list[PendingEvent] = []
    reports: list[SourceReport] = []
    for source in prepared:
        file = source.file
        session.add(
            Source(
                id=source.source_id,
                sha256=source.digest.sha256,
                path=str(source.path),
                size=source.digest.size,
                detected_type=file.sniff.mime if file.sniff else None,
                status=file.status,
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
            )
        )
        session.flush()  # the source row first: records refer to it
        events.append(PendingEvent(actor, "source.received", "source", source.source_id, {"sha256": source.digest.sha256, "size": source.digest.size}))
        if file.sniff is not None:
            events.append(
                PendingEvent(
                    actor,
                    "source.detected",
                    "source",
                    source.source_id,
                    {"mime": file.sniff.mime, "reader": file.extraction.reader if file.extraction else None},
                )
            )
        events.extend(_record_events(session, source, actor, owner_staff_id, now))
        if file.quarantine is not None:
            events.append(PendingEvent(actor, "source.quarantined", "source", source.source_id, {"kind": file.quarantine.kind, "reason": file.reason_for(source.source_id)}))
        elif file.status == "partial":
            events.append(PendingEvent(actor, "source.partial", "source", source.source_id, {"problems": file.extraction.problems if file.extraction else []}))
        reports.append(
            SourceReport(source.source_id, str(source.path), source.digest.sha256, file.status, file.reason_for(source.source_id), [r.record_id for r in source.records])
        )
    known = known_sources(session, [sha for _, sha, _ in ((p, d.sha256, s) for p, d, s in duplicates)])
    for path, digest, source_id in duplicates:
        events.append(PendingEvent(actor, "source.received", "source", source_id, {"sha256": digest.sha256, "size": digest.size, "duplicate": True}))
        records = known.get(digest.sha256, (source_id, []))[1]
        reports.append(SourceReport(source_id, str(path), digest.sha256, "duplicate", f"the same file is held already as source {source_id}", records))
    session.flush()
    audit.append_many(session, events, now=now)
    return reports


def _record_events(session: Session, source: PreparedSource, actor: str, owner_staff_id: str | None, now: dt.datetime) -> list[PendingEvent]:
    events: list[PendingEvent] = []
    for record in source.records:
        session.add(_record_row(record, source, owner_staff_id, now))
        session.flush()
        session.add(RecordSource(record_id=record.record_id, source_id=source.source_id))
        offset_pages = []
        for page in record.item.pages:
            offset_pages.append(
                RecordPage(
                    record_id=record.record_id,
                    number=page.number,
                    ocr=page.ocr,
                    confidence=page.confidence,
                    rotation=page.rotation,
                    skew=page.skew,
                    chars=len(page.text),
                )
            )
        session.add_all(offset_pages)
        item = record.item
        events.append(
            PendingEvent(
                actor,
                "record.extracted",
                "record",
                record.record_id,
                {
                    "source_id": source.source_id,
                    "parent_id": record.parent_id,
                    "format": item.format,
                    "method": _method(item),
                    "pages": len(item.pages),
                    "ocr_pages": sum(1 for p in item.pages if p.ocr),
                    "ocr_confidence": _mean_confidence(item),
                    "content_sha256": record.blob.sha256,
                    "text_chars": len(item.text),
                    "evidence": [e.to_json() for e in item.evidence],
                },
            )
        )
    return events


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


def commit_retry(session: Session, prepared: PreparedSource, *, actor: str, password_given: bool) -> SourceReport:
    """Record a retry's outcome on the existing source, with its audit events."""
    now = dt.datetime.now(dt.UTC)
    source = session.get(Source, prepared.source_id)
    assert source is not None
    file = prepared.file
    source.status = file.status
    source.reason = file.reason_for(source.id)
    source.quarantine_kind = file.quarantine.kind if file.quarantine else None
    source.reader = file.extraction.reader if file.extraction else source.reader
    source.updated_at = now
    events = [
        PendingEvent(actor, "source.retried", "source", source.id, {"password_given": password_given, "outcome": file.status})
    ]
    events.extend(_record_events(session, prepared, actor, source.owner_staff_id, now))
    if file.quarantine is not None:
        events.append(PendingEvent(actor, "source.quarantined", "source", source.id, {"kind": file.quarantine.kind, "reason": file.reason_for(source.id)}))
    elif file.status == "partial":
        events.append(PendingEvent(actor, "source.partial", "source", source.id, {"problems": file.extraction.problems if file.extraction else []}))
    session.flush()
    audit.append_many(session, events, now=now)
    return SourceReport(source.id, source.path, source.sha256, file.status, file.reason_for(source.id), [r.record_id for r in prepared.records])
