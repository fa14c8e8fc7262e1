"""Single emails (.eml and friends): one record unit per message (design.md, "Record units").

Detection is by content only: libmagic calls about half of real emails ``message/rfc822``
and the rest ``text/plain``, ``text/html`` or ``application/octet-stream``, so a text file
whose first header block holds at least two well-known RFC 5322 fields is an email too. A
file that starts with an mbox ``From `` separator is left to the mbox reader.

``item_from_message_bytes`` is the one place a message becomes an ``Item``; the mbox and
Outlook readers reuse it and its helpers so every email-like record is spelled the same:

* ``locator`` is the Message-ID with its angle brackets, or ``sha256:HEX`` of the bytes;
  ``dedupe_key`` is ``email:`` + locator (the same email in two sources is one record).
* Header values are read raw (``Message.raw_items``) and decoded here, linearly: the
  email package's structured header parser is quadratic on hostile headers (a 20,000
  address ``To:`` took 11 s, 200,000 encoded words exhausted memory).
* Forwards keep the quoted original's sender, date and subject (as a hash only: evidence
  and ``forwarded_from`` reach audit payloads, which must never carry record content).
* Hostile input is bounded before the parser sees it (sizes, content-header lengths,
  boundary count) and after (parts kept, MIME depth, nested-message depth).
* Parsing uses ``policy.default`` with a memoised header registry (``POLICY``): same
  behaviour, but the parser's repeated Content-Type look-ups stop dominating an mbox.
* An attached ``message/rfc822`` becomes a child of format ``attachment`` (cli.md: every
  child is one) that is already parsed like an email: text, people, dates, its own
  children, and ``dedupe_key`` ``email:<its Message-ID>`` so a held original is the same
  record. Deeper than ``MAX_NESTED_MESSAGES`` it is kept as unread bytes.

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import functools
import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.headerregistry import HeaderRegistry
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import ftfy
from ftfy.badness import is_bad

from records.intake.model import Evidence, Extraction, Item, Participant, Quarantine, ReadOptions
from records.intake.mojibake import could_be_bad
from records.intake.normalize import email_address
from records.intake.origin import HEAD_LIMIT, message_origin, parsed_date, subject_sha256  # the storage matches forwards on this hash
from records.intake.registry import Reader, Sniff, register

# --------------------------------------------------------------------------- limits

MAX_EMAIL_BYTES = 256 * 1024**2  # one message held in memory to parse
MAX_HEADER_BLOCK = 4 * 1024**2  # top-level header block
MAX_CONTENT_HEADER = 16 * 1024  # one Content-Type/-Disposition header (parsed quadratically)
MAX_BOUNDARY_LINES = 5000  # "--" lines before parsing: a proxy for the number of MIME parts
MAX_ATTACHMENTS = 200  # children kept per message
MAX_MIME_DEPTH = 100  # multipart nesting walked
MAX_NESTED_MESSAGES = 10  # message/rfc822 inside message/rfc822 parsed as emails
MAX_FIELD_CHARS = 64 * 1024  # a header value decoded for text and names
MAX_ADDRESS_CHARS = 1024 * 1024  # an address header parsed for participants (linear work)
MAX_TEXT_LINE = 10_000  # a header line in the item's text
MAX_MESSAGE_ID = 998  # RFC 5322 line limit: a longer "Message-ID" is not used as a locator

DEFAULT_ZONE = ZoneInfo("America/New_York")  # quoted dates without a zone, when the forward has none

# Fields that make a text file an email when at least two open it (cli and export docs).
KNOWN_HEADERS = frozenset(
    {
        "from", "to", "cc", "date", "subject", "message-id", "received", "mime-version",
        "return-path", "delivered-to", "sender", "reply-to", "in-reply-to", "references",
        "content-type", "content-transfer-encoding", "x-mailer",
    }
)  # fmt: skip
ADDRESS_HEADERS = ("from", "sender", "to", "cc", "bcc", "reply-to")

_NL = re.compile(r"\r\n|\r|\n")
_BLANK_LINE = re.compile(rb"\n[\r\n]|\r\r")  # two line ends in a row (CR, LF or CRLF): an empty line
_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:")


class _MemoHeaders(HeaderRegistry):
    """``policy.default``'s header registry, memoised.

    The default policy builds a new header object, with a full parse, on every access:
    the parser itself asks for each part's Content-Type three times, and an mbox repeats
    the same short values thousands of times. Header objects are immutable, so sharing
    them is safe; only short values are kept, in a bounded table. 5x faster on an mbox.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple[str, str], Any] = {}

    def __call__(self, name: str, value: str) -> Any:
        if len(value) > 1024:
            return super().__call__(name, value)
        key = (name, value)
        found = self._seen.get(key)
        if found is None:
            found = super().__call__(name, value)
            if len(self._seen) >= 4096:
                self._seen.clear()
            self._seen[key] = found
        return found


