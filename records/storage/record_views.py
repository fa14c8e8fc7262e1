"""The catalog's answers to ``records list``, ``show``, ``text`` and ``quarantine list``.

Shapes follow cli.md exactly. Retention dates are stored on each record; the state is
derived for the day asked (today, or ``--as-of``), with the holds in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zoneinfo import ZoneInfo

from records.config import DistrictSettings
from records.errors import NotFound, Refused, UsageError
from records.storage import audit, retention
from records.storage.content import ContentStore
from records.storage.models import Record, RecordPage, RecordSource, RecordStudent, Source, Tombstone


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None




@dataclass(frozen=True)
class RecordFilter:
    student_id: str | None = None
    series: str | None = None
    status: str | None = None
    format: str | None = None
    source_id: str | None = None
    state: str | None = None
    dated_from: dt.date | None = None  # records with a date on or after this day (district time)
    dated_to: dt.date | None = None  # ... and on or before this one


@dataclass(frozen=True)
class ViewContext:
    """What the derived fields of a view depend on: the day and the district's settings."""

    as_of: dt.date
    zone: ZoneInfo
    due_soon_days: int = 90

    @classmethod
    def for_settings(cls, settings: DistrictSettings, as_of: dt.date | None = None) -> ViewContext:
        return cls(as_of or dt.datetime.now(settings.zone).date(), settings.zone, settings.due_soon_days)


def _views(session: Session, rows: list[Record], context: ViewContext | None = None) -> list[dict[str, Any]]:
    if not rows:
        return []
    context = context or ViewContext.for_settings(DistrictSettings())
    ids = [r.id for r in rows]
    holds = retention.holds_on(session, ids, context.zone)
    sources: dict[str, list[str]] = {}
    for record_id, source_id in session.execute(
        select(RecordSource.record_id, RecordSource.source_id).where(RecordSource.record_id.in_(ids)).order_by(RecordSource.source_id)
    ):
        sources.setdefault(record_id, []).append(source_id)
    shas = dict(session.execute(select(Source.id, Source.sha256).where(Source.id.in_({r.source_id for r in rows}))).all())
    students: dict[str, list[dict[str, Any]]] = {}
    for link in session.execute(select(RecordStudent).where(RecordStudent.record_id.in_(ids)).order_by(RecordStudent.student_id)).scalars():
        students.setdefault(link.record_id, []).append(
            {"student_id": link.student_id, "confidence": link.confidence, "evidence": link.evidence}
        )
    pages: dict[str, list[dict[str, Any]]] = {}
    for page in session.execute(select(RecordPage).where(RecordPage.record_id.in_(ids)).order_by(RecordPage.number)).scalars():
        pages.setdefault(page.record_id, []).append(
            {"number": page.number, "ocr": page.ocr, "confidence": page.confidence, "rotation": page.rotation, "skew": page.skew, "chars": page.chars}
        )
    views = []
    for r in rows:
        destroyed = r.status == "destroyed"
        views.append(
            {
                "id": r.id,
                "source_id": r.source_id,
                "source_ids": sources.get(r.id, [r.source_id]),
                "source_sha256": shas.get(r.source_id),
                "format": r.format,
                "locator": r.locator,
                "parent_id": r.parent_id,
                "sent_at_first": _instant(r.sent_at_first),
                "sent_at_last": _instant(r.sent_at_last),
                "owner_staff_id": r.owner_staff_id,
                "participants": [] if destroyed else r.participants,
                "text_chars": 0 if destroyed else r.text_chars,
                "students": students.get(r.id, []),
                "series": {
                    "code": r.series_code,
                    "confidence": r.series_confidence,
                    "evidence": r.series_evidence,
                    "decided_by": r.series_decided_by,
                },
                "retention": retention.retention_view(r, as_of=context.as_of, due_soon_days=context.due_soon_days, held=bool(holds.get(r.id))),
                "holds": holds.get(r.id, []),
                "status": r.status,
                "pages": [] if destroyed else pages.get(r.id, []),
                "extraction_evidence": r.extraction_evidence,
            }
        )
    return views


def list_records(session: Session, where: RecordFilter, context: ViewContext | None = None) -> list[dict[str, Any]]:
    query = select(Record).order_by(Record.created_at, Record.id)
    if where.series:
        query = query.where(Record.series_code == where.series)
    if where.status:
        query = query.where(Record.status == where.status)
    if where.format:
        query = query.where(Record.format == where.format)
    if where.student_id:
        query = query.where(Record.id.in_(select(RecordStudent.record_id).where(RecordStudent.student_id == where.student_id)))
    if where.source_id:
        query = query.where(Record.id.in_(select(RecordSource.record_id).where(RecordSource.source_id == where.source_id)))
    query = _dated(query, where, (context or ViewContext.for_settings(DistrictSettings())).zone)
    views = _views(session, list(session.execute(query).scalars()), context)
    if where.state:
        views = [v for v in views if v["retention"]["state"] == where.state]
    return views


def views_of(session: Session, record_ids: list[str], context: ViewContext | None = None) -> list[dict[str, Any]]:
    """The views of the records named, in the order named (for lists such as overdue)."""
    rows = {r.id: r for r in session.execute(select(Record).where(Record.id.in_(record_ids))).scalars()} if record_ids else {}
    return _views(session, [rows[i] for i in record_ids if i in rows], context)


