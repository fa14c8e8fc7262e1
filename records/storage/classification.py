"""Classification in the catalog: decisions stored, questions queued, people's word kept.

The rules live in ``records.retention.classify`` (plain functions); this module reads
what they need (the roster, learned identifiers, a record's text) and writes what they
decided, with one audit event per decision. Invariants:

- the engine never overwrites a person's decision: ``students_decided_by`` and
  ``series_decided_by`` name who decided, and only ``engine`` rows are re-evaluated;
- a question stays open in ``review_queue`` until a person answers it or the engine,
  re-evaluating with better evidence (a roster import, a new identifier), no longer
  needs to ask; either way it is closed, never deleted;
- events carry evidence kinds and details, thresholds and the rule and model version,
  never the matched words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from records.errors import NotFound, Refused, UsageError
from records.intake import normalize
from records.intake.model import Participant
from records.retention.classify import Decision, Thresholds
from records.retention.matching import RecordFacts, Roster, StaffProfile, StudentProfile
from records.retention.names import name_tokens, tokens
from records.retention.series import LearnedModel
from records.storage.audit import PendingEvent, append_many
from records.storage.content import ContentStore
from records.storage.destroy import destroy_record
from records.storage.models import Record, RecordPage, RecordSource, RecordStudent, ReviewItem, Series, Source, Staff, Student, StudentIdentifier

IDENTIFIER_KINDS = ("email", "phone", "handle", "x", "name")
_IN = 500


# --- reading what the rules need -------------------------------------------------------


def _phones(values: Iterable[str]) -> set[str]:
    return {p for p in (normalize.phone_number(v) for v in values) if p}


def _handles(values: Iterable[str]) -> set[str]:
    out = set()
    for value in values:
        platform, _, handle = value.partition(":")
        handle = handle.strip()
        if not handle:
            continue
        platform = platform.strip().lower()
        out.add(f"{platform}:{handle}".lower())
        if handle.startswith("@"):
            out.add(f"{platform}:{handle[1:]}".lower())
        else:
            out.add(f"{platform}:@{handle}".lower())
    return out


_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}


def _cached(session: Session, name: str, fingerprint: Any, build: Any) -> Any:
    """One built roster / model per catalog and state: every ingest batch asks again."""
    key = (str(session.get_bind().url), name)
    held = _CACHE.get(key)
    if held is not None and held[0] == fingerprint:
        return held[1]
    value = build()
    _CACHE[key] = (fingerprint, value)
    return value


def load_roster(session: Session) -> Roster:
    """The roster, the staff directory and every learned identifier, ready for matching."""
    fingerprint = (
        session.execute(select(func.count(), func.max(Student.updated_at))).one(),
        session.execute(select(func.count(), func.max(Staff.updated_at))).one(),
        session.execute(select(func.count(), func.max(StudentIdentifier.id))).one(),
    )
    return _cached(session, "roster", fingerprint, lambda: _build_roster(session))


def _build_roster(session: Session) -> Roster:
    learned_addresses: dict[str, set[str]] = {}
    learned_names: dict[str, set[tuple[str, ...]]] = {}
    for ident in session.execute(select(StudentIdentifier)).scalars():
        if ident.kind == "name":
            learned_names.setdefault(ident.student_id, set()).add(tuple(ident.value.split()))
        else:
            learned_addresses.setdefault(ident.student_id, set()).add(ident.value)
    students = []
    for s in session.execute(select(Student)).scalars():
        own = {e.lower() for e in s.student_emails or []} | _handles(s.student_handles or []) | learned_addresses.get(s.student_id, set())
        guardians = {e.lower() for e in s.guardian_emails or []} | _phones(s.guardian_phones or [])
        students.append(
            StudentProfile(
                student_id=s.student_id,
                first_name=s.first_name,
                last_name=s.last_name,
                preferred_name=s.preferred_name,
                guardian_names=tuple(s.guardian_names or ()),
                addresses=frozenset(own),
                guardian_addresses=frozenset(guardians),
                display_names=frozenset(learned_names.get(s.student_id, set())),
            )
        )
    staff = [
        StaffProfile(
            staff_id=m.staff_id,
            first_name=m.first_name,
            last_name=m.last_name,
            addresses=frozenset({e.lower() for e in (*(m.school_emails or []), *(m.personal_emails or []))} | _phones(m.phones or []) | _handles(m.handles or [])),
            school_emails=frozenset(e.lower() for e in m.school_emails or []),
        )
        for m in session.execute(select(Staff)).scalars()
    ]
    return Roster(students, staff)


def load_model(session: Session, content: ContentStore) -> LearnedModel:
    """The learned series model, rebuilt from the records whose series a person decided."""
    decided = (Record.series_decided_by != "engine", Record.status != "destroyed")
    fingerprint = session.execute(select(func.count(), func.max(Record.updated_at)).where(*decided)).one()
    return _cached(session, "model", fingerprint, lambda: _build_model(session, content))


def _build_model(session: Session, content: ContentStore) -> LearnedModel:
    rows = session.execute(
        select(Record.series_code, Record.key_id, Record.text_blob_id).where(
            Record.series_decided_by != "engine", Record.status != "destroyed", Record.text_blob_id.is_not(None)
        ).order_by(Record.id)
    ).all()
    examples = []
    for code, key_id, blob_id in rows:
        try:
            examples.append((code, tokens(content.read_text(key_id, blob_id))))
        except Exception:  # noqa: BLE001 - an unreadable example only weakens the model
            continue
    return LearnedModel(examples)


@dataclass
class PendingRecord:
    """A record to classify: its catalog facts and, for attachments, its parent's id."""

    facts: RecordFacts
    parent_id: str | None
    students_by_person: bool
    series_by_person: bool


