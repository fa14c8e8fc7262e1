"""The catalog's tables (SQLAlchemy 2). Alembic migrations in ``migrations/`` build them.

Multi-valued roster fields are JSON lists; instants are UTC; the audit chain keeps its
time and payload as the exact text that was hashed, so that a database's own JSON or
timestamp normalisation can never break verification.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores instants as naive UTC and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use an aware UTC time")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class WebSessionRow(Base):
    """A signed-in web session; the cookie holds the token, the catalog only its hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_name"),)

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_why: Mapped[str | None] = mapped_column(String(32))


class Student(Base):
    __tablename__ = "students"

    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(128))
    last_name: Mapped[str] = mapped_column(String(128))
    preferred_name: Mapped[str | None] = mapped_column(String(128))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    grade: Mapped[str | None] = mapped_column(String(16))
    entry_date: Mapped[dt.date | None] = mapped_column(Date)
    exit_date: Mapped[dt.date | None] = mapped_column(Date)
    exit_reason: Mapped[str | None] = mapped_column(String(16))
    guardian_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    guardian_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    guardian_phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    student_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    student_handles: Mapped[list[str]] = mapped_column(JSON, default=list)
    mailing_address: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Staff(Base):
    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(128))
    last_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str | None] = mapped_column(String(128))
    school_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    personal_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    handles: Mapped[list[str]] = mapped_column(JSON, default=list)
    exit_date: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ScheduleVersion(Base):
    __tablename__ = "schedule_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[str] = mapped_column(String(128))
    source_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))


class Series(Base):
    __tablename__ = "series"

    version: Mapped[int] = mapped_column(ForeignKey("schedule_versions.version"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    retention: Mapped[str | None] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))
    max: Mapped[str | None] = mapped_column(String(32))
    disposition: Mapped[str] = mapped_column(String(16))
    needs_approval: Mapped[bool] = mapped_column(Boolean)
    citation: Mapped[str] = mapped_column(Text, default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Source(Base):
    """One file as received: kept once per SHA-256, whatever its name or how often sent."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    detected_type: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(64))
    blob_id: Mapped[str | None] = mapped_column(String(128))
    owner_staff_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_by: Mapped[str] = mapped_column(String(128))
    reader: Mapped[str | None] = mapped_column(String(32))
    quarantine_kind: Mapped[str | None] = mapped_column(String(16))
    file_modified: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Another zip of the same export given in the same call: its records are on that source.
    part_of: Mapped[str | None] = mapped_column(String(32))
    detected: Mapped[str | None] = mapped_column(Text)
    # When the container's own key was destroyed (every record cut from it classified
    # and its NON-RECORD decisions confirmed): the original bytes are unreadable since.
    key_destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_sources_status", "status"),)


class Record(Base):
    """One record unit (design.md, "Record units"); its content lives encrypted in the store."""

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"))
    format: Mapped[str] = mapped_column(String(32))
    locator: Mapped[str | None] = mapped_column(Text)
    sent_at_first: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at_last: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    owner_staff_id: Mapped[str | None] = mapped_column(String(64))
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    text_chars: Mapped[int] = mapped_column(Integer, default=0)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))
    blob_id: Mapped[str | None] = mapped_column(String(128))
    text_blob_id: Mapped[str | None] = mapped_column(String(128))
    series_code: Mapped[str] = mapped_column(String(64), default="UNSCHEDULED")
    series_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    series_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    series_decided_by: Mapped[str] = mapped_column(String(128), default="engine")
    extraction_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The same record seen again (an email's Message-ID, a thread part's platform locator).
    dedupe_key: Mapped[str | None] = mapped_column(String(512))
    # sha256 of (sender, date, subject) of an email, to link a forward to its original.
    origin_key: Mapped[str | None] = mapped_column(String(64))
    forward_of: Mapped[str | None] = mapped_column(String(32))
    is_forward: Mapped[bool] = mapped_column(Boolean, default=False)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Who decided the student links: "engine" until a person does; the engine never
    # overwrites a person's decision (series_decided_by does the same for the series).
    # Retention as last computed (records.retention.eligibility): dates are stored so
    # that disposal planning runs in the database; the state depends on the day and is
    # derived when read.
    retention_trigger: Mapped[str | None] = mapped_column(String(32))
    trigger_date: Mapped[dt.date | None] = mapped_column(Date)
    eligible_on: Mapped[dt.date | None] = mapped_column(Date)
    destroy_by: Mapped[dt.date | None] = mapped_column(Date)
    disposition: Mapped[str | None] = mapped_column(String(16))
    needs_approval: Mapped[bool | None] = mapped_column(Boolean)
    schedule_version: Mapped[int | None] = mapped_column(Integer)
    students_decided_by: Mapped[str] = mapped_column(String(128), default="engine")
    classified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    classifier: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_records_source", "source_id"),
        Index("ix_records_classified", "classified_at"),
        Index("ix_records_eligible", "eligible_on"),
        Index("ix_records_destroy_by", "destroy_by"),
        Index("ix_records_series", "series_code"),
        Index("ix_records_dedupe", "dedupe_key"),
        Index("ix_records_origin", "origin_key"),
    )


class RecordPage(Base):
    """How each page's text was obtained; the text itself is in the encrypted store."""

    __tablename__ = "record_pages"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ocr: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float | None] = mapped_column(Float)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    skew: Mapped[float] = mapped_column(Float, default=0.0)
    chars: Mapped[int] = mapped_column(Integer, default=0)