def _dated(query: Any, where: RecordFilter, zone: ZoneInfo) -> Any:
    """Records whose span of dates (first to last message) overlaps the days asked.

    Days are the district's calendar days; a record without any date never matches a
    date filter (it cannot be said to fall inside the range).
    """
    def start(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)

    if where.dated_from:
        query = query.where(func.coalesce(Record.sent_at_last, Record.sent_at_first) >= start(where.dated_from))
    if where.dated_to:
        query = query.where(func.coalesce(Record.sent_at_first, Record.sent_at_last) < start(where.dated_to + dt.timedelta(days=1)))
    return query


# Text search decrypts each candidate's text, so it reads at most this many records:
# the catalog filters (student, series, dates, format) narrow the candidates first.
SEARCH_LIMIT = 2000


def match_text(session: Session, content: ContentStore, record_ids: list[str], query: str, *, purpose: str, limit: int | None = None) -> tuple[list[str], int]:
    """The records among ``record_ids`` whose text holds every word of ``query``, and how many were read.

    Text is encrypted per record, so there is no plaintext index to leak or to purge on
    destruction: the search decrypts the bounded candidate set in memory and keeps nothing.
    Runs in a reading transaction; the caller then records the search with ``log_search``
    before showing anything.
    """
    words = [w for w in query.casefold().split() if w]
    if not words:
        raise UsageError("give at least one word to search the records' text for")
    if not purpose.strip():
        raise UsageError("say why you are searching: the purpose goes into the access log of every student whose record matches")
    limit = SEARCH_LIMIT if limit is None else limit
    if len(record_ids) > limit:
        raise UsageError(
            f"the filters leave {len(record_ids)} records and a text search reads at most {limit}: "
            "narrow it by student, series, dates or format first"
        )
    rows = session.execute(
        select(Record.id, Record.key_id, Record.text_blob_id).where(Record.id.in_(record_ids), Record.status != "destroyed")
    ).all()
    found = set()
    for record_id, key_id, blob_id in rows:
        if key_id and blob_id and all(word in " ".join(content.read_text(key_id, blob_id).casefold().split()) for word in words):
            found.add(record_id)
    return [record_id for record_id in record_ids if record_id in found], len(rows)


def log_search(session: Session, *, actor: str, purpose: str, matched: list[str], read: int) -> None:
    """A text search is an access to student records (603 CMR 23.07).

    One ``records.searched`` event names the searcher, the purpose, how many records were
    read and which matched, with the students of the matches (so it shows in each one's
    access log). The words searched for are not logged (they would repeat records' words).
    """
    students = sorted(set(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id.in_(matched))).scalars()))
    audit.append(session, actor, "records.searched", "search", "text", {"purpose": purpose, "read": read, "matched": matched, "students": students})


def read_content(session: Session, content: ContentStore, record_id: str, *, actor: str, purpose: str | None, what: str) -> bytes:
    """The record's stored content (the scan itself); reading it is an access event."""
    row = session.get(Record, record_id)
    if row is None:
        raise NotFound(f"no record {record_id!r}: see `records list`")
    if row.status == "destroyed" or not row.key_id or not row.blob_id:
        raise Refused(f"record {record_id} has no readable content (destroyed or never stored)")
    with content.open(row.key_id, row.blob_id) as handle:
        data = handle.read()
    students = sorted(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record_id)).scalars())
    audit.append(session, actor, "record.viewed", "record", record_id, {"what": what, "purpose": purpose, "students": students})
    return data


def show_record(session: Session, record_id: str, context: ViewContext | None = None) -> dict[str, Any]:
    row = session.get(Record, record_id)
    if row is None:
        raise NotFound(f"no record {record_id!r}: see `records list`")
    return _views(session, [row], context)[0]


def read_text(session: Session, content: ContentStore, record_id: str, *, actor: str, purpose: str | None) -> str:
    """The record's text; reading it is an access event (603 CMR 23.07)."""
    row = session.get(Record, record_id)
    if row is None:
        raise NotFound(f"no record {record_id!r}: see `records list`")
    if row.status == "destroyed":
        tomb = session.get(Tombstone, record_id)
        when = _instant(tomb.destroyed_at) if tomb else "an unknown date"
        raise Refused(
            f"record {record_id} was destroyed on {when} ({tomb.reason if tomb else 'destroyed'}"
            + (f", batch {tomb.batch_id}" if tomb and tomb.batch_id else "")
            + f"); content hash {row.content_sha256}"
        )
    if not row.key_id or not row.text_blob_id:
        raise NotFound(f"record {record_id} has no stored text")
    text = content.read_text(row.key_id, row.text_blob_id)
    students = sorted(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record_id)).scalars())
    audit.append(session, actor, "record.viewed", "record", record_id, {"what": "text", "purpose": purpose, "students": students})
    return text


def quarantined(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Source).where(Source.status == "quarantined").order_by(Source.received_at, Source.id)).scalars()
    return [
        {"source_id": s.id, "path": s.path, "reason": s.reason, "at": _instant(s.updated_at or s.received_at), "kind": s.quarantine_kind}
        for s in rows
    ]