def to_classify(session: Session, record_ids: Sequence[str] | None = None, *, limit: int | None = None) -> list[str]:
    """Records the engine still has to decide: given ids, or every one never classified."""
    query = select(Record.id).where(Record.status.in_(("active", "in_review")))
    if record_ids is not None:
        found: list[str] = []
        for start in range(0, len(record_ids), _IN):
            found += session.execute(query.where(Record.id.in_(list(record_ids[start : start + _IN])))).scalars().all()
        return found
    query = query.where(Record.classified_at.is_(None)).order_by(Record.created_at, Record.id)
    if limit:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def engine_decided(session: Session) -> list[str]:
    """Records with anything left for the engine to decide (re-evaluation after a roster change)."""
    return list(
        session.execute(
            select(Record.id)
            .where(Record.status.in_(("active", "in_review")))
            .where((Record.students_decided_by == "engine") | (Record.series_decided_by == "engine"))
            .order_by(Record.created_at, Record.id)
        ).scalars()
    )


def records_with_identifier(session: Session, kind: str, value: str) -> list[str]:
    """Records in which a participant has this address (or, for ``name``, this display name)."""
    found = []
    for record_id, participants in session.execute(select(Record.id, Record.participants).where(Record.status.in_(("active", "in_review")))):
        for p in participants or []:
            if (kind == "name" and " ".join(name_tokens(p.get("name"))) == value) or (kind != "name" and (p.get("address") or "").lower() == value):
                found.append(record_id)
                break
    return found


def records_with_learned(session: Session, record_id: str) -> list[str]:
    """Records sharing a counterpart with this one (after a decision taught the engine)."""
    record = session.get(Record, record_id)
    if record is None:
        return []
    addresses = {(p.get("address") or "").lower() for p in record.participants or []} - {""}
    names = {" ".join(name_tokens(p.get("name"))) for p in record.participants or []} - {""}
    found = []
    for other_id, participants in session.execute(select(Record.id, Record.participants).where(Record.status.in_(("active", "in_review")))):
        if other_id != record_id and any(
            (p.get("address") or "").lower() in addresses or " ".join(name_tokens(p.get("name"))) in names for p in participants or []
        ):
            found.append(other_id)
    return found


