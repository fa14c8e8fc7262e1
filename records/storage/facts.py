"""Small facts about the installation kept in the catalog (last nightly run, say)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from records.storage.models import KeyValue


def get(session: Session, key: str) -> str | None:
    row = session.get(KeyValue, key)
    return row.value if row else None


def put(session: Session, key: str, value: str) -> None:
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value))
    else:
        row.value = value
    session.flush()


LAST_NIGHTLY = "nightly.last_run"
LAST_AUDIT_CHECK = "audit.last_verified"
