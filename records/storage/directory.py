"""Load a parsed roster or staff directory into the catalog, and say what changed.

The roster is the source of every student exit date, and exit dates start retention
clocks, so an import must be predictable and auditable:

- Atomic by default. When the file has a bad row and the import is not ``partial``,
  nothing is written: the report then has zero counts, an empty ``exited``, the errors,
  and ``missing_from_file`` (reading the catalog to compute it writes nothing). With
  ``partial`` the good rows are loaded and the bad ones reported. A file that could not be
  read as a whole (encoding, header, broken quoting) is never loaded, partial or not, and
  then ``missing_from_file`` is empty: the file says nothing about who is in it.
- Re-importing the same file changes nothing; a changed row is updated field by field.
  Columns the file does not have (the optional ``mailing_address``, staff ``exit_date``)
  leave the stored values alone.
- A person absent from the file is reported in ``missing_from_file`` and otherwise left
  alone: absence is never an exit (domain.md, "Dates").
- ``exited`` lists those whose exit date this import set where the catalog had none,
  people new to the catalog who arrive already exited included: from the catalog's view
  their exit becomes known now. A corrected exit date is an update, not a new exit.
- Audit events carry ids, field names, counts and the exit date and reason (which
  retention needs), never names, emails, phones or handles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.intake.directory_csv import ParsedDirectory, RowError, StaffRow, StudentRow
from records.storage.audit import PendingEvent, append_many
from records.storage.models import Staff, Student

_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter caps


@dataclass
class ImportReport:
    """What ``records roster import`` / ``staff import`` report (cli.md, "JSON shapes")."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    exited: list[str] = field(default_factory=list)
    missing_from_file: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    written: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "exited": list(self.exited),
            "missing_from_file": list(self.missing_from_file),
            "errors": [error.to_json() for error in self.errors],
            "warnings": [warning.to_json() for warning in self.warnings],
        }


@dataclass(frozen=True)
class _Kind:
    """What differs between the roster and the staff directory."""

    model: type[Student] | type[Staff]
    id_field: str
    subject_type: str
    summary_action: str
    exit_fields: tuple[str, ...]
    optional_columns: frozenset[str]


_STUDENTS = _Kind(Student, "student_id", "student", "roster.imported", ("exit_date", "exit_reason"), frozenset({"mailing_address"}))
_STAFF = _Kind(Staff, "staff_id", "staff", "staff.imported", ("exit_date",), frozenset({"exit_date"}))