def pending(session: Session, content: ContentStore, record_ids: Sequence[str], *, texts: Mapping[str, str] | None = None) -> list[PendingRecord]:
    """The facts of these records, parents before their attachments.

    ``texts`` holds text blobs' plaintexts the caller has at hand (by blob id); the
    others are read from the store.
    """
    texts = texts or {}
    rows: list[Record] = []
    ocr_ids: set[str] = set()
    for start in range(0, len(record_ids), _IN):
        chunk = list(record_ids[start : start + _IN])
        rows += session.execute(select(Record).where(Record.id.in_(chunk))).scalars().all()
        ocr_ids |= set(session.execute(select(RecordPage.record_id).where(RecordPage.record_id.in_(chunk), RecordPage.ocr.is_(True))).scalars())
    out = []
    for row in rows:
        if row.key_id and row.text_blob_id:
            text = texts[row.text_blob_id] if row.text_blob_id in texts else content.read_text(row.key_id, row.text_blob_id)
        else:
            text = ""
        participants = tuple(Participant(p.get("name"), p.get("address"), p.get("role") or "unknown") for p in row.participants or [])
        facts = RecordFacts(row.id, row.format, text, participants, row.owner_staff_id, ocr=row.id in ocr_ids)
        out.append(PendingRecord(facts, row.parent_id, row.students_decided_by != "engine", row.series_decided_by != "engine"))
    depth = {p.facts.record_id: 0 for p in out}
    parents = {p.facts.record_id: p.parent_id for p in out}
    for record_id in depth:
        seen, current = 0, parents.get(record_id)
        while current and seen < 10:
            seen += 1
            current = parents.get(current)
        depth[record_id] = seen
    out.sort(key=lambda p: depth[p.facts.record_id])
    return out


def parent_decisions(session: Session, parent_ids: Iterable[str]) -> dict[str, tuple[list[tuple[str, float]], str, float]]:
    """Stored decisions of parents outside this batch: (links, series, confidence)."""
    ids = sorted(set(parent_ids))
    out: dict[str, tuple[list[tuple[str, float]], str, float]] = {}
    if not ids:
        return out
    for row in session.execute(select(Record.id, Record.series_code, Record.series_confidence).where(Record.id.in_(ids))):
        out[row[0]] = ([], row[1], row[2])
    for link in session.execute(select(RecordStudent).where(RecordStudent.record_id.in_(ids))).scalars():
        out[link.record_id][0].append((link.student_id, link.confidence))
    return out


# --- writing decisions -----------------------------------------------------------------


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link_json(student_id: str, confidence: float, evidence: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"student_id": student_id, "confidence": round(confidence, 4), "evidence": list(evidence)}


def _open_questions(session: Session, record_id: str) -> dict[str, ReviewItem]:
    return {item.question: item for item in session.execute(select(ReviewItem).where(ReviewItem.record_id == record_id, ReviewItem.closed_at.is_(None))).scalars()}


def save_decisions(session: Session, decisions: Sequence[Decision], *, actor: str, now: dt.datetime) -> list[list[PendingEvent]]:
    """Store the engine's decisions, keeping what people decided (one event list per decision).

    The records' rows, links and open questions are read in three queries and written in
    one flush: read and flushed one record at a time, storing an ingest batch's
    decisions cost more than making them.
    """
    ids = [d.record_id for d in decisions]
    records: dict[str, Record] = {}
    links: dict[str, dict[str, RecordStudent]] = {record_id: {} for record_id in ids}
    questions: dict[str, dict[str, ReviewItem]] = {record_id: {} for record_id in ids}
    for start in range(0, len(ids), _IN):
        chunk = ids[start : start + _IN]
        records.update((row.id, row) for row in session.execute(select(Record).where(Record.id.in_(chunk))).scalars())
        for link in session.execute(select(RecordStudent).where(RecordStudent.record_id.in_(chunk))).scalars():
            links[link.record_id][link.student_id] = link
        for item in session.execute(select(ReviewItem).where(ReviewItem.record_id.in_(chunk), ReviewItem.closed_at.is_(None))).scalars():
            questions[item.record_id][item.question] = item
    made = [
        _save(session, records.get(d.record_id), d, links[d.record_id], questions[d.record_id], actor=actor, now=now) for d in decisions
    ]
    session.flush()
    return made


