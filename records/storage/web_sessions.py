"""Web sessions kept in the catalog, so that a session can be ended on the server.

The signed cookie alone cannot be taken back: a copy of it would work until it expires.
Each signed-in session therefore has a row here, keyed by the SHA-256 of a random token
the cookie carries (the catalog never holds the token itself). A session is live while
its row is neither ended nor expired; signing out ends it, and a password reset, a
password change or disabling the user ends every other session of that user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from records.storage.models import WebSessionRow

KEEP_ENDED = dt.timedelta(days=7)  # ended or expired rows are removed after this


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_name: str, *, lifetime: dt.timedelta, now: dt.datetime | None = None) -> str:
    """A new live session for ``user_name``; returns the token for the cookie."""
    now = now or dt.datetime.now(dt.UTC)
    session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now - KEEP_ENDED))
    token = secrets.token_urlsafe(32)
    session.add(WebSessionRow(token_sha256=_key(token), user_name=user_name, created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


def is_live(session: Session, token: str | None, user_name: str, *, now: dt.datetime | None = None) -> bool:
    if not token:
        return False
    row = session.get(WebSessionRow, _key(token))
    now = now or dt.datetime.now(dt.UTC)
    return row is not None and row.user_name == user_name and row.ended_at is None and row.expires_at > now


def end(session: Session, token: str | None, *, why: str = "signed_out", now: dt.datetime | None = None) -> bool:
    """End one session (sign-out); True when a live one was ended."""
    if not token:
        return False
    result = session.execute(
        update(WebSessionRow).where(WebSessionRow.token_sha256 == _key(token), WebSessionRow.ended_at.is_(None))
        .values(ended_at=now or dt.datetime.now(dt.UTC), ended_why=why)
    )
    return bool(result.rowcount)


def end_all(session: Session, user_name: str, *, why: str, keep: str | None = None, now: dt.datetime | None = None) -> int:
    """End every live session of a user, except the one whose token is ``keep``; returns how many."""
    query = update(WebSessionRow).where(WebSessionRow.user_name == user_name, WebSessionRow.ended_at.is_(None))
    if keep:
        query = query.where(WebSessionRow.token_sha256 != _key(keep))
    result = session.execute(query.values(ended_at=now or dt.datetime.now(dt.UTC), ended_why=why))
    return int(result.rowcount or 0)


def live_count(session: Session, user_name: str, *, now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.UTC)
    return len(session.execute(
        select(WebSessionRow.token_sha256).where(WebSessionRow.user_name == user_name, WebSessionRow.ended_at.is_(None), WebSessionRow.expires_at > now)
    ).all())