def import_students(
    session: Session,
    parsed: ParsedDirectory[StudentRow],
    *,
    actor: str,
    partial: bool,
    source_name: str,
    source_sha256: str | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Apply a parsed roster inside the caller's write transaction (see the module doc)."""
    return _import(session, parsed, _STUDENTS, actor=actor, partial=partial, source_name=source_name, source_sha256=source_sha256, now=now)


def import_staff(
    session: Session,
    parsed: ParsedDirectory[StaffRow],
    *,
    actor: str,
    partial: bool,
    source_name: str,
    source_sha256: str | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Apply a parsed staff directory inside the caller's write transaction."""
    return _import(session, parsed, _STAFF, actor=actor, partial=partial, source_name=source_name, source_sha256=source_sha256, now=now)


def _values(row: StudentRow | StaffRow, columns: frozenset[str], kind: _Kind) -> dict[str, Any]:
    """The row as catalog values, without the optional columns the file does not have."""
    values: dict[str, Any] = {}
    for item in fields(row):
        if item.name == "line" or (item.name in kind.optional_columns and item.name not in columns):
            continue
        value = getattr(row, item.name)
        values[item.name] = list(value) if isinstance(value, tuple) else value
    return values


def _changed(existing: Student | Staff, values: dict[str, Any]) -> list[str]:
    """Names of the fields whose stored value differs (a stored NULL list counts as empty)."""
    changed = []
    for name, new in values.items():
        old = getattr(existing, name)
        if isinstance(new, list) and old is None:
            old = []
        if old != new:
            changed.append(name)
    return changed


def _load(session: Session, kind: _Kind, ids: Sequence[str]) -> dict[str, Student | Staff]:
    """The stored rows for the file's ids: a few IN queries, not one query per row."""
    column = getattr(kind.model, kind.id_field)
    found: dict[str, Student | Staff] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        for item in session.scalars(select(kind.model).where(column.in_(chunk))):
            found[getattr(item, kind.id_field)] = item
    return found


def _missing(session: Session, kind: _Kind, in_file: Iterable[str]) -> list[str]:
    stored = session.scalars(select(getattr(kind.model, kind.id_field))).all()
    return sorted(set(stored) - set(in_file))


def _exit_payload(values: dict[str, Any], kind: _Kind) -> dict[str, Any]:
    return {name: (values[name].isoformat() if isinstance(values[name], dt.date) else values[name]) for name in kind.exit_fields}


def _import(
    session: Session,
    parsed: ParsedDirectory[Any],
    kind: _Kind,
    *,
    actor: str,
    partial: bool,
    source_name: str,
    source_sha256: str | None,
    now: dt.datetime | None,
) -> ImportReport:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("naive datetime given to an import; use an aware UTC time")
    report = ImportReport(errors=sorted(parsed.errors, key=lambda e: e.line), warnings=list(parsed.warnings))
    if parsed.unreadable:
        return report
    rows: list[StudentRow | StaffRow] = list(parsed.rows)
    ids = [getattr(row, kind.id_field) for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"parsed rows repeat a {kind.id_field}: the parser reports duplicates as errors")
    report.missing_from_file = _missing(session, kind, set(ids) | parsed.ids_in_file)
    if parsed.errors and not partial:
        return report

    existing = _load(session, kind, ids)
    events: list[PendingEvent] = []
    for row, row_id in zip(rows, ids, strict=True):
        values = _values(row, parsed.columns, kind)
        current = existing.get(row_id)
        if current is None:
            session.add(kind.model(**values, updated_at=now))
            report.added += 1
            payload: dict[str, Any] = {kind.id_field: row_id}
            if values.get("exit_date"):
                report.exited.append(row_id)
                payload.update(_exit_payload(values, kind))
            events.append(PendingEvent(actor, f"{kind.subject_type}.added", kind.subject_type, row_id, payload))
            continue
        changed = _changed(current, values)
        if not changed:
            report.unchanged += 1
            continue
        was_exited = current.exit_date is not None
        for name in changed:
            setattr(current, name, values[name])
        current.updated_at = now
        report.updated += 1
        payload = {kind.id_field: row_id, "fields": changed}
        if any(name in kind.exit_fields for name in changed):
            payload.update(_exit_payload(values, kind))
        if current.exit_date is not None and not was_exited:
            report.exited.append(row_id)
        events.append(PendingEvent(actor, f"{kind.subject_type}.changed", kind.subject_type, row_id, payload))

    session.flush()
    events.append(
        PendingEvent(
            actor,
            kind.summary_action,
            "import",
            source_sha256 or parsed.sha256 or source_name,
            {
                "source_name": source_name,
                "source_sha256": source_sha256 or parsed.sha256,
                "partial": partial,
                "added": report.added,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "exited": report.exited,
                "missing_from_file": report.missing_from_file,
                "rejected_lines": sorted({error.line for error in parsed.errors}),
            },
        )
    )
    append_many(session, events, now=now)
    report.written = True
    return report


__all__ = ["ImportReport", "import_staff", "import_students"]


def staff_exists(session: Session, staff_id: str) -> bool:
    """Whether the staff directory knows this id (``records ingest --staff`` checks it)."""
    return session.get(Staff, staff_id) is not None


def student_exists(session: Session, student_id: str) -> bool:
    """Whether the roster knows this id (the access-log page says when it does not)."""
    return session.get(Student, student_id) is not None