def _save(
    session: Session,
    record: Record | None,
    decision: Decision,
    before_links: dict[str, RecordStudent],
    questions: dict[str, ReviewItem],
    *,
    actor: str,
    now: dt.datetime,
) -> list[PendingEvent]:
    if record is None or record.status not in ("active", "in_review"):
        return []
    events: list[PendingEvent] = []
    first_time = record.classified_at is None
    before = (sorted(before_links), record.series_code)
    wanted: dict[str, list[dict[str, Any]]] = {}
    if record.students_decided_by == "engine":
        new_links = {link.student_id: link for link in decision.links}
        for student_id, row in before_links.items():
            if student_id not in new_links:
                session.delete(row)
        for student_id, link in new_links.items():
            evidence = [e.to_json() for e in link.evidence]
            row = before_links.get(student_id)
            if row is None:
                session.add(RecordStudent(record_id=record.id, student_id=student_id, confidence=round(link.confidence, 4), evidence=evidence, decided_by="engine"))
            else:
                row.confidence, row.evidence = round(link.confidence, 4), evidence
        if decision.student_question or decision.student_unknown:
            wanted["students"] = [link.to_json() | {"value": link.student_id} for link in decision.student_question]
        roles = decision.roles
        if len(roles) == len(record.participants or []):
            record.participants = [dict(p, role=role) for p, role in zip(record.participants, roles, strict=True)]
    if record.series_decided_by == "engine":
        record.series_code = decision.series.code
        record.series_confidence = round(decision.series.confidence, 4)
        record.series_evidence = [e.to_json() for e in decision.series.evidence]
        if decision.series_question:
            wanted["series"] = [c.to_json() for c in decision.series_question]

    for question, item in questions.items():
        if question not in wanted:
            item.closed_at, item.closed_by = now, "engine"
    for question, candidates in wanted.items():
        item = questions.get(question)
        if item is None:
            session.add(ReviewItem(record_id=record.id, question=question, candidates=candidates, opened_at=now))
        else:
            item.candidates = candidates
    record.status = "in_review" if wanted else "active"
    record.classified_at = now
    record.classifier = decision.version
    record.updated_at = now

    after = (sorted(link.student_id for link in decision.links) if record.students_decided_by == "engine" else before[0], record.series_code)
    if first_time or after != before or set(wanted) != set(questions):
        events.append(
            PendingEvent(
                actor,
                "record.classified" if first_time else "record.reclassified",
                "record",
                record.id,
                {
                    "students": [link.to_json() for link in decision.links] if record.students_decided_by == "engine" else None,
                    "students_before": before[0] if not first_time else None,
                    "series": {"code": record.series_code, "confidence": record.series_confidence, "evidence": record.series_evidence}
                    if record.series_decided_by == "engine"
                    else None,
                    "series_before": before[1] if not first_time else None,
                    "review": sorted(wanted),
                    "candidates": {q: [c.get("value") for c in cands] for q, cands in wanted.items()},
                    "kept_decisions_of": sorted({record.students_decided_by, record.series_decided_by} - {"engine"}),
                    "thresholds": decision.thresholds.to_json(),
                    "version": decision.version,
                    "notes": decision.notes,
                },
            )
        )
    return events


# --- the review queue and people's decisions ---------------------------------------


def review_queue(session: Session) -> list[dict[str, Any]]:
    """Open questions, oldest first (``records review --json``)."""
    rows = session.execute(
        select(ReviewItem).where(ReviewItem.closed_at.is_(None)).order_by(ReviewItem.opened_at, ReviewItem.id)
    ).scalars()
    return [
        {"record_id": item.record_id, "question": item.question, "candidates": item.candidates, "opened_at": _instant(item.opened_at)}
        for item in rows
    ]


def _series_codes(session: Session) -> set[str]:
    from records.storage.schedules import current_version

    version = current_version(session)
    return set(session.execute(select(Series.code).where(Series.version == version)).scalars())


def _address_kind(address: str) -> str:
    if address.startswith("x:"):
        return "x"
    if "@" in address and ":" not in address:
        return "email"
    if address.startswith("+"):
        return "phone"
    return "handle"


