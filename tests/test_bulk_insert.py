"""Rows inserted in bulk (``storage.bulk``) read back exactly as rows the ORM inserted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from records.storage.bulk import insert_rows
from records.storage.db import Catalog
from records.storage.models import AuditEventRow, Record, Source

NOW = dt.datetime(2026, 11, 30, 14, 5, 6, 789012, tzinfo=dt.UTC)
EASTERN = dt.timezone(dt.timedelta(hours=-5))


def _record(record_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": record_id,
        "source_id": "S-1",
        "parent_id": None,
        "format": "mbox-message",
        "locator": "<m@x>",
        "sent_at_first": dt.datetime(2024, 3, 1, 8, 30, tzinfo=EASTERN),  # stored as UTC
        "sent_at_last": None,
        "owner_staff_id": None,
        "participants": [{"name": "Zoë Müller", "address": "zoe@example.org", "role": "unknown"}],
        "text_chars": 12,
        "content_sha256": "ab" * 32,
        "key_id": "K-1",
        "blob_id": "K-1.blob",
        "text_blob_id": "K-1.text",
        "series_code": "UNSCHEDULED",
        "series_confidence": 0.25,
        "series_evidence": [],
        "series_decided_by": "engine",
        "extraction_evidence": [{"kind": "date", "detail": "Date:", "weight": 1.0}],
        "status": "active",
        "created_at": NOW,
        "dedupe_key": "email:<m@x>",
        "origin_key": None,
        "forward_of": None,
        "is_forward": True,
        "message_count": 0,
        "updated_at": NOW,
    }
    row.update(changes)
    return row


_COMPARED = (
    "format", "locator", "sent_at_first", "sent_at_last", "participants", "text_chars", "series_confidence",
    "series_evidence", "extraction_evidence", "created_at", "is_forward", "students_decided_by", "status",
)


def _read(catalog: Catalog, record_id: str) -> dict[str, Any]:
    with catalog.reading() as session:
        record = session.get(Record, record_id)
        assert record is not None
        return {name: getattr(record, name) for name in _COMPARED}


def test_bulk_rows_read_back_as_the_orm_writes_them(catalog: Catalog) -> None:
    """Datetimes in UTC, JSON, booleans, floats and the defaults of columns left out: the
    same on SQLite and PostgreSQL as SQLAlchemy's own INSERT gives."""
    with catalog.writing() as session:
        session.add(Source(id="S-1", sha256="cd" * 32, path="/x.mbox", size=1, status="ingesting", received_at=NOW, received_by="test"))
        session.flush()
        session.execute(insert(Record.__table__), [_record("R-orm")])
        insert_rows(session, Record.__table__, [_record("R-bulk"), _record("R-bulk-2", locator=None, participants=[], is_forward=False)])
    orm, bulk = _read(catalog, "R-orm"), _read(catalog, "R-bulk")
    assert bulk == orm
    assert bulk["sent_at_first"] == dt.datetime(2024, 3, 1, 13, 30, tzinfo=dt.UTC)
    assert bulk["students_decided_by"] == "engine"  # left out of the rows: its default
    assert bulk["participants"][0]["name"] == "Zoë Müller"
    second = _read(catalog, "R-bulk-2")
    assert (second["locator"], second["participants"], second["is_forward"]) == (None, [], False)


def test_rows_leaving_out_a_column_filled_from_python_take_the_orm_path(catalog: Catalog) -> None:
    """``participants`` defaults to a new list (a Python callable): rows without it still
    get it, as SQLAlchemy gives it, rather than a NULL."""
    row = _record("R-no-participants")
    del row["participants"]
    with catalog.writing() as session:
        session.add(Source(id="S-1", sha256="cd" * 32, path="/x.mbox", size=1, status="ingesting", received_at=NOW, received_by="test"))
        session.flush()
        insert_rows(session, Record.__table__, [row])
    assert _read(catalog, "R-no-participants")["participants"] == []


def test_a_failed_bulk_insert_leaves_nothing(catalog: Catalog) -> None:
    """The rows go in the caller's transaction: a duplicate key rolls every one back."""
    rows = [
        {"seq": n, "at": "2026-11-30T14:05:06.789012Z", "actor": "test", "action": "x", "subject_type": "s", "subject_id": "1", "payload": "{}", "prev_hash": "0" * 64, "hash": f"{n:064x}"}
        for n in (1, 2, 2)
    ]
    with pytest.raises(IntegrityError), catalog.writing() as session:
        insert_rows(session, AuditEventRow.__table__, rows)
    with catalog.reading() as session:
        assert session.execute(select(AuditEventRow.seq)).all() == []


def test_rows_naming_different_columns_are_refused_as_sqlalchemy_refuses_them(catalog: Catalog) -> None:
    """One statement cannot take rows of different columns: the call fails as SQLAlchemy's
    own bulk INSERT fails, before anything is written, never with a row half filled."""
    from sqlalchemy.exc import StatementError

    other = _record("R-other")
    del other["locator"]
    other["owner_staff_id"] = "T-1"  # as many columns as the first row, not the same ones
    with pytest.raises(StatementError, match="locator"), catalog.writing() as session:
        session.add(Source(id="S-1", sha256="cd" * 32, path="/x.mbox", size=1, status="ingesting", received_at=NOW, received_by="test"))
        session.flush()
        insert_rows(session, Record.__table__, [_record("R-first"), other])
    with catalog.reading() as session:
        assert session.execute(select(Record.id)).all() == []
