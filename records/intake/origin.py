"""What ties a forwarded email to its original: sender, minute sent, hashed subject.

design.md: "A forward is a record of its own, linked to the original when the original
is held too (matched on the quoted sender, date and subject)". The subject is only ever
kept as a hash, because keys like this end up in audit payloads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import parseaddr, parsedate_to_datetime

_PREFIXES = ("fwd:", "fw:", "re:", "aw:", "wg:", "tr:")


def normalise_subject(subject: str) -> str:
    """Lower-cased, reply/forward prefixes stripped, white space folded."""
    text = " ".join(subject.split()).lower()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text = text[len(prefix) :].strip()
                changed = True
    return text


def subject_sha256(subject: str) -> str:
    return hashlib.sha256(normalise_subject(subject).encode("utf-8")).hexdigest()


def origin_key(sender: str | None, sent_at: str | dt.datetime | None, subject_hash: str | None) -> str | None:
    if not sender or not sent_at or not subject_hash:
        return None
    try:
        moment = sent_at if isinstance(sent_at, dt.datetime) else dt.datetime.fromisoformat(str(sent_at).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    minute = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    return hashlib.sha256(f"{sender.strip().lower()}|{minute}|{subject_hash}".encode()).hexdigest()


HEAD_LIMIT = 256 * 1024  # the origin is read from the headers within the first 256 KB


def email_origin(raw: bytes) -> str | None:
    """The origin key of an email from its own headers (None when one is missing)."""
    try:
        headers = BytesHeaderParser(policy=default).parsebytes(raw[:HEAD_LIMIT])
    except (TypeError, ValueError, IndexError, LookupError):
        return None
    return message_origin(headers)


def message_origin(headers: Message) -> str | None:
    """``email_origin`` of a message already parsed with ``policy.default`` (or a clone).

    A reader that has parsed the message hands it here instead of the pipeline parsing
    its headers a second time; for a message whose header block ends within
    ``HEAD_LIMIT`` the headers, and so the key, are the same.
    """
    try:
        sender = parseaddr(str(headers.get("From", "")))[1]
        date = parsedate_to_datetime(str(headers.get("Date", "")))
        subject = str(headers.get("Subject", ""))
    except (TypeError, ValueError, IndexError, LookupError, AttributeError):
        # AttributeError: the standard library's address parser fails so on some odd
        # From lines (a group where a mailbox should be, a lone quote): no key, no crash.
        return None
    if not subject:
        return None
    return origin_key(sender, date, subject_sha256(subject))