def classify_by_person(
    session: Session,
    record_id: str,
    *,
    students: Sequence[str] | None,
    no_student: bool,
    series: str | None,
    actor: str,
    reason: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A clerk's decision on one record: stored, audited, learned from, never overwritten."""
    now = now or dt.datetime.now(dt.UTC)
    if not reason or not reason.strip():
        raise UsageError("--reason is required: say why, it goes into the audit log")
    if students and no_student:
        raise UsageError("give --student or --no-student, not both")
    if students is None and not no_student and series is None:
        raise UsageError("nothing to decide: give --student ID (repeatable), --no-student, or --series CODE")
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound(f"no record {record_id!r}: see `records list`")
    if record.status not in ("active", "in_review"):
        raise Refused(f"record {record_id} is {record.status}: it can no longer be classified")
    events: list[PendingEvent] = []
    learned: list[dict[str, str]] = []
    payload: dict[str, Any] = {"reason": reason}
    questions = _open_questions(session, record.id)

    if students is not None or no_student:
        chosen = sorted(set(students or []))
        known = set(session.execute(select(Student.student_id).where(Student.student_id.in_(chosen))).scalars()) if chosen else set()
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise NotFound(f"no student {', '.join(unknown)} on the roster: see `records roster import`")
        before = sorted(session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record.id)).scalars())
        session.execute(delete(RecordStudent).where(RecordStudent.record_id == record.id))
        for student_id in chosen:
            session.add(RecordStudent(record_id=record.id, student_id=student_id, confidence=1.0, evidence=[{"kind": "person", "detail": f"decided by {actor}", "weight": 1.0}], decided_by=actor))
        record.students_decided_by = actor
        payload |= {"students": chosen, "students_before": before}
        if "students" in questions:
            questions["students"].closed_at, questions["students"].closed_by = now, actor
        if len(chosen) == 1:
            learned = _learn_from_decision(session, record, chosen[0], actor=actor, now=now)
            if learned:
                payload["learned_identifiers"] = learned
    if series is not None:
        codes = _series_codes(session)
        if series not in codes:
            raise UsageError(f"--series {series}: not a series of the schedule in force ({', '.join(sorted(codes))})")
        links = session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record.id)).scalars().all()
        if series == "NON-RECORD" and links:
            raise Refused(f"record {record_id} is linked to a student: a record about a student is never NON-RECORD")
        payload |= {"series": series, "series_before": record.series_code}
        record.series_code, record.series_confidence, record.series_decided_by = series, 1.0, actor
        record.series_evidence = [{"kind": "person", "detail": f"decided by {actor}", "weight": 1.0}]
        if "series" in questions:
            questions["series"].closed_at, questions["series"].closed_by = now, actor
    still_open = any(item.closed_at is None for item in questions.values())
    record.status = "in_review" if still_open else "active"
    record.updated_at = now
    session.flush()
    events.append(PendingEvent(actor, "record.classified", "record", record.id, payload | {"decided_by": actor, "still_in_review": still_open}))
    for ident in learned:
        events.append(PendingEvent(actor, "student.identified", "student", ident["student_id"], {"kind": ident["kind"], "origin": "decision", "record_id": record.id}))
    append_many(session, events, now=now)
    return {"record_id": record.id, "status": record.status, **{k: v for k, v in payload.items() if k != "reason"}}


def _learn_from_decision(session: Session, record: Record, student_id: str, *, actor: str, now: dt.datetime) -> list[dict[str, str]]:
    """A clerk tied a one-to-one conversation to one student: its counterpart's address too.

    Only when exactly one participant is neither staff nor already known (a 1:1 thread,
    an X DM from a numeric id): that address and display name then point to the student
    in later records. A guardian's or student's known address teaches nothing new.
    """
    others = [p for p in record.participants or [] if (p.get("role") or "unknown") == "unknown"]
    if len(others) != 1:
        return []
    person = others[0]
    learned = []
    address = (person.get("address") or "").lower()
    if address:
        learned.append((_address_kind(address), address))
    name = " ".join(name_tokens(person.get("name")))
    if name and not address.endswith(name):
        learned.append(("name", name))
    out = []
    for kind, value in learned:
        if _add_identifier(session, student_id, kind, value, origin="decision", record_id=record.id, actor=actor, now=now):
            out.append({"student_id": student_id, "kind": kind})
    return out


def _add_identifier(session: Session, student_id: str, kind: str, value: str, *, origin: str, record_id: str | None, actor: str, now: dt.datetime) -> bool:
    exists = session.execute(
        select(StudentIdentifier.id).where(StudentIdentifier.student_id == student_id, StudentIdentifier.kind == kind, StudentIdentifier.value == value)
    ).first()
    if exists:
        return False
    session.add(StudentIdentifier(student_id=student_id, kind=kind, value=value, origin=origin, record_id=record_id, added_by=actor, added_at=now))
    session.flush()
    return True