class _MemoParams(EmailMessage):
    """``EmailMessage`` whose header parameters (charset, name, filename) are parsed once
    per distinct header value: every part is asked for them two or three times, and an
    mbox repeats the same few Content-Type values. Same results (a pure function of the
    value); the table is bounded and hands out copies."""

    # ``Message.get`` scans every header, lower-casing each name, on every call; the parser
    # and the readers ask a part for its Content-Type a dozen times, past a dozen
    # Received and DKIM lines. An index of the first header of each name answers instead.
    # It is rebuilt when the header list is replaced or changes length; the one change
    # in place (``replace_header``) keeps each name at its index.
    _first_of: tuple[list[Any], int, dict[str, int]] | None = None

    def _first_index(self) -> dict[str, int]:
        headers = self._headers  # type: ignore[attr-defined]
        cached = self._first_of
        if cached is not None and cached[0] is headers and cached[1] == len(headers):
            return cached[2]
        index: dict[str, int] = {}
        for number, (name, _) in enumerate(headers):
            index.setdefault(name.lower(), number)
        self._first_of = (headers, len(headers), index)
        return index

    def get(self, name: str, failobj: Any = None) -> Any:
        number = self._first_index().get(name.lower())
        if number is None:
            return failobj
        key, value = self._headers[number]  # type: ignore[attr-defined]
        if self.policy is not POLICY or type(value) is not str or len(value) > 1024:
            return self.policy.header_fetch_parse(key, value)
        # ``POLICY`` hands out one shared header object per (name, value) (``_MemoHeaders``):
        # remembering it by the raw value skips unfolding the value again on each look-up.
        found = _FETCHED.get((key, value))
        if found is None:
            found = self.policy.header_fetch_parse(key, value)
            if len(_FETCHED) >= 4096:
                _FETCHED.clear()
            _FETCHED[(key, value)] = found
        return found

    def __contains__(self, name: Any) -> bool:
        return name.lower() in self._first_index()

    def get_content_type(self) -> str:
        # Asked a dozen times per part (by the parser, ``walk``, the charset and filename
        # look-ups and the reader); a pure function of the raw Content-Type value, which
        # an mbox repeats, so it is remembered by that value. No header: the part's
        # default type, which depends on its parent, so it is not remembered.
        number = self._first_index().get("content-type")
        if number is None:
            return super().get_content_type()
        value = self._headers[number][1]  # type: ignore[attr-defined]
        if self.policy is not POLICY or type(value) is not str or len(value) > 1024:
            return super().get_content_type()
        found = _CONTENT_TYPES.get(value)
        if found is None:
            found = super().get_content_type()
            if len(_CONTENT_TYPES) >= 4096:
                _CONTENT_TYPES.clear()
            _CONTENT_TYPES[value] = found
        return found

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        value = self.get(header)
        if value is None:
            return failobj
        key = (header.lower(), str(value))
        if len(key[1]) > 1024:
            return super()._get_params_preserve(failobj, header)  # type: ignore[misc]
        found = _PARAMS_SEEN.get(key)
        if found is None:
            found = super()._get_params_preserve(failobj, header)  # type: ignore[misc]
            if len(_PARAMS_SEEN) >= 4096:
                _PARAMS_SEEN.clear()
            _PARAMS_SEEN[key] = found
        return list(found)


_PARAMS_SEEN: dict[tuple[str, str], Any] = {}
_CONTENT_TYPES: dict[str, str] = {}  # raw Content-Type value -> get_content_type()
_FETCHED: dict[tuple[str, str], Any] = {}

POLICY = policy.default.clone(header_factory=_MemoHeaders(), message_factory=_MemoParams)

# --------------------------------------------------------------------------- the reader


class EmailReader(Reader):
    """Reads one RFC 5322 message (``.eml``, saved ``.txt``, extension-less) into one Item."""

    name = "email"

    def score(self, sniff: Sniff) -> float:
        try:
            return email_score(sniff.mime, sniff.head)
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        limit = min(MAX_EMAIL_BYTES, options.max_bytes)
        if sniff.size > limit:
            raise Quarantine(
                "too_large",
                f"email is {sniff.size / 1024**2:.0f} MB, more than the limit of {limit / 1024**2:.0f} MB for one message",
            )
        raw = sniff.path.read_bytes()
        problems: list[str] = []
        item = item_from_message_bytes(raw, "email", problems)
        detected = "email message"
        if item.children:
            detected += f", {len(item.children)} attachment{'s' if len(item.children) != 1 else ''}"
        return Extraction(reader=self.name, detected=detected, items=[item], problems=problems)


def header_stats(head: bytes, skip_lines: int = 0) -> tuple[int, int]:
    """(known fields, header lines) in the first header block after ``skip_lines`` lines.

    Lines are split the way the email parser splits them (CR, LF or CRLF), so what counts
    here as a header is what the parser will take as one. A block that does not start with
    a header line counts as none.
    """
    blank = _BLANK_LINE.search(head) if skip_lines <= 1 else None
    if blank is not None:
        # Nothing after the first blank line is looked at: a message's body is not split.
        lines = _NL.split(head[: blank.start() + 1].decode("latin-1"))
    else:
        lines = _NL.split(head.decode("latin-1"))
        if len(head) >= 65536 and len(lines) > 1:
            lines = lines[:-1]  # the last line of a cut head may be partial
    known = count = 0
    for line in lines[skip_lines:]:
        if line == "":
            break
        if line[0] in " \t":
            if count == 0:
                return 0, 0
            continue
        found = _FIELD.match(line)
        if not found:
            break
        count += 1
        if found.group(1).lower() in KNOWN_HEADERS:
            known += 1
    return known, count


