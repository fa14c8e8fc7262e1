"""Retention in the catalog: dates stored on each record, holds evaluated in SQL.

``recompute`` applies the pure function of ``records.retention.eligibility`` to records
and stores what changed, one ``record.retention`` event per change, so that a schedule
version, a confirmation, a roster import or a classification decision leaves a trail of
every date it moved. Holds are evaluated as queries, so a hold covers records ingested
after it was placed, and planning over millions of records stays in the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from records.config import DistrictSettings
from records.errors import NotFound, Refused
from records.retention.eligibility import RecordDates, compute, state_on
from records.retention.holds import HoldCriteria
from records.storage.audit import PendingEvent, append_many
from records.storage.ids import new_id
from records.storage.models import Hold, Record, RecordStudent, Staff, Student
from records.storage.schedules import series_terms

LIVE = ("active", "in_review", "proposed")
_CHUNK = 1000


def _day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)


# --- holds --------------------------------------------------------------------------


def hold_predicate(criteria: HoldCriteria, zone: ZoneInfo) -> Any:
    """A WHERE clause on ``records`` true for the live records a hold covers.

    It tests the outer row itself (student links through an ``EXISTS`` the primary key
    serves) rather than ``id IN (SELECT ...)``: planning reads millions of records in
    chunks, and a subquery would be a full scan per chunk.
    """
    clauses: list[Any] = [Record.status != "destroyed"]
    if criteria.students:
        clauses.append(
            exists().where(RecordStudent.record_id == Record.id, RecordStudent.student_id.in_(criteria.students))
        )
    if criteria.series:
        clauses.append(Record.series_code.in_(criteria.series))
    first = func.coalesce(Record.sent_at_first, Record.sent_at_last, Record.created_at)
    last = func.coalesce(Record.sent_at_last, Record.sent_at_first, Record.created_at)
    if criteria.date_from:
        clauses.append(last >= _day_start(criteria.date_from, zone))
    if criteria.date_to:
        clauses.append(first < _day_start(criteria.date_to + dt.timedelta(days=1), zone))
    if criteria.records:
        clauses.append(Record.id.in_(criteria.records))
    return and_(*clauses)


def hold_query(criteria: HoldCriteria, zone: ZoneInfo) -> Select[Any]:
    """The ids of the live records a hold covers (AND across kinds, OR within one)."""
    return select(Record.id).where(hold_predicate(criteria, zone))


def active_holds(session: Session) -> list[Hold]:
    return list(session.execute(select(Hold).where(Hold.released_at.is_(None)).order_by(Hold.placed_at, Hold.id)).scalars())


def holds_on(session: Session, record_ids: Sequence[str], zone: ZoneInfo) -> dict[str, list[str]]:
    """record id → ids of the active holds covering it."""
    found: dict[str, list[str]] = {}
    if not record_ids:
        return found
    for hold in active_holds(session):
        query = hold_query(HoldCriteria.from_json(hold.criteria), zone)
        for start in range(0, len(record_ids), _CHUNK):
            chunk = list(record_ids[start : start + _CHUNK])
            for record_id in session.execute(query.where(Record.id.in_(chunk))).scalars():
                found.setdefault(record_id, []).append(hold.id)
    return found


def held_clause(session: Session, zone: ZoneInfo) -> Any:
    """A WHERE clause true for records under any active hold (for planning in SQL)."""
    clauses = [hold_predicate(HoldCriteria.from_json(h.criteria), zone) for h in active_holds(session)]
    return or_(*clauses) if clauses else None


def place_hold(session: Session, kind: str, reason: str, criteria: HoldCriteria, *, actor: str, zone: ZoneInfo, now: dt.datetime | None = None) -> tuple[str, int]:
    now = now or dt.datetime.now(dt.UTC)
    hold_id = new_id("H")
    session.add(Hold(id=hold_id, kind=kind, reason=reason, criteria=criteria.to_json(), placed_by=actor, placed_at=now))
    session.flush()
    covers = count_covered(session, criteria, zone)
    append_many(session, [PendingEvent(actor, "hold.placed", "hold", hold_id, {"kind": kind, "reason": reason, "criteria": criteria.to_json(), "covers": covers})], now=now)
    return hold_id, covers


def count_covered(session: Session, criteria: HoldCriteria, zone: ZoneInfo) -> int:
    return int(session.execute(select(func.count()).select_from(hold_query(criteria, zone).subquery())).scalar_one())


def release_hold(session: Session, hold_id: str, *, actor: str, zone: ZoneInfo, now: dt.datetime | None = None) -> Hold:
    now = now or dt.datetime.now(dt.UTC)
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id!r}: see `records hold list`")
    if hold.released_at is not None:
        raise Refused(f"hold {hold_id} was already released on {hold.released_at:%Y-%m-%d} by {hold.released_by}")
    covers = count_covered(session, HoldCriteria.from_json(hold.criteria), zone)
    hold.released_at, hold.released_by = now, actor
    session.flush()
    append_many(session, [PendingEvent(actor, "hold.released", "hold", hold_id, {"kind": hold.kind, "covered": covers})], now=now)
    return hold


def list_holds(session: Session, zone: ZoneInfo) -> list[dict[str, Any]]:
    rows = session.execute(select(Hold).order_by(Hold.placed_at, Hold.id)).scalars()
    return [
        {
            "hold_id": h.id,
            "kind": h.kind,
            "reason": h.reason,
            "criteria": h.criteria,
            "placed_by": h.placed_by,
            "placed_at": h.placed_at,
            "released_at": h.released_at,
            "released_by": h.released_by,
            "covers": count_covered(session, HoldCriteria.from_json(h.criteria), zone),
        }
        for h in rows
    ]


# --- retention dates ----------------------------------------------------------------


def _iter_ids(session: Session, record_ids: Sequence[str] | None) -> Iterator[list[str]]:
    if record_ids is not None:
        ids = list(record_ids)
        for start in range(0, len(ids), _CHUNK):
            yield ids[start : start + _CHUNK]
        return
    last = ""
    while True:
        chunk = list(session.execute(select(Record.id).where(Record.status.in_(LIVE), Record.id > last).order_by(Record.id).limit(_CHUNK)).scalars())
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def recompute(
    session: Session,
    settings: DistrictSettings,
    record_ids: Sequence[str] | None = None,
    *,
    actor: str = "engine",
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Recompute and store retention for these records (all live ones by default).

    Returns how many changed; each change is a ``record.retention`` event with the dates
    before and after. Runs in chunks of a thousand records, inside the caller's
    transaction.
    """
    now = now or dt.datetime.now(dt.UTC)
    as_of = as_of or now.astimezone(settings.zone).date()
    terms = series_terms(session)
    staff_exits = dict(session.execute(select(Staff.staff_id, Staff.exit_date)).all())
    changed = 0
    for chunk in _iter_ids(session, record_ids):
        rows = session.execute(select(Record).where(Record.id.in_(chunk), Record.status.in_(LIVE))).scalars().all()
        exits: dict[str, list[dt.date | None]] = {}
        for record_id, exit_date in session.execute(
            select(RecordStudent.record_id, Student.exit_date).join(Student, Student.student_id == RecordStudent.student_id).where(RecordStudent.record_id.in_(chunk))
        ):
            exits.setdefault(record_id, []).append(exit_date)
        events = []
        for row in rows:
            series = terms.get(row.series_code) or terms.get("UNSCHEDULED")
            if series is None:
                continue
            result = compute(
                series,
                RecordDates(row.sent_at_first, row.sent_at_last, row.created_at, exits.get(row.id, []), staff_exits.get(row.owner_staff_id) if row.owner_staff_id else None),
                as_of=as_of,
                timezone=settings.timezone,
                grace_after_exit=settings.grace_after_exit,
                due_soon_days=settings.due_soon_days,
            )
            before = (row.retention_trigger, row.trigger_date, row.eligible_on, row.destroy_by, row.disposition, row.needs_approval, row.schedule_version)
            after = (result.trigger, result.trigger_date, result.eligible_on, result.destroy_by, result.disposition, result.needs_approval, result.schedule_version)
            if before == after:
                continue
            (row.retention_trigger, row.trigger_date, row.eligible_on, row.destroy_by, row.disposition, row.needs_approval, row.schedule_version) = after
            changed += 1
            events.append(
                PendingEvent(
                    actor,
                    "record.retention",
                    "record",
                    row.id,
                    {
                        "series": row.series_code,
                        "schedule_version": result.schedule_version,
                        "trigger": result.trigger,
                        "trigger_date": _iso(result.trigger_date),
                        "eligible_on": _iso(result.eligible_on),
                        "destroy_by": _iso(result.destroy_by),
                        "before": {"trigger_date": _iso(before[1]), "eligible_on": _iso(before[2]), "destroy_by": _iso(before[3]), "schedule_version": before[6]},
                        "reason": result.reason,
                    },
                )
            )
        session.flush()
        append_many(session, events, now=now)
    return changed


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def state_of(row: Record, *, as_of: dt.date, due_soon_days: int, held: bool) -> str:
    """The retention state of a stored record on a day."""
    return state_on(row.eligible_on, row.destroy_by, as_of=as_of, due_soon_days=due_soon_days, held=held, proposed=row.status == "proposed", destroyed=row.status == "destroyed")


def retention_view(row: Record, *, as_of: dt.date, due_soon_days: int, held: bool) -> dict[str, Any]:
    return {
        "trigger": row.retention_trigger,
        "trigger_date": row.trigger_date,
        "eligible_on": row.eligible_on,
        "destroy_by": row.destroy_by,
        "disposition": row.disposition,
        "needs_approval": row.needs_approval,
        "schedule_version": row.schedule_version,
        "state": state_of(row, as_of=as_of, due_soon_days=due_soon_days, held=held) if row.schedule_version is not None or row.status == "destroyed" else None,
    }


__all__ = [
    "active_holds",
    "count_covered",
    "held_clause",
    "hold_predicate",
    "hold_query",
    "holds_on",
    "list_holds",
    "place_hold",
    "recompute",
    "release_hold",
    "retention_view",
    "state_of",
]
