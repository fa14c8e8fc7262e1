"""What ties a forwarded email to its original: sender, minute sent, hashed subject.

design.md: "A forward is a record of its own, linked to the original when the original
is held too (matched on the quoted sender, date and subject)". The subject is only ever
kept as a hash, because keys like this end up in audit payloads.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import functools
import re
from collections.abc import Callable, Iterable
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import parseaddr
from typing import Any

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
    utc = moment.astimezone(dt.UTC)
    minute = f"{utc.year}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}"  # strftime("%Y-%m-%dT%H:%M") (its year unpadded, as glibc writes it), at a fifth of the cost
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
    return raw_origin(headers.raw_items())


def raw_origin(items: Iterable[tuple[str, Any]]) -> str | None:
    """``message_origin`` from a message's raw ``(name, value)`` header pairs.

    The same key as asking the message for ``policy.default``'s header objects, without
    building them for every message: that was a quarter of reading an mbox, the ``Date:``
    above all (a new value in every message, parsed, formatted and parsed again). The
    date is parsed once (the header's round trip through ``format_datetime`` changes
    nothing), a plain-ASCII subject without encoded words is its own decoded value
    (checked against the header registry over random ASCII), and a sender's address is
    remembered by its raw value; anything else still goes through the header registry.
    """
    raw: dict[str, Any] = {}
    for name, value in items:
        key = name.lower()
        if key in _ORIGIN_FIELDS and key not in raw:
            raw[key] = value
    try:
        sender = _sender(_unfolded(raw.get("from", "")))
        date = parsed_date(_unfolded(raw.get("date", "")))
        subject = _subject(_unfolded(raw.get("subject", "")))
    except (TypeError, ValueError, IndexError, LookupError, AttributeError):
        # AttributeError: the standard library's address parser fails so on some odd
        # From lines (a group where a mailbox should be, a lone quote): no key, no crash.
        return None
    if not subject:
        return None
    return origin_key(sender, date, subject_sha256(subject))


# ``email.utils.parsedate_to_datetime``, remembering the last few values: the email reader
# parses a message's ``Date:`` for its sent time, then the origin key parses the same value
# again. The result is an immutable datetime (or the same exception raised anew).
parsed_date = functools.lru_cache(maxsize=16)(email.utils.parsedate_to_datetime)

_ORIGIN_FIELDS = frozenset({"from", "date", "subject"})
_LINE_BREAKS = re.compile(r"[\r\n]")  # what ``policy.default`` removes before parsing a value
_PLAIN = re.compile(r"[\t -~]*")  # printable ASCII: decoded as it stands, unless it holds "=?"
_SENDERS: dict[str, str] = {}  # raw From value -> address, bounded (the same senders recur)
_SUBJECTS: dict[str, str] = {}  # raw Subject value (not plain ASCII) -> decoded, bounded (a thread repeats it)
_REMEMBERED_MAX = 8192  # entries per table; a full table starts again empty


def _remembered(table: dict[str, str], value: str, work: Callable[[str], str]) -> str:
    """``work(value)``, looked up in ``table`` first and kept there (values up to 2 KB)."""
    found = table.get(value)
    if found is None:
        found = work(value)
        if len(value) <= 2048:
            if len(table) >= _REMEMBERED_MAX:
                table.clear()
            table[value] = found
    return found


def _unfolded(value: Any) -> str:
    """A raw value as ``policy.default`` hands it to its header classes (a header object as is)."""
    return str(value) if hasattr(value, "name") else _LINE_BREAKS.sub("", str(value))


def _subject(value: str) -> str:
    if "=?" not in value and _PLAIN.fullmatch(value):
        return value
    return _remembered(_SUBJECTS, value, lambda raw: str(default.header_factory("subject", raw)))


def _sender(value: str) -> str:
    return _remembered(_SENDERS, value, lambda raw: parseaddr(str(default.header_factory("from", raw)) if raw else "")[1])