def starts_like_mbox(head: bytes) -> bool:
    """A ``From `` separator line followed by at least one header line: an mbox's start."""
    if not head.startswith(b"From "):
        return False
    return header_stats(head, skip_lines=1)[1] > 0


def email_score(mime: str, head: bytes) -> float:
    """How sure the email reader is; an mbox start scores low so the mbox reader wins."""
    if starts_like_mbox(head):
        return 0.2
    if mime == "message/rfc822":
        return 0.9
    known, _ = header_stats(head)
    if known >= 3:
        return 0.85
    if known >= 2:
        return 0.7
    return 0.0


# --------------------------------------------------------------------------- the item


def item_from_message_bytes(
    raw: bytes, format: str, problems: list[str] | None = None, *, depth: int = 0, locator: str | None = None
) -> Item:
    """One message's bytes → one ``Item`` of ``format`` (``email``, ``mbox-message``, ...).

    ``problems`` collects parts that were skipped (the source becomes partial); a message
    with nothing usable, or too hostile to parse, raises ``Quarantine``. ``locator`` is
    given for a nested message (its place under the parent); otherwise the Message-ID.
    """
    problems = problems if problems is not None else []
    if len(raw) > MAX_EMAIL_BYTES:
        raise Quarantine("too_large", f"email is {len(raw) / 1024**2:.0f} MB, more than the limit of {MAX_EMAIL_BYTES // 1024**2} MB")
    end = header_end(raw)
    hostile = _hostile(raw, end)
    if hostile:
        raise Quarantine("too_large", f"email {hostile}; it cannot be read safely")
    try:
        message = BytesParser(policy=POLICY).parsebytes(raw)
        item = _item(message, raw, format, problems, depth, locator)
    except RecursionError:
        raise Quarantine("too_large", "email nests its parts too deeply to read safely") from None
    # A first empty line that ends within the limit is also the first one of the message's
    # first ``HEAD_LIMIT + 4`` bytes: those need no second search.
    if format in ORIGIN_FORMATS and not item.forwarded_from and ((end is not None and end.end() <= HEAD_LIMIT) or _headers_end_within(raw, HEAD_LIMIT)):
        # The pipeline's origin stage would parse these headers again to find the same key.
        key = message_origin(message)
        if key:
            item.evidence.append(Evidence("origin", key, 0.0))
    return item


ORIGIN_FORMATS = frozenset({"email", "mbox-message"})  # the pipeline's EMAIL_FORMATS


def _headers_end_within(raw: bytes, limit: int) -> bool:
    """Whether the header block ends (a blank line) within the first ``limit`` bytes."""
    end = header_end(raw[: limit + 4])
    return end is not None and end.end() <= limit


_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")


def header_end(raw: bytes) -> re.Match[bytes] | None:
    """``_HEADER_END.search(raw)``: the first empty line, found at the speed of ``bytes.find``.

    Every match holds ``\n\n``, ``\n\r\n`` or ``\r\r`` at its start or one byte after it,
    so none starts before the first of those, less one; the regex, searching from there,
    finds the same match as from the start. (The regex alone scanned each message's
    headers at a fraction of the speed, twice per message.)
    """
    first = len(raw)
    for marker in (b"\n\n", b"\n\r\n", b"\r\r"):
        at = raw.find(marker, 0, first + len(marker))
        if at >= 0:
            first = min(first, at)
    if first == len(raw):
        return None
    return _HEADER_END.search(raw, max(0, first - 1))


def _item(message: Message, raw: bytes, format: str, problems: list[str], depth: int, locator: str | None) -> Item:
    headers = Headers(message)
    own_id = message_id_locator(headers.first("message-id"), raw)
    here = locator or own_id
    body, parts = _walk(message, here, problems, depth)
    if not headers.items and not body.strip() and not parts.children:
        raise Quarantine("damaged", "email damaged: no header and no body could be read; ask for a new copy")

    evidence: list[Evidence] = []
    if own_id.startswith("sha256:"):
        evidence.append(Evidence("locator", "no Message-ID header; sha256 of the message used", 0.5))
    sent_at, local = message_date(headers, evidence)
    participants = header_participants(headers)
    subject = headers.text("subject")
    original = find_forward(subject, body, parts.originals, local, sent_at)
    first = sent_at
    forwarded_from = None
    if original is not None:
        participants = merge_participants(participants, original.participants())
        if original.sender is not None or original.sent_at is not None:
            forwarded_from = original.link(subject)
        evidence.append(original.evidence)
        if original.sent_at is not None:
            first = min(original.sent_at, sent_at) if sent_at else original.sent_at
    defects = _defects(message)
    if defects:
        evidence.append(Evidence("defects", "email package reported: " + ", ".join(defects), 0.5))
    return Item(
        format=format,
        locator=here,
        text=_text(headers, body),
        participants=participants,
        sent_at_first=first,
        sent_at_last=sent_at,
        evidence=evidence,
        content=raw,
        children=parts.children,
        dedupe_key=f"email:{own_id}",
        forwarded_from=forwarded_from,
    )


