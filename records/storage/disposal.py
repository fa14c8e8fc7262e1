"""Disposal in the catalog: plan, propose, approve or reject, execute, prove.

The law (M.G.L. c.66 §8) and domain.md set the order: nothing is destroyed without an
approved batch; approval is refused for a series the records officer has not confirmed
and to the officer who proposed; execution re-checks holds, confirmation and
``eligible_on`` against the real date at the moment of destruction, record by record.

Execution is crash-safe and idempotent: each record is destroyed in its own transaction
through the destroy primitive (key first, then blobs, then tombstone and event), and a
rerun skips what already has a tombstone. Kill it anywhere, rerun it, and every approved
record is destroyed exactly once; nothing outside the batch is touched.

Planning runs in the database: states are SQL predicates over the stored dates
(``eligible_on``, ``destroy_by``) and the holds' queries, read in chunks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session

from records.config import DistrictSettings
from records.errors import NotFound, Refused, UsageError
from records.storage import audit
from records.storage.audit import PendingEvent, append_many
from records.storage.content import ContentStore
from records.storage.destroy import destroy_record
from records.storage.ids import new_id
from records.storage.models import DisposalBatch, DisposalItem, Record, RecordPage, RecordStudent, Series
from records.storage.retention import held_clause, holds_on
from records.storage.schedules import current_version

PLANNED_STATUS = "active"  # records in review wait for their answer before any disposal
NEVER_PLANNED = ("NON-RECORD",)  # confirmed through its own path (records nonrecord confirm)


@dataclass
class Plan:
    as_of: dt.date
    eligible: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    due_soon: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    unconfirmed_series: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "eligible": self.eligible,
            "held": self.held,
            "due_soon": self.due_soon,
            "overdue": self.overdue,
            "unconfirmed_series": self.unconfirmed_series,
        }


def _plannable(as_of: dt.date) -> Any:
    return and_(
        Record.status == PLANNED_STATUS,
        Record.series_code.not_in(NEVER_PLANNED),
        Record.eligible_on.is_not(None),
        Record.eligible_on <= as_of,
    )


def plan_rows(session: Session, settings: DistrictSettings, as_of: dt.date, chunk: int = 5000) -> Iterator[tuple[str, str, str]]:
    """(record id, series, state) of every record the plan names, read in chunks.

    States follow the precedence of domain.md: held > overdue > due_soon > eligible.
    """
    held = held_clause(session, settings.zone)
    due_limit = as_of + dt.timedelta(days=settings.due_soon_days)
    base = select(Record.id, Record.series_code, Record.destroy_by, (held if held is not None else literal(False)).label("held")).where(_plannable(as_of)).order_by(Record.id)
    last = ""
    while True:
        rows = session.execute(base.where(Record.id > last).limit(chunk)).all()
        if not rows:
            return
        for record_id, series, destroy_by, is_held in rows:
            if is_held:
                yield record_id, series, "held"
            elif destroy_by is not None and as_of > destroy_by:
                yield record_id, series, "overdue"
            elif destroy_by is not None and destroy_by <= due_limit:
                yield record_id, series, "due_soon"
            else:
                yield record_id, series, "eligible"
        last = rows[-1][0]


def unconfirmed_codes(session: Session) -> set[str]:
    version = current_version(session)
    return set(session.execute(select(Series.code).where(Series.version == version, Series.confirmed.is_(False))).scalars())


def plan(session: Session, settings: DistrictSettings, as_of: dt.date) -> Plan:
    """The dry run: what could be proposed today, what a hold keeps, what is late."""
    result = Plan(as_of)
    unconfirmed = unconfirmed_codes(session)
    planned_series: set[str] = set()
    for record_id, series, state in plan_rows(session, settings, as_of):
        getattr(result, state).append(record_id)
        if state != "held":
            planned_series.add(series)
    result.unconfirmed_series = sorted(planned_series & unconfirmed)
    return result


# --- batches ------------------------------------------------------------------------


def _batch(session: Session, batch_id: str, *, lock: bool = False) -> DisposalBatch:
    query = select(DisposalBatch).where(DisposalBatch.id == batch_id)
    if lock:
        query = query.with_for_update()
    batch = session.execute(query).scalar_one_or_none()
    if batch is None:
        raise NotFound(f"no disposal batch {batch_id!r}: see `records dispose list`")
    return batch


def series_rule(session: Session, code: str) -> Series | None:
    return session.get(Series, (current_version(session), code))


def _summary(session: Session, record_ids: list[str]) -> dict[str, Any]:
    """Date range and volume of a set of records (what the RMU-2 application asks)."""
    first = last = None
    pages = messages = chars = 0
    for start in range(0, len(record_ids), 1000):
        chunk = record_ids[start : start + 1000]
        row = session.execute(
            select(
                func.min(func.coalesce(Record.sent_at_first, Record.sent_at_last, Record.created_at)),
                func.max(func.coalesce(Record.sent_at_last, Record.sent_at_first, Record.created_at)),
                func.sum(Record.message_count),
                func.sum(Record.text_chars),
            ).where(Record.id.in_(chunk))
        ).one()
        lo, hi, msgs, text = row
        first = lo if first is None or (lo is not None and lo < first) else first
        last = hi if last is None or (hi is not None and hi > last) else last
        messages += int(msgs or 0)
        chars += int(text or 0)
        pages += int(session.execute(select(func.count()).select_from(RecordPage).where(RecordPage.record_id.in_(chunk))).scalar_one())
    return {
        "records": len(record_ids),
        "first_date": first.date().isoformat() if first else None,
        "last_date": last.date().isoformat() if last else None,
        "pages": pages,
        "messages": messages,
        "text_characters": chars,
    }


def propose(session: Session, settings: DistrictSettings, as_of: dt.date, *, actor: str, today: dt.date, now: dt.datetime | None = None) -> list[DisposalBatch]:
    """One batch per series of the eligible, unheld records (never for a future date)."""
    if as_of > today:
        raise UsageError(f"--as-of {as_of} is in the future: a proposal is for records eligible today or earlier (plan any date with `records dispose plan`)")
    now = now or dt.datetime.now(dt.UTC)
    by_series: dict[str, list[str]] = {}
    for record_id, series, state in plan_rows(session, settings, as_of):
        if state != "held":
            by_series.setdefault(series, []).append(record_id)
    batches = []
    events = []
    for series, record_ids in sorted(by_series.items()):
        rule = series_rule(session, series)
        batch = DisposalBatch(
            id=new_id("B"),
            series_code=series,
            schedule_version=current_version(session),
            status="proposed",
            as_of=as_of,
            proposed_by=actor,
            proposed_at=now,
            needs_authorization=bool(rule.needs_approval) if rule else True,
            summary={},
        )
        session.add(batch)
        session.flush()
        for start in range(0, len(record_ids), 1000):
            chunk = record_ids[start : start + 1000]
            session.add_all(DisposalItem(batch_id=batch.id, record_id=record_id, outcome="pending") for record_id in chunk)
            session.execute(Record.__table__.update().where(Record.id.in_(chunk), Record.status == PLANNED_STATUS).values(status="proposed", updated_at=now))
        batch.summary = _summary(session, record_ids)
        session.flush()
        batches.append(batch)
        events.append(
            PendingEvent(
                actor,
                "disposal.proposed",
                "batch",
                batch.id,
                {"series": series, "as_of": as_of.isoformat(), "records": record_ids, "summary": batch.summary, "needs_authorization": batch.needs_authorization, "confirmed": bool(rule and rule.confirmed)},
            )
        )
    append_many(session, events, now=now)
    return batches


def batch_records(session: Session, batch_id: str) -> list[str]:
    return list(session.execute(select(DisposalItem.record_id).where(DisposalItem.batch_id == batch_id).order_by(DisposalItem.record_id)).scalars())


def list_batches(session: Session) -> list[dict[str, Any]]:
    counts = dict(session.execute(select(DisposalItem.batch_id, func.count()).group_by(DisposalItem.batch_id)).all())
    return [
        {
            "batch_id": b.id,
            "series": b.series_code,
            "status": b.status,
            "records": int(counts.get(b.id, 0)),
            "proposed_by": b.proposed_by,
            "approved_by": b.approved_by,
            "proposed_at": b.proposed_at,
            "as_of": b.as_of,
            "authorization": b.authorization,
            "rejected_reason": b.rejected_reason,
            "executed_at": b.executed_at,
            "summary": b.summary,
        }
        for b in session.execute(select(DisposalBatch).order_by(DisposalBatch.proposed_at, DisposalBatch.id)).scalars()
    ]


def approve(session: Session, batch_id: str, *, actor: str, authorization: str | None, now: dt.datetime | None = None) -> DisposalBatch:
    now = now or dt.datetime.now(dt.UTC)
    batch = _batch(session, batch_id, lock=True)
    if batch.status != "proposed":
        raise Refused(f"batch {batch_id} is {batch.status}: only a proposed batch can be approved")
    if actor == batch.proposed_by:
        raise Refused(f"batch {batch_id} was proposed by {actor}: another officer must approve it")
    rule = series_rule(session, batch.series_code)
    if rule is None or not rule.confirmed:
        raise Refused(f"series {batch.series_code} is not confirmed: the records officer confirms it first (`records schedule confirm {batch.series_code}`)")
    if batch.needs_authorization and not (authorization and authorization.strip()):
        raise Refused(f"series {batch.series_code} needs the Supervisor of Records' approval: give its reference with --authorization (RMU-2)")
    batch.status, batch.approved_by, batch.approved_at, batch.authorization = "approved", actor, now, authorization
    session.flush()
    append_many(session, [PendingEvent(actor, "disposal.approved", "batch", batch_id, {"series": batch.series_code, "authorization": authorization, "records": len(batch_records(session, batch_id))})], now=now)
    return batch


def reject(session: Session, batch_id: str, *, actor: str, reason: str, now: dt.datetime | None = None) -> DisposalBatch:
    now = now or dt.datetime.now(dt.UTC)
    if not reason or not reason.strip():
        raise UsageError("--reason is required: say why the batch is rejected")
    batch = _batch(session, batch_id, lock=True)
    if batch.status not in ("proposed", "approved"):
        raise Refused(f"batch {batch_id} is {batch.status}: it can no longer be rejected")
    ids = batch_records(session, batch_id)
    for start in range(0, len(ids), 1000):
        session.execute(Record.__table__.update().where(Record.id.in_(ids[start : start + 1000]), Record.status == "proposed").values(status=PLANNED_STATUS, updated_at=now))
    batch.status, batch.rejected_by, batch.rejected_at, batch.rejected_reason = "rejected", actor, now, reason
    session.flush()
    append_many(session, [PendingEvent(actor, "disposal.rejected", "batch", batch_id, {"series": batch.series_code, "reason": reason, "records": len(ids)})], now=now)
    return batch


@dataclass
class Execution:
    batch_id: str
    destroyed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    finished: bool = False


def execute(
    open_session: Callable[[], Any],
    content: ContentStore,
    settings: DistrictSettings,
    batch_id: str,
    *,
    actor: str,
    today: dt.date,
    on_record: Callable[[str], None] | None = None,
) -> Execution:
    """Destroy an approved batch record by record (see the module doc); safe to rerun.

    ``open_session`` is the catalog's ``writing``: one transaction per record, so a
    crash loses at most the record in hand, which the rerun finishes.
    """
    with open_session() as session:
        batch = _batch(session, batch_id, lock=True)
        if batch.status not in ("approved", "executing", "executed"):
            raise Refused(f"batch {batch_id} is {batch.status}: only an approved batch is executed")
        if batch.status == "approved":
            batch.status = "executing"
            append_many(session, [PendingEvent(actor, "disposal.started", "batch", batch_id, {"series": batch.series_code})])
        approval = batch.authorization
        series_code = batch.series_code
    result = Execution(batch_id)
    for record_id in _items(open_session, batch_id):
        with open_session() as session:
            item = session.get(DisposalItem, (batch_id, record_id))
            if item is None:
                continue
            if item.outcome == "destroyed":
                result.destroyed.append(record_id)
                # finish an interrupted destroy (content already gone, tombstone written)
                destroy_record(session, content, record_id, actor=actor, reason="disposal", batch_id=batch_id, approval_reference=approval)
                continue
            if item.outcome == "skipped":
                result.skipped.append({"id": record_id, "reason": item.reason or ""})
                continue
            why = _still_destroyable(session, settings, record_id, series_code, today)
            if why:
                item.outcome, item.reason = "skipped", why
                record = session.get(Record, record_id)
                if record is not None and record.status == "proposed":
                    record.status = PLANNED_STATUS
                append_many(session, [PendingEvent(actor, "disposal.skipped", "record", record_id, {"batch_id": batch_id, "reason": why})])
                result.skipped.append({"id": record_id, "reason": why})
                continue
            if on_record:
                on_record(record_id)
            destroy_record(session, content, record_id, actor=actor, reason="disposal", batch_id=batch_id, approval_reference=approval, students=_students(session, record_id))
            item.outcome = "destroyed"
            result.destroyed.append(record_id)
    with open_session() as session:
        batch = _batch(session, batch_id, lock=True)
        if batch.status != "executed":
            batch.status, batch.executed_by, batch.executed_at = "executed", actor, dt.datetime.now(dt.UTC)
            seq, head = audit.head(session)
            batch.chain_head = {"seq": seq, "hash": head}
            append_many(
                session,
                [PendingEvent(actor, "disposal.executed", "batch", batch_id, {"series": series_code, "destroyed": len(result.destroyed), "skipped": result.skipped, "authorization": approval, "chain_head_before": {"seq": seq, "hash": head}})],
            )
        result.finished = True
    return result


def _items(open_session: Callable[[], Any], batch_id: str) -> list[str]:
    with open_session() as session:
        return batch_records(session, batch_id)


def _students(session: Session, record_id: str) -> list[str]:
    return sorted(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record_id)).scalars())


def _still_destroyable(session: Session, settings: DistrictSettings, record_id: str, series_code: str, today: dt.date) -> str | None:
    """Why a record must not be destroyed now (None: it may)."""
    record = session.execute(select(Record).where(Record.id == record_id).with_for_update()).scalar_one_or_none()
    if record is None:
        return "the record no longer exists"
    if record.status == "destroyed":
        return "already destroyed outside this batch"
    if record.series_code != series_code:
        return f"its series changed to {record.series_code} after the proposal"
    rule = series_rule(session, series_code)
    if rule is None or not rule.confirmed:
        return f"series {series_code} is no longer confirmed"
    if holds_on(session, [record_id], settings.zone).get(record_id):
        return "a hold placed after the proposal covers it: " + ", ".join(holds_on(session, [record_id], settings.zone)[record_id])
    if record.eligible_on is None or record.eligible_on > today:
        return f"not eligible until {record.eligible_on}" if record.eligible_on else "no longer eligible (a linked student is enrolled, or the dates changed)"
    return None


def certificate_data(session: Session, batch_id: str, settings: DistrictSettings) -> dict[str, Any]:
    """What the certificate of destruction states (JSON beside the PDF)."""
    batch = _batch(session, batch_id)
    destroyed = list(session.execute(select(DisposalItem.record_id).where(DisposalItem.batch_id == batch_id, DisposalItem.outcome == "destroyed").order_by(DisposalItem.record_id)).scalars())
    skipped = [
        {"id": rid, "reason": reason}
        for rid, reason in session.execute(select(DisposalItem.record_id, DisposalItem.reason).where(DisposalItem.batch_id == batch_id, DisposalItem.outcome == "skipped").order_by(DisposalItem.record_id))
    ]
    executed = batch.executed_at or dt.datetime.now(dt.UTC)
    window_end = (executed + dt.timedelta(days=settings.keystore_backup_rotation_days)).date()
    rule = series_rule(session, batch.series_code)
    return {
        "district": {"name": settings.name, "address": settings.address, "signatory": settings.signatory, "signatory_title": settings.signatory_title},
        "batch_id": batch.id,
        "series": batch.series_code,
        "series_title": rule.title if rule else None,
        "citation": rule.citation if rule else None,
        "schedule_version": batch.schedule_version,
        "proposed_by": batch.proposed_by,
        "approved_by": batch.approved_by,
        "executed_by": batch.executed_by,
        "authorization": batch.authorization,
        "executed_at": executed,
        "records": destroyed,
        "skipped": skipped,
        "summary": _summary(session, destroyed) if destroyed else {"records": 0},
        "chain_head": batch.chain_head,
        "keystore_backup_window_days": settings.keystore_backup_rotation_days,
        "unreadable_from": window_end,
    }


__all__ = ["Execution", "Plan", "approve", "batch_records", "certificate_data", "execute", "list_batches", "plan", "plan_rows", "propose", "reject"]