def normalise_identifier(text: str) -> tuple[str, str]:
    """``KIND:VALUE`` of ``records student identify`` → (kind, normalised value)."""
    kind, sep, value = text.partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if not sep or kind not in IDENTIFIER_KINDS or not value:
        raise UsageError(f"--identifier {text!r}: write KIND:VALUE with KIND one of {', '.join(IDENTIFIER_KINDS)} (e.g. x:1234567890, phone:617-555-0142)")
    if kind == "email":
        address = normalize.email_address(value)
        if not address:
            raise UsageError(f"--identifier {text!r}: not an email address")
        return kind, address
    if kind == "phone":
        phone = normalize.phone_number(value)
        if not phone:
            raise UsageError(f"--identifier {text!r}: not a phone number")
        return kind, phone
    if kind == "x":
        return kind, normalize.x_id(value).lower() if value.isdigit() else f"x:{value.lstrip('@')}".lower()
    if kind == "handle":
        platform, sep, handle = value.partition(":")
        if not sep or not handle.strip():
            raise UsageError(f"--identifier {text!r}: a handle is handle:PLATFORM:HANDLE (handle:instagram:maya.r.2014)")
        return kind, normalize.handle(platform, handle).lower()
    folded = " ".join(name_tokens(value))
    if not folded:
        raise UsageError(f"--identifier {text!r}: an empty name")
    return kind, folded


def identify_student(session: Session, student_id: str, identifier: str, *, actor: str, now: dt.datetime | None = None) -> tuple[str, str, bool]:
    """Tie an identifier to a student (``records student identify``): (kind, value, added)."""
    now = now or dt.datetime.now(dt.UTC)
    if session.get(Student, student_id) is None:
        raise NotFound(f"no student {student_id!r} on the roster: see `records roster import`")
    kind, value = normalise_identifier(identifier)
    other = session.execute(select(StudentIdentifier.student_id).where(StudentIdentifier.kind == kind, StudentIdentifier.value == value, StudentIdentifier.student_id != student_id)).first()
    added = _add_identifier(session, student_id, kind, value, origin="identify", record_id=None, actor=actor, now=now)
    append_many(
        session,
        [PendingEvent(actor, "student.identified", "student", student_id, {"kind": kind, "origin": "identify", "added": added, "also_tied_to_another_student": bool(other)})],
        now=now,
    )
    return kind, value, added


# --- NON-RECORD: listed, then purged only when a person confirms ----------------------


def nonrecords(session: Session, source_id: str | None = None) -> list[dict[str, Any]]:
    query = select(Record).where(Record.series_code == "NON-RECORD", Record.status.in_(("active", "in_review"))).order_by(Record.created_at, Record.id)
    if source_id:
        query = query.where(Record.id.in_(select(RecordSource.record_id).where(RecordSource.source_id == source_id)))
    return [
        {"record_id": r.id, "source_id": r.source_id, "confidence": r.series_confidence, "evidence": r.series_evidence, "decided_by": r.series_decided_by, "format": r.format, "locator": r.locator}
        for r in session.execute(query).scalars()
    ]