def message_id_locator(value: str | None, raw: bytes) -> str:
    """``<id@host>`` as written (brackets added when a sender left them out), else ``sha256:HEX``.

    An id longer than RFC 5322's line limit is not an id but an attack on the catalog's
    locator column: the content hash stands in for it.
    """
    if value:
        found = re.search(r"<[^<>\s]+>", value)
        token = found.group(0) if found else (value.strip().split() or [""])[0]
        if token and len(token) <= MAX_MESSAGE_ID:
            return token if found else f"<{token.strip('<>')}>"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _hostile(raw: bytes, end: re.Match[bytes] | None) -> str | None:
    """Why the email package must not see these bytes, or None (its worst cases, measured).

    ``end``: ``header_end(raw)``, found once by the caller.
    """
    block = end.start() if end else len(raw)
    if block > MAX_HEADER_BLOCK:
        return f"has {block / 1024**2:.0f} MB of headers, more than {MAX_HEADER_BLOCK // 1024**2} MB"
    if raw.count(b"\n--") > MAX_BOUNDARY_LINES:
        return f"has more than {MAX_BOUNDARY_LINES} MIME boundary lines"
    if len(raw) <= MAX_CONTENT_HEADER:
        return None  # no header in it can be longer than the whole message (most emails)
    for found in re.finditer(rb"(?im)^content-(?:type|disposition)[ \t]*:", raw):
        length = _logical_length(raw, found.start(), MAX_CONTENT_HEADER + 1)
        if length > MAX_CONTENT_HEADER:
            return f"has a content header longer than {MAX_CONTENT_HEADER // 1024} KB"
    return None


def _logical_length(raw: bytes, start: int, cap: int) -> int:
    """Length of a header with its folded continuation lines, counted up to ``cap``."""
    pos = start
    while pos - start < cap:
        newline = raw.find(b"\n", pos, start + cap + 1)
        if newline < 0:
            return min(len(raw), start + cap + 1) - start
        pos = newline + 1
        if pos >= len(raw) or raw[pos : pos + 1] not in (b" ", b"\t"):
            return pos - start
    return pos - start


def _defects(message: Message) -> list[str]:
    names: list[str] = []
    for part in _bounded_walk(message, 500):
        for defect in getattr(part, "defects", ()):
            name = type(defect).__name__
            if name not in names:
                names.append(name)
    return names[:10]


def _bounded_walk(message: Message, limit: int) -> Iterable[Message]:
    stack, seen = [message], 0
    while stack and seen < limit:
        part = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed(payload))


# --------------------------------------------------------------------------- headers


class Headers:
    """A message's raw header values, decoded on demand with bounded, linear work."""

    def __init__(self, message: Message) -> None:
        self.items: list[tuple[str, str]] = [(name.lower(), value) for name, value in message.raw_items() if isinstance(value, str)]
        self._by_name: dict[str, list[str]] = {}  # looked up a dozen times per message: indexed once
        for key, value in self.items:
            self._by_name.setdefault(key, []).append(value)

    def all(self, name: str, limit: int = MAX_FIELD_CHARS) -> list[str]:
        return [_unfold(value)[:limit] for value in self._by_name.get(name, ())]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        """The decoded value as a reader would see it (encoded words and 8-bit bytes fixed)."""
        value = self.first(name)
        if value is None:
            return None
        if value.isascii() and "=?" not in value:
            return value.strip()  # nothing to decode or repair (surrogates and mojibake are never ASCII)
        if len(value) <= _REMEMBERED_CHARS:
            return _decoded_header(value)
        return _decode_header(value)


def _decode_header(value: str) -> str:
    return clean_text(decode_words(unsurrogate(value))).strip()


# A mailbox names the same few hundred people and subjects again and again, and a
# display name with an accent costs an encoded-word decode and a mojibake check in every
# message that names it: the decoded text of recent short values is remembered.
_REMEMBERED_CHARS = 400
_decoded_header = functools.lru_cache(maxsize=4096)(_decode_header)


