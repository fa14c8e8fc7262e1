"""Signed session cookies and CSRF tokens.

The cookie holds the user's name, a per-session CSRF token, the time it was issued and,
once signed in, the token of the server-side session (``storage.web_sessions``), signed
with HMAC-SHA256 under a secret kept in ``RECORDS_HOME/web-secret`` (mode 600). The
signature stops forgery; the server-side row lets sign-out end the session for good (a
copied cookie stops working). Every request re-reads the user and the session from the
catalog, so disabling or locking a user ends their sessions at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "records_session"
MAX_AGE = 8 * 3600  # a working day


def load_secret(home: Path) -> bytes:
    """The signing secret, created on first use, readable by the owner only."""
    path = home / "web-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    os.chmod(path, 0o600)
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class WebSession:
    user: str | None
    csrf: str
    issued: int
    token: str | None = None  # the server-side session (storage.web_sessions), once signed in

    @classmethod
    def new(cls, user: str | None = None, token: str | None = None) -> WebSession:
        return cls(user=user, csrf=secrets.token_urlsafe(32), issued=int(time.time()), token=token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: WebSession, secret: bytes) -> str:
    body = _b64(json.dumps({"u": session.user, "c": session.csrf, "t": session.issued, "s": session.token}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def decode(value: str | None, secret: bytes) -> WebSession | None:
    """The session in a cookie, or None when absent, forged, damaged or expired."""
    if not value or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(_unb64(body))
        session = WebSession(user=data.get("u"), csrf=str(data["c"]), issued=int(data["t"]), token=data.get("s"))
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - session.issued > MAX_AGE:
        return None
    return session


def csrf_ok(session: WebSession | None, token: str | None) -> bool:
    return bool(session and token and hmac.compare_digest(session.csrf, token))