def confirm_nonrecords(
    session: Session,
    content: ContentStore,
    *,
    record_ids: Sequence[str] = (),
    source_id: str | None = None,
    actor: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Purge confirmed NON-RECORD content through the destroy primitive (tombstones stay).

    Refused, record by record, for anything not (or no longer) NON-RECORD, anything linked
    to a student, anything still in review: a person confirms what the engine decided.
    """
    now = now or dt.datetime.now(dt.UTC)
    if not record_ids and not source_id:
        raise UsageError("name the records (RECORD_ID...) or the export (--source SOURCE_ID) to confirm")
    if source_id and session.get(Source, source_id) is None:
        raise NotFound(f"no source {source_id!r}: see `records list --json` for source ids")
    wanted = list(record_ids) or [item["record_id"] for item in nonrecords(session, source_id)]
    purged, refused = [], []
    for record_id in wanted:
        record = session.get(Record, record_id)
        if record is None:
            refused.append({"id": record_id, "reason": "no such record"})
            continue
        linked = session.execute(select(RecordStudent.student_id).where(RecordStudent.record_id == record_id)).first()
        if record.status == "destroyed":
            refused.append({"id": record_id, "reason": "already destroyed"})
        elif record.series_code != "NON-RECORD":
            refused.append({"id": record_id, "reason": f"its series is {record.series_code}, not NON-RECORD"})
        elif record.status == "in_review":
            refused.append({"id": record_id, "reason": "still in review: answer its question first (`records review`)"})
        elif linked:
            refused.append({"id": record_id, "reason": "linked to a student: never NON-RECORD"})
        else:
            children = session.execute(select(Record.id).where(Record.parent_id == record_id, Record.status != "destroyed")).scalars().all()
            for child in children:
                destroy_record(session, content, child, actor=actor, reason="nonrecord", now=now)
            destroy_record(session, content, record_id, actor=actor, reason="nonrecord", now=now)
            append_many(session, [PendingEvent(actor, "nonrecord.confirmed", "record", record_id, {"source_id": record.source_id, "decided_by": record.series_decided_by, "confidence": record.series_confidence, "attachments": list(children)})], now=now)
            purged.append(record_id)
    released = release_containers(session, content, sorted({s for s in _sources_of(session, purged)} | ({source_id} if source_id else set())), actor=actor, now=now)
    return {"purged": purged, "refused": refused, "containers_released": released}


def _sources_of(session: Session, record_ids: Sequence[str]) -> set[str]:
    if not record_ids:
        return set()
    return set(session.execute(select(RecordSource.source_id).where(RecordSource.record_id.in_(list(record_ids)))).scalars())


def release_containers(session: Session, content: ContentStore, source_ids: Sequence[str], *, actor: str, now: dt.datetime) -> list[str]:
    """Destroy a container's own key once nothing needs its original bytes (design.md).

    A container (an export zip, an mbox) whose records have their own keys is kept only
    until every record cut from it is classified, none is in review, and its NON-RECORD
    decisions are confirmed: then its key is destroyed, and the private life it held can
    no longer be read from the store or from any backup past the key-store rotation.
    """
    released = []
    # Every source's row and its records' states in two queries per chunk: asked source by
    # source, an ingest batch of printouts (none of them a container) paid two queries each.
    sources: dict[str, Source] = {}
    states: dict[str, list[tuple[Any, ...]]] = {}
    wanted = list(dict.fromkeys(source_ids))
    for start in range(0, len(wanted), _IN):
        chunk = wanted[start : start + _IN]
        sources.update((row.id, row) for row in session.execute(select(Source).where(Source.id.in_(chunk))).scalars())
        for source_id, *state in session.execute(
            select(RecordSource.source_id, Record.status, Record.classified_at, Record.series_code, Record.key_id)
            .join(Record, Record.id == RecordSource.record_id)
            .where(RecordSource.source_id.in_(chunk))
        ):
            states.setdefault(source_id, []).append(tuple(state))
    for source_id in source_ids:
        source = sources.get(source_id)
        # A partial source's unreadable part exists only in the original: keep it.
        if source is None or source.key_destroyed_at is not None or not source.key_id or source.status != "ingested":
            continue
        rows = states.get(source_id, [])
        if not rows:
            continue
        if any(status != "destroyed" and (key_id == source.key_id or classified is None or status == "in_review" or series == "NON-RECORD") for status, classified, series, key_id in rows):
            continue
        content.keystore.destroy(source.key_id)
        if source.blob_id:
            content.blobs.delete(source.blob_id)
        source.key_destroyed_at = now
        session.flush()
        append_many(session, [PendingEvent(actor, "source.key_destroyed", "source", source_id, {"key_id": source.key_id, "records": len(rows)})], now=now)
        released.append(source_id)
    return released


def sources_of_records(session: Session, record_ids: Sequence[str]) -> list[str]:
    return sorted(_sources_of(session, record_ids))


def set_thresholds(settings_review: Any) -> Thresholds:
    return Thresholds(student=float(settings_review.student), series=float(settings_review.series))


__all__ = [
    "PendingRecord",
    "classify_by_person",
    "confirm_nonrecords",
    "engine_decided",
    "identify_student",
    "load_model",
    "load_roster",
    "nonrecords",
    "parent_decisions",
    "pending",
    "records_with_identifier",
    "records_with_learned",
    "release_containers",
    "review_queue",
    "save_decisions",
    "set_thresholds",
    "sources_of_records",
    "to_classify",
]