def _unfold(value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return value
    return re.sub(r"\r?\n(?=[ \t])|\r(?=[ \t])", "", value).strip("\r\n")


def unsurrogate(text: str) -> str:
    """8-bit header bytes arrive as surrogate escapes: read them as UTF-8, else Windows-1252."""
    if not re.search("[\udc80-\udcff]", text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def clean_text(text: str) -> str:
    """Repair mojibake only where ftfy judges the text bad: a correct text is never touched."""
    try:
        if text and not text.isascii() and could_be_bad(text) and is_bad(text):
            return ftfy.fix_text(text, uncurl_quotes=False, fix_character_width=False, fix_latin_ligatures=False)
    except Exception:  # noqa: BLE001 - repair is best effort
        return text
    return text


_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words, leniently and in linear time (whitespace between words dropped).

    Adjacent words of one charset are decoded together, so a character split across two
    words (common with UTF-8 and base64) survives; a bad charset or padding never raises.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[tuple[str, bytes]] = []
    pos = 0
    for found in _WORD.finditer(value):
        between = value[pos : found.start()]
        if run and between.strip():
            out.append(_decode_run(run))
            run = []
        if not run:
            out.append(between)
        run.append((found.group(1).split("*")[0].lower(), _word_bytes(found.group(2), found.group(3))))
        pos = found.end()
    if run:
        out.append(_decode_run(run))
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("ascii", "replace")
    try:
        if encoding in "bB":
            return base64.b64decode(data + b"=" * (-len(data) % 4))
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return data


def _decode_run(run: list[tuple[str, bytes]]) -> str:
    out: list[str] = []
    charset, chunk = run[0][0], b""
    for word_charset, data in run:
        if word_charset != charset:
            out.append(decode_bytes(chunk, charset))
            charset, chunk = word_charset, b""
        chunk += data
    out.append(decode_bytes(chunk, charset))
    return "".join(out)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; an unknown or wrong label falls back to UTF-8, then 1252."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            codecs.lookup(candidate)
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):  # ValueError: a NUL in the label
            continue
    return data.decode("cp1252", "replace")


def addresses(values: list[str]) -> list[tuple[str | None, str | None]]:
    """(display name, normalised address) for each mailbox in raw address header values.

    Parsing happens on the raw value (encoded words still closed), so a decoded comma in a
    name ("Doe, John") cannot split a mailbox; the names are decoded afterwards. A value
    that names someone without any address (``From: Brian Zhou``) keeps the name.
    """
    found: list[tuple[str | None, str | None]] = []
    for value in values:
        value = value[:MAX_ADDRESS_CHARS]
        known = _ADDRESSES_SEEN.get(value) if len(value) <= _MEMO_VALUE_CHARS else None
        if known is None:
            known = _addresses_of(value)
            if len(value) <= _MEMO_VALUE_CHARS:
                if len(_ADDRESSES_SEEN) >= _MEMO_ENTRIES:
                    _ADDRESSES_SEEN.clear()
                _ADDRESSES_SEEN[value] = known
        found.extend(known)
    return found


# The same few addresses head most messages of a mailbox (the owner, their colleagues,
# a class's parents), and parsing them was a fifth of reading a message: results for
# short values are remembered, in a bounded table (``addresses`` is a pure function).
_ADDRESSES_SEEN: dict[str, tuple[tuple[str | None, str | None], ...]] = {}
_MEMO_ENTRIES = 8192
_MEMO_VALUE_CHARS = 2048


def _addresses_of(raw_value: str) -> tuple[tuple[str | None, str | None], ...]:
    value = unsurrogate(raw_value)
    found: list[tuple[str | None, str | None]] = []
    kept = False
    for name, address in getaddresses([value]):
        normalised = email_address(address)
        name = clean_text(decode_words(name)).strip().strip('"').strip() or None
        if normalised:
            found.append((name, normalised))
            kept = True
    if not kept:
        bare = clean_text(decode_words(value)).strip().strip('"').strip()
        if bare and "undisclosed" not in bare.lower():
            found.append((bare[:200], None))
    return tuple(found)


def header_participants(headers: Headers) -> list[Participant]:
    """Everyone in From/Sender/To/Cc/Bcc/Reply-To, once each, in header order."""
    people: list[Participant] = []
    for name in ADDRESS_HEADERS:
        pairs = addresses(headers.all(name, MAX_ADDRESS_CHARS))
        people = merge_participants(people, [Participant(n, a) for n, a in pairs])
    return people


def merge_participants(people: list[Participant], more: Iterable[Participant]) -> list[Participant]:
    """Add people not yet present (by address, else by name); a later name fills a missing one."""
    out = list(people)
    index = {_person_key(known): i for i, known in enumerate(out)}
    for person in more:
        key = _person_key(person)
        if not key:
            continue
        at = index.get(key)
        if at is None:
            index[key] = len(out)
            out.append(person)
        elif not out[at].name and person.name:
            out[at] = Participant(person.name, out[at].address, out[at].role)
    return out


def _person_key(person: Participant) -> str:
    return person.address or (person.name or "").lower()


# --------------------------------------------------------------------------- dates


def parse_date(value: str | None) -> dt.datetime | None:
    """An RFC 5322 date as an aware datetime in its own zone (``-0000`` read as UTC), or None."""
    if not value:
        return None
    try:
        when = parsed_date(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


_EARLIEST = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)
_AHEAD = dt.timedelta(days=2)


def plausible(when: dt.datetime | None) -> bool:
    """Dates before 1980 or days ahead of now are clock errors, not when a message was sent."""
    if when is None:
        return False
    return _EARLIEST <= when <= dt.datetime.now(dt.UTC) + _AHEAD


def message_date(headers: Headers, evidence: list[Evidence]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(UTC sent time, the same in the sender's own zone): ``Date:``, else the newest ``Received:``."""
    value = headers.first("date")
    local = parse_date(value)
    if plausible(local):
        assert local is not None
        return local.astimezone(dt.UTC), local
    received = [parse_date(v.rsplit(";", 1)[1]) for v in headers.all("received") if ";" in v]
    good = [when for when in received if plausible(when)]
    if good:
        newest = max(good, key=lambda w: w.astimezone(dt.UTC))
        why = "no Date header" if value is None else "Date header unreadable"
        evidence.append(Evidence("date_fallback", f"{why}; newest Received time used", 0.6))
        return newest.astimezone(dt.UTC), newest
    evidence.append(Evidence("date_missing", "no readable Date or Received header", 0.0))
    return None, None


def iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


_ZONES = {
    "UTC": dt.UTC, "GMT": dt.UTC, "Z": dt.UTC,
    "EST": dt.timezone(dt.timedelta(hours=-5)), "EDT": dt.timezone(dt.timedelta(hours=-4)),
    "CST": dt.timezone(dt.timedelta(hours=-6)), "CDT": dt.timezone(dt.timedelta(hours=-5)),
    "MST": dt.timezone(dt.timedelta(hours=-7)), "MDT": dt.timezone(dt.timedelta(hours=-6)),
    "PST": dt.timezone(dt.timedelta(hours=-8)), "PDT": dt.timezone(dt.timedelta(hours=-7)),
}  # fmt: skip
_LOOSE_FORMATS = (
    "%B %d %Y %I:%M %p", "%b %d %Y %I:%M %p", "%B %d %Y %I:%M:%S %p", "%b %d %Y %I:%M:%S %p",
    "%d %B %Y %I:%M %p", "%d %b %Y %I:%M %p", "%B %d %Y %H:%M", "%b %d %Y %H:%M", "%B %d %Y %H:%M:%S",
    "%b %d %Y %H:%M:%S", "%d %B %Y %H:%M", "%d %b %Y %H:%M", "%d %B %Y %H:%M:%S", "%d %b %Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%y %I:%M %p",
    "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %I:%M %p",
)  # fmt: skip
_RFC_ZONE = re.compile(r"(?:[+-]\d{4}(?:\s*\([^)]*\))?|\b(?:GMT|UT|UTC|[ECMP][SD]T))$")
_AM_PM = re.compile(r"\b[ap]\.?m\b\.?", re.I)
_WEEKDAY = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.I)
_OFFSET = re.compile(r"\s([+-])(\d{2}):?(\d{2})$")  # "-0500", "+05:30"
_NAMED_OFFSET = re.compile(r"\s\(?(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?\)?$")  # "GMT-5", "(UTC-05:00)"


def loose_date(value: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    """A date as mail clients print it in a quoted header block (Gmail, Outlook, Apple Mail).

    ``Mon, Mar 6, 2023 at 8:14 AM``, ``Monday, March 6, 2023 8:14 AM``, ``March 6, 2023 at
    8:14:00 AM EST``, ``3/6/2023 8:14 AM`` or RFC 5322. Without a zone the time is read in
    ``zone`` (the forward's own zone: clients print quoted times in the forwarder's zone).
    """
    if not value:
        return None
    if _RFC_ZONE.search(value.strip()) and not _AM_PM.search(value):
        strict = parse_date(value)
        if strict is not None:
            return strict
    text = re.sub(r"[\u202f\u00a0\s]+", " ", value).strip()
    text = _WEEKDAY.sub("", text)
    text = re.sub(r"\s+at\s+|,", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    tz: dt.tzinfo = zone
    abbreviation = re.search(r"\s([A-Z]{1,4})$", text)
    offset = _OFFSET.search(text) or _NAMED_OFFSET.search(text)
    if abbreviation and abbreviation.group(1) in _ZONES:
        tz, text = _ZONES[abbreviation.group(1)], text[: abbreviation.start()]
    elif offset:
        sign = -1 if offset.group(1) == "-" else 1
        shift = dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        if shift >= dt.timedelta(hours=24):
            return None  # "+9999" is no time zone: the date is not trusted
        tz = dt.timezone(sign * shift)
        text = text[: offset.start()]
    text = re.sub(r"(?i)\b([ap])\.?m\.?$", lambda m: m.group(1).upper() + "M", text.strip())
    for pattern in _LOOSE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------- body and parts


@dataclass
class _Parts:
    children: list[Item] = field(default_factory=list)
    originals: list[Original] = field(default_factory=list)  # attached message/rfc822
    names: set[str] = field(default_factory=set)
    skipped: int = 0


def _walk(message: Message, locator: str, problems: list[str], depth: int) -> tuple[str, _Parts]:
    """The body text, and every other part as a child (nested messages parsed, to a depth)."""
    plain: list[str] = []
    html: list[Message] = []  # decoded only when there is no plain text to use instead
    parts = _Parts()
    stack: list[tuple[Message, int, str]] = [(message, 0, "")]
    deep = False
    while stack:
        part, level, container = stack.pop()
        kind = _content_type(part)
        if kind == "message/rfc822":
            _nested(part, locator, parts, problems, depth, container)
            continue
        if part.is_multipart():
            payload = part.get_payload()
            if level >= MAX_MIME_DEPTH:
                deep = True
                continue
            if isinstance(payload, list):
                stack.extend((sub, level + 1, kind) for sub in reversed(payload) if isinstance(sub, Message))
            continue
        filename = _filename(part)
        if filename is None and kind in ("text/plain", "text/html") and not _is_attachment(part):
            if kind == "text/html":
                html.append(part)
            else:
                plain.append(_text_of(part))
            continue
        _attach(part, kind, filename, locator, parts)
    if deep:
        problems.append(f"parts nested deeper than {MAX_MIME_DEPTH} levels were skipped")
    if parts.skipped:
        problems.append(f"{parts.skipped} attachment(s) beyond the first {MAX_ATTACHMENTS} were skipped")
    if any(t.strip() for t in plain):
        body = "\n\n".join(t.strip("\r\n") for t in plain if t.strip())
    else:
        texts = [_text_of(part) for part in html]
        body = "\n\n".join(html_to_text(t) for t in texts if t.strip())
    return body, parts


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001 - a broken Content-Type reads as plain text, as RFC 2045 says
        return "text/plain"


def _is_attachment(part: Message) -> bool:
    try:
        return (part.get_content_disposition() or "") == "attachment"
    except Exception:  # noqa: BLE001
        return False


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:  # noqa: BLE001 - a malformed parameter leaves the part unnamed
        return None
    if isinstance(name, tuple):  # compat32-style RFC 2231 triple
        name = name[2]
    if not isinstance(name, str) or not name.strip():
        return None
    return safe_name(clean_text(decode_words(unsurrogate(name))))


def safe_name(name: str) -> str | None:
    """A file name usable after ``/`` in a locator: no folders, no control characters."""
    name = re.split(r"[\\/]", name.strip())[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:200] or None


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        taken.add(name)
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        n += 1


def _default_name(kind: str, number: int) -> str:
    ext = ".eml" if kind == "message/rfc822" else (mimetypes.guess_extension(kind) or ".bin")
    return f"attachment-{number}{ext}"


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable transfer encoding: keep what is there
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _text_of(part: Message) -> str:
    data = _payload(part)
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    return clean_text(decode_bytes(data, charset))


def _attach(part: Message, kind: str, filename: str | None, locator: str, parts: _Parts) -> None:
    if len(parts.children) >= MAX_ATTACHMENTS:
        parts.skipped += 1
        return
    name = _unique(filename or _default_name(kind, len(parts.children) + 1), parts.names)
    data = _payload(part) if not part.is_multipart() else _serialise(part)
    parts.children.append(Item(format="attachment", locator=f"{locator}/{name}", name=name, text="", content=data))


def _serialise(message: Message) -> bytes:
    """A parsed (nested) message back to bytes; the parser keeps no original slice of it."""
    for chosen in (policy.compat32, policy.default):
        try:
            return message.as_bytes(policy=chosen)
        except Exception:  # noqa: BLE001 - try the next policy
            continue
    return str(message).encode("utf-8", "replace")


def _nested(part: Message, locator: str, parts: _Parts, problems: list[str], depth: int, container: str) -> None:
    """An attached message: a child parsed as an email, and a forward's candidate original.

    Messages inside a digest or a delivery report are not originals of a forward.
    """
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    if inner is None:
        _attach(part, "message/rfc822", _filename(part), locator, parts)
        return
    if len(parts.children) >= MAX_ATTACHMENTS:
        parts.skipped += 1
        return
    name = _unique(_filename(part) or _default_name("message/rfc822", len(parts.children) + 1), parts.names)
    data = _serialise(inner)
    where = f"{locator}/{name}"
    if container not in ("multipart/digest", "multipart/report"):
        parts.originals.append(_original_from_headers(Headers(inner)))
    if depth + 1 > MAX_NESTED_MESSAGES:
        problems.append(f"attached message {where!s} nested deeper than {MAX_NESTED_MESSAGES} messages: kept unread")
        parts.children.append(Item(format="attachment", locator=where, name=name, text="", content=data))
        return
    child = _item(inner, data, "attachment", problems, depth + 1, where)
    child.name = name
    child.evidence.append(Evidence("attachment", "read as email (attached message/rfc822)", 1.0))
    parts.children.append(child)


def _text(headers: Headers, body: str) -> str:
    """A short header block a reader recognises, then the body (line ends made ``\n``:
    the same message saved with CRLF and found in an LF mbox reads the same)."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for label, name in (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"), ("Subject", "subject")):
        value = headers.text(name)
        if value:
            lines.append(f"{label}: {' '.join(value.split())[:MAX_TEXT_LINE]}")
    return "\n".join(lines) + "\n\n" + body.strip("\r\n") if lines else body


class _HtmlText(HTMLParser):
    """Text of an HTML body: tags dropped, script/style/head skipped, blocks on new lines."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr", "pre", "ul", "ol"})
    SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """An HTML body as plain text (stdlib ``html.parser``; never raises on broken markup)."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - keep what was read before the markup broke
        pass
    text = "".join(parser.out).replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- forwards


_FWD_SUBJECT = re.compile(r"^\s*(?:(?:re|aw|sv)\s*:\s*)*fwd?\s*:", re.I)
_MARKER = re.compile(
    r"^[\s>]*(?:-{3,}\s*forwarded message\s*-{3,}|begin forwarded message\s*:?|-{3,}\s*original message\s*-{3,}"
    r"|-{3,}\s*forwarded by\b.*|_{10,})\s*$",
    re.I,
)
_QUOTED_FIELD = re.compile(r"^[\s>]*\**\s*(from|sent|date|to|cc|subject)\s*\**\s*:\s*\**\s*(.*?)\s*$", re.I)
@dataclass
class Original:
    """A forward's quoted original: who sent it, to whom, when, and about what."""

    sender: Participant | None
    recipients: list[Participant]
    sent_at: dt.datetime | None  # UTC
    subject: str | None
    evidence: Evidence = field(default_factory=lambda: Evidence("forward", "attached original message (message/rfc822)", 0.9))

    def participants(self) -> list[Participant]:
        return ([self.sender] if self.sender else []) + self.recipients

    def link(self, forward_subject: str | None) -> dict[str, str | None]:
        """``forwarded_from``: what the storage matches a held original on."""
        return {
            "sender": self.sender.address if self.sender else None,
            "sent_at": iso(self.sent_at),
            "subject_sha256": subject_sha256(self.subject if self.subject is not None else (forward_subject or "")),
        }


def _original_from_headers(headers: Headers) -> Original:
    people = [Participant(n, a) for n, a in addresses(headers.all("from", MAX_ADDRESS_CHARS))]
    recipients: list[Participant] = []
    for name in ("to", "cc"):
        recipients = merge_participants(recipients, [Participant(n, a) for n, a in addresses(headers.all(name, MAX_ADDRESS_CHARS))])
    when = parse_date(headers.first("date"))
    return Original(people[0] if people else None, recipients, when.astimezone(dt.UTC) if plausible(when) else None, headers.text("subject"))


def find_forward(
    subject: str | None, body: str, attached: list[Original], local: dt.datetime | None, sent_at: dt.datetime | None
) -> Original | None:
    """The original a forward quotes, or None when the message is not a forward.

    A forward is a ``Fwd:``/``FW:`` subject, a client's forward marker in the body, or an
    attached message. The quoted header block after a marker wins (it is what the sender
    saw); without one, an attached message; with a forward subject alone, the first
    ``From:`` block that also has a date.
    """
    lines = body.splitlines()
    marked = [i for i, line in enumerate(lines[:20_000]) if _MARKER.match(line)]
    zone = local.tzinfo if local and local.tzinfo else DEFAULT_ZONE
    for index in marked:
        found = _quoted_block(lines, index + 1, zone)
        if found:
            return found
    if len(attached) == 1 or attached and _FWD_SUBJECT.match(subject or ""):
        return attached[0]
    if _FWD_SUBJECT.match(subject or ""):
        for index, line in enumerate(lines[:20_000]):
            if re.match(r"^[\s>]*\**\s*from\s*\**\s*:", line, re.I):
                found = _quoted_block(lines, index, zone, need_date=True)
                if found:
                    return found
        return Original(None, [], None, None, Evidence("forward", "forward subject without a readable quoted original", 0.3))
    return None


def _quoted_block(lines: list[str], start: int, zone: dt.tzinfo, need_date: bool = False) -> Original | None:
    """Parse ``From:``/``Sent:``/``To:``/``Subject:`` lines starting near ``start``."""
    i = start
    while i < len(lines) and i < start + 3 and not lines[i].strip(" \t>*"):
        i += 1
    first = i
    fields: dict[str, str] = {}
    while i < len(lines):
        found = _QUOTED_FIELD.match(lines[i])
        if not found:
            break
        key = found.group(1).lower()
        fields.setdefault("date" if key == "sent" else key, found.group(2))
        i += 1
    if "from" not in fields and "date" not in fields:
        return None
    if need_date and "date" not in fields:
        return None
    sender = None
    if "from" in fields:
        sender = _loose_person(fields["from"])
    recipients: list[Participant] = []
    for key in ("to", "cc"):
        if key in fields:
            recipients = merge_participants(recipients, [_loose_person(p) for p in _split_people(fields[key])])
    when = loose_date(fields.get("date"), zone)
    detail = f"quoted original header block at line {first + 1}"
    return Original(sender, recipients, when.astimezone(dt.UTC) if when else None, fields.get("subject"), Evidence("forward", detail, 0.9))


_PERSON = re.compile(r"^(?P<name>.*?)\s*[<\[](?:mailto:)?(?P<address>[^<>\[\]\s]+@[^<>\[\]\s]+)[>\]]\s*$", re.I)


def _loose_person(value: str) -> Participant:
    """``Rivera, Ana <ana@x>``, ``Ana [mailto:ana@x]``, a bare address, or a bare name."""
    value = value.strip().strip(";,").strip()
    found = _PERSON.match(value)
    if found:
        name = found.group("name").strip().strip('"').strip() or None
        return Participant(name, email_address(found.group("address")))
    address = email_address(value)
    return Participant(None, address) if address else Participant(value.strip('"') or None, None)


def _split_people(value: str) -> list[str]:
    if ";" in value:
        return [p for p in value.split(";") if p.strip()]
    pairs = getaddresses([value])
    if len(pairs) > 1 and all(email_address(a) for _, a in pairs):
        return [f"{n} <{a}>" if n else a for n, a in pairs]
    return [value]


register(EmailReader())