class RecordSource(Base):
    """Every source a record was seen in (overlapping exports of one thread)."""

    __tablename__ = "record_sources"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), primary_key=True)


class RecordStudent(Base):
    __tablename__ = "record_students"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decided_by: Mapped[str] = mapped_column(String(128), default="engine")


class StudentIdentifier(Base):
    """An address or display name tied to a student by a person (identify, or a decision).

    The roster's own emails, phones and handles stay on the student row; these are what
    clerks taught the engine since (an X id, a parent's second phone, a display name).
    """

    __tablename__ = "student_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"))
    kind: Mapped[str] = mapped_column(String(16))  # email | phone | handle | x | name
    value: Mapped[str] = mapped_column(String(512))  # normalised (an address, or folded name tokens)
    origin: Mapped[str] = mapped_column(String(16))  # identify | decision
    record_id: Mapped[str | None] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ux_student_identifier", "student_id", "kind", "value", unique=True), Index("ix_student_identifier_value", "value"))


class ReviewItem(Base):
    """A question the engine put to a person instead of guessing (``records review``)."""

    __tablename__ = "review_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    question: Mapped[str] = mapped_column(String(16))  # students | series
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_review_open", "closed_at", "record_id"),)


class Hold(Base):
    """Nothing under a hold is destroyed. Criteria: AND across kinds, OR within one kind."""

    __tablename__ = "holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(128))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DisposalBatch(Base):
    """One proposal of one series: proposed, then approved or rejected, then executed."""

    __tablename__ = "disposal_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    series_code: Mapped[str] = mapped_column(String(64))
    schedule_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # proposed | approved | rejected | executing | executed
    as_of: Mapped[dt.date] = mapped_column(Date)
    needs_authorization: Mapped[bool] = mapped_column(Boolean, default=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    authorization: Mapped[str | None] = mapped_column(Text)
    rejected_by: Mapped[str | None] = mapped_column(String(128))
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    executed_by: Mapped[str | None] = mapped_column(String(128))
    executed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    chain_head: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DisposalItem(Base):
    """A record of a batch and what became of it (pending, destroyed, skipped and why)."""

    __tablename__ = "disposal_items"

    batch_id: Mapped[str] = mapped_column(ForeignKey("disposal_batches.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_disposal_items_record", "record_id"),)


class ExitNotice(Base):
    """The letter sent at a student's exit (603 CMR 23.06(3)): one per exit date."""

    __tablename__ = "exit_notices"

    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    exit_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    generated_by: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)


class Tombstone(Base):
    """What remains of a destroyed record: enough to prove it existed and went lawfully."""

    __tablename__ = "tombstones"

    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str | None] = mapped_column(String(32))
    format: Mapped[str | None] = mapped_column(String(32))
    series_code: Mapped[str | None] = mapped_column(String(64))
    sent_at_first: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at_last: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    approval_reference: Mapped[str | None] = mapped_column(Text)
    destroyed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    destroyed_by: Mapped[str] = mapped_column(String(128))


class AuditEventRow(Base):
    """One link of the audit chain. ``at`` and ``payload`` are the exact hashed text."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # not indexed: nothing looks an event up by it (migration 0010)

    __table_args__ = (
        Index("ix_audit_subject", "subject_type", "subject_id"),
        Index("ix_audit_actor", "actor"),
        Index("ix_audit_action", "action"),
        Index("ix_audit_at", "at"),
    )


class KeyValue(Base):
    """Small facts about the installation (installation id, last nightly run)."""

    __tablename__ = "installation"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class IntakeJob(Base):
    """A file waiting to be ingested, or being ingested by one worker (the intake queue).

    Workers claim jobs in batches (``SKIP LOCKED`` on PostgreSQL) and hold them under a
    lease that their heartbeat extends; a job whose lease expired is taken over by another
    worker. ``claim_token`` names one claim, so a worker that lost its lease cannot
    complete a job another worker holds now. ``result`` is the job's line of
    ``records ingest --json`` once it is done. A multi-zip export is one job: the lead zip
    in ``path``, its other zips in ``companions``.
    """

    __tablename__ = "intake_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    companions: Mapped[list[str]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16))  # inbox | ingest
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    owner_staff_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # waiting | claimed | done | failed
    worker: Mapped[str | None] = mapped_column(String(128))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_intake_jobs_state", "state", "lease_until"), Index("ix_intake_jobs_path", "path"))


class IntakeLane(Base):
    """A lane polling the intake queue, from its start until it stops.

    A lane writes its row before its first claim and refreshes ``seen_at`` with its
    heartbeat, so "how many lanes are ready" is read from the catalog, whatever task
    runner (threads, Dask processes, other hosts) the lanes run on; a row not seen for two
    leases belongs to a lane that died without removing it.
    """

    __tablename__ = "intake_lanes"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


__all__ = [
    "AuditEventRow",
    "DisposalBatch",
    "DisposalItem",
    "ExitNotice",
    "Base",
    "Hold",
    "IntakeJob",
    "KeyValue",
    "Record",
    "RecordPage",
    "RecordSource",
    "RecordStudent",
    "ReviewItem",
    "ScheduleVersion",
    "Series",
    "Source",
    "Staff",
    "Student",
    "StudentIdentifier",
    "Tombstone",
    "User",
]
