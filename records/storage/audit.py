"""The tamper-evident audit chain (design.md, "The audit chain").

Each event is hashed with SHA-256 over the RFC 8785 canonical JSON of every field but
``hash``; each names the previous event's hash. Anyone can recompute the chain without
our code (``records audit export`` ships a verifier that needs only Python's standard
library). Payloads carry ids, hashes and references, never record content.

Appends happen inside the caller's write transaction, so an event commits together with
the change it describes. Concurrent appenders serialise on the chain head: on PostgreSQL
with a transaction-scoped advisory lock, on SQLite through the ``BEGIN IMMEDIATE`` that
every write transaction takes (see ``db.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import rfc8785
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from records.storage.bulk import insert_rows
from records.storage.models import AuditEventRow

GENESIS_HASH = "0" * 64
# Any constant works; it names "the audit chain head" among PostgreSQL advisory locks.
_CHAIN_LOCK_KEY = 0x7265636F726473  # "records"


@dataclass(frozen=True)
class AuditEvent:
    """One event as served by ``records audit log --json`` (payload decoded)."""

    seq: int
    at: str
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PendingEvent:
    """An event a service wants appended; seq, time and hashes are the chain's to give."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: Mapping[str, Any]


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value`` (the ``rfc8785`` package's bytes, always)."""
    plain = _plain_form(value, 0)
    if plain is not _NOT_PLAIN:
        try:
            return _PLAIN_JSON.encode(plain).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 raises its own error for it
    return rfc8785.dumps(value)


# For JSON made of strings, small integers, plain decimal floats, booleans, null, lists
# and objects whose keys are ASCII, the standard library's encoder with sorted keys and no
# spaces writes exactly RFC 8785's bytes: it escapes the same characters the same way
# (``"``, ``\``, ``\b \f \n \r \t``, other controls as lower-case ``\u00xx``, nothing
# else), and ASCII keys sort the same by code point as by UTF-16 unit. An integral float
# below 2^53 is written by ECMAScript as the integer's digits (1.0 as ``1``, -0.0 as
# ``0``), so it is handed to the encoder as that integer: evidence weights are mostly
# 1.0, and every ingest event holds some. Other floats (ECMAScript's exponent forms),
# larger integers and non-ASCII keys go to ``rfc8785``. One payload per audit event went
# through the general encoder: a fifth of storing an mbox message. ``test_audit``
# compares both.
_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False)
_PLAIN_DEPTH = 32
_EXACT = 2**53
_NOT_PLAIN = object()


def _plain_form(value: Any, depth: int) -> Any:
    """``value`` as the standard library encoder writes in RFC 8785's bytes, or ``_NOT_PLAIN``."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        return value if -_EXACT < value < _EXACT else _NOT_PLAIN
    if kind is float:
        if value.is_integer():
            return int(value) if -_EXACT < value < _EXACT else _NOT_PLAIN
        # Between 1e-4 and 1e16, Python's repr and ECMAScript's Number.toString both
        # write the shortest round-trip digits in plain decimal notation (an evidence's
        # confidence, 0.5 or 0.85): the same characters.
        return value if 1e-4 <= abs(value) < 1e16 else _NOT_PLAIN
    if depth >= _PLAIN_DEPTH:
        return _NOT_PLAIN
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return _NOT_PLAIN
            item = _plain_form(item, depth + 1)
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            out[key] = item
        return out
    if kind is list or kind is tuple:
        items = []
        for item in value:
            item = _plain_form(item, depth + 1)
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            items.append(item)
        return items
    return _NOT_PLAIN


def event_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 encoding of the event without its ``hash``."""
    return hashlib.sha256(canonical(dict(body))).hexdigest()


def format_instant(moment: dt.datetime) -> str:
    """ISO 8601 UTC with ``Z`` and microseconds, the one spelling the chain stores."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _body(seq: int, at: str, event: PendingEvent, payload: dict[str, Any] | None, prev_hash: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": str(event.subject_id),
        "payload": payload,
        "prev_hash": prev_hash,
    }


_BODY_KEYS = tuple(sorted(("seq", "at", "actor", "action", "subject_type", "subject_id", "payload", "prev_hash")))
_MEMBER_PREFIX = {key: rfc8785.dumps(key) + b":" for key in _BODY_KEYS}


def _body_bytes(body: Mapping[str, Any], payload_bytes: bytes) -> bytes:
    """``canonical(body)``, reusing the payload's canonical bytes instead of encoding it again.

    RFC 8785 writes an object as its members sorted by key, each ``"key":value`` with the
    value's own canonical form, joined by commas: assembling it here from the members'
    encodings gives the same bytes (``test_audit`` checks this against ``canonical``).
    The payload is the bulk of an event, and encoding it once instead of three times is
    what makes appending thousands of ingest events cheap.
    """
    members = [_MEMBER_PREFIX[key] + (payload_bytes if key == "payload" else _plain_canonical(body[key])) for key in _BODY_KEYS]
    return b"{" + b",".join(members) + b"}"


def _plain_canonical(value: Any) -> bytes:
    """``canonical`` of an event's own fields, without the encoder for the plain cases.

    A printable ASCII string with no quote or backslash is itself between quotes in RFC
    8785, and a small integer is its decimal digits; anything else goes to ``canonical``.
    Seven fields of every event went through the general encoder, a third of appending.
    """
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return b'"' + value.encode("ascii") + b'"'
    if type(value) is int and -(2**53) < value < 2**53:
        return str(value).encode("ascii")
    return canonical(value)


def _lock_head(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    # SQLite: the write transaction already holds the database's RESERVED lock.


def head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest event, or (0, 64 zeros) for an empty chain."""
    row = session.execute(
        select(AuditEventRow.seq, AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def append_many(session: Session, events: Iterable[PendingEvent], *, now: dt.datetime | None = None, returning: bool = True) -> list[AuditEvent]:
    """Append events in order to the chain, inside the caller's transaction.

    ``returning=False``: the caller does not look at the events written (an ingest writes
    thousands), so they are not read back into ``AuditEvent`` objects; ``[]`` is returned.
    """
    pending = list(events)
    if not pending:
        return []
    _lock_head(session)
    seq, prev_hash = head(session)
    at = format_instant(now or dt.datetime.now(dt.UTC))
    written: list[AuditEvent] = []
    rows: list[dict[str, Any]] = []
    for event in pending:
        seq += 1
        # The payload is canonicalised once: those bytes are what is stored and what the
        # event's hash covers (``_body_bytes``); decoding them gives the payload exactly
        # as a verifier will read it back.
        payload_bytes = canonical(dict(event.payload))
        body = _body(seq, at, event, json.loads(payload_bytes) if returning else None, prev_hash)
        digest = hashlib.sha256(_body_bytes(body, payload_bytes)).hexdigest()
        rows.append({**body, "payload": payload_bytes.decode("utf-8"), "hash": digest})
        if returning:
            written.append(AuditEvent(**body, hash=digest))
        prev_hash = digest
    insert_rows(session, AuditEventRow.__table__, rows)  # type: ignore[arg-type]
    return written


def append(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    payload: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event (see ``append_many``)."""
    return append_many(session, [PendingEvent(actor, action, subject_type, str(subject_id), payload or {})])[0]


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    """The filters of ``records audit log`` (AND of all given)."""

    record_id: str | None = None
    student_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


def _filtered(query: Select[Any], where: LogFilter) -> Select[Any]:
    if where.record_id:
        query = query.where(AuditEventRow.subject_type == "record", AuditEventRow.subject_id == where.record_id)
    if where.student_id:
        # A cheap pre-filter in SQL; ``_mentions_student`` keeps only real references.
        query = query.where(
            ((AuditEventRow.subject_type == "student") & (AuditEventRow.subject_id == where.student_id))
            | AuditEventRow.payload.contains(json.dumps(where.student_id))
        )
    if where.actor:
        query = query.where(AuditEventRow.actor == where.actor)
    if where.action:
        query = query.where(AuditEventRow.action == where.action)
    if where.since:
        query = query.where(AuditEventRow.at >= where.since.isoformat())
    if where.until:
        query = query.where(AuditEventRow.at < (where.until + dt.timedelta(days=1)).isoformat())
    return query


def _decode(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def iter_rows(session: Session, where: LogFilter | None = None, batch: int = 2000) -> Iterator[AuditEventRow]:
    """Stream events in chain order without holding the chain in memory."""
    query = select(AuditEventRow).order_by(AuditEventRow.seq)
    if where:
        query = _filtered(query, where)
    result = session.execute(query.execution_options(stream_results=True, yield_per=batch))
    for row in result.scalars():
        yield row
        session.expunge(row)


def _mentions_student(event: AuditEvent, student_id: str) -> bool:
    """True when the event is about the student or its payload references them by id."""
    if event.subject_type == "student" and event.subject_id == student_id:
        return True

    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("student_id", "student_ids", "students") and _contains_id(item, student_id):
                    return True
                if walk(item):
                    return True
        elif isinstance(value, list):
            return any(walk(item) for item in value)
        return False

    return walk(event.payload)


def _contains_id(value: Any, student_id: str) -> bool:
    if isinstance(value, str):
        return value == student_id
    if isinstance(value, list):
        return any(_contains_id(item, student_id) for item in value)
    if isinstance(value, dict):
        return value.get("student_id") == student_id
    return False


def iter_events(session: Session, where: LogFilter | None = None) -> Iterator[AuditEvent]:
    for row in iter_rows(session, where):
        event = _decode(row)
        if where and where.student_id and not _mentions_student(event, where.student_id):
            continue
        yield event


# --- verification --------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The result of ``records audit verify``: ``first_bad_seq`` names the first break."""

    ok: bool
    events: int
    head: str
    first_bad_seq: int | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChainLink:
    """The stored fields of one event, as read from the catalog or an exported file."""

    seq: int
    at: str
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: Any  # decoded JSON
    prev_hash: str
    hash: str


def verify_links(links: Iterable[ChainLink], expect_head: tuple[int, str] | None = None) -> Verification:
    """Recompute a chain in one pass, in constant memory, and name its first break.

    ``expect_head`` is a trusted (seq, hash) from a signed checkpoint: it lets the check
    notice events cut off the end, which no chain can show by itself.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    before_prev: str | None = None  # hash of the event two back, to recognise an insertion
    count = 0
    checkpoint_seen = False

    def broken(seq: int, reason: str) -> Verification:
        return Verification(False, count, prev_hash, seq, reason)

    for link in links:
        if link.seq != expected_seq:
            if link.seq > expected_seq:
                missing = f"{expected_seq}" if link.seq == expected_seq + 1 else f"{expected_seq} to {link.seq - 1}"
                return broken(expected_seq, f"event {missing} removed: the chain jumps from event {expected_seq - 1} to event {link.seq}")
            return broken(link.seq, f"event {link.seq} appears twice or out of order")
        if link.prev_hash != prev_hash:
            if before_prev is not None and link.prev_hash == before_prev:
                return broken(link.seq - 1, f"event {link.seq - 1} was inserted: event {link.seq} was chained to the event before it")
            return broken(
                link.seq,
                f"event {link.seq} does not follow event {link.seq - 1}: its prev_hash does not match (an event before it was removed or altered)",
            )
        body = {
            "seq": link.seq,
            "at": link.at,
            "actor": link.actor,
            "action": link.action,
            "subject_type": link.subject_type,
            "subject_id": link.subject_id,
            "payload": link.payload,
            "prev_hash": link.prev_hash,
        }
        try:
            intact = event_hash(body) == link.hash
        except rfc8785.CanonicalizationError:  # e.g. a payload edited to hold NaN
            intact = False
        if not intact:
            return broken(link.seq, f"event {link.seq} was altered: its content no longer matches its hash")
        if expect_head and link.seq == expect_head[0]:
            if link.hash != expect_head[1]:
                return broken(link.seq, f"event {link.seq} differs from the signed checkpoint: the chain was rewritten up to there")
            checkpoint_seen = True
        before_prev, prev_hash = prev_hash, link.hash
        expected_seq += 1
        count += 1
    if expect_head and not checkpoint_seen and expect_head[0] > 0:
        return broken(
            expected_seq,
            f"events {expected_seq} to {expect_head[0]} were cut off the end: the signed checkpoint covers up to event {expect_head[0]}",
        )
    return Verification(True, count, prev_hash, None, None)


class _Unreadable:
    """A stored payload that is not JSON: it cannot be hashed, so its event reads as altered."""


def _stored_payload(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _Unreadable()


def links_from_catalog(session: Session) -> Iterator[ChainLink]:
    for row in iter_rows(session):
        yield ChainLink(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            payload=_stored_payload(row.payload),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


def verify(session: Session, expect_head: tuple[int, str] | None = None) -> Verification:
    return verify_links(links_from_catalog(session), expect_head)
