"""SMS Backup & Restore (Android) XML: texts and MMS cut into one record per counterpart and school year.

Why it is built this way:

- **Streaming.** Backups reach gigabytes, so the XML is parsed incrementally
  (``defusedxml``'s ``iterparse``) and every ``<sms>``/``<mms>`` element is cleared as soon
  as it is read. What stays in memory is one compact tuple per message plus the decoded
  MMS media (see "Memory" below), never the XML tree.
- **Hostile XML.** DTDs, entity declarations and external references are refused
  (XXE, billion laughs) before any expansion: the whole file is quarantined as ``unsafe``.
- **Real-world damage.** Android's XML serializer writes emoji as two character
  references to UTF-16 surrogates (``&#55357;&#56832;``), which every conforming XML
  parser rejects; a byte-stream repair joins such pairs into one valid reference and turns
  references to characters XML forbids (and raw control bytes, invalid UTF-8) into U+FFFD.
  The count of repairs is reported in ``Extraction.detected``.
- **Counterparts.** A conversation is keyed by the *normalised* addresses of the other
  side (E.164 phones; ``normalize.phone_number``), so ``(617) 555-0134`` and
  ``+16175550134`` are one conversation. The locator keeps the address *as the backup
  writes it*: the written form of the earliest message of that part (time order, ties in
  file order), so a later export that only adds newer messages keeps the same locator.
  Group MMS: the non-owner addresses, sorted by normalised value and joined with ``~``
  (as the app writes them). Owner numbers are learnt from the MMS address lists (the
  backup never states the owner): the ``from`` of sent MMS, and the one number an MMS
  lists beyond its ``address`` attribute.
- **Owner messages.** Sent messages (and drafts, outbox, failed, queued) have
  ``sender_name="Me"`` and ``sender_address=None`` always, even when the owner's number is
  known, so that message dedupe keys agree between two backups of the same phone.
  Non-delivered states are kept and counted in the item's evidence.

Memory: the whole file must be read before any part is complete, so accumulation holds,
per message, one tuple of (epoch ms, order, sender, name, text, attachment names) with
addresses and names interned - about 200 bytes plus the text - and the decoded MMS media,
capped at ``MAX_MEDIA_BYTES`` (media beyond the cap is reported as a problem). Items are
then built one part at a time as ``Extraction.items`` is consumed (``streams = True``),
each holding its messages three times (``Message``, transcript, JSON). Measured with
tracemalloc on a 27 MB, 100,000-message backup: 25 MB peak when the items are consumed
part by part as the ingest flow does, 51 MB when every item is kept; about 4 s.

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import json
import mimetypes
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ClassVar

import defusedxml
from defusedxml.ElementTree import ParseError, iterparse

from records.intake import normalize
from records.intake.model import Evidence, Extraction, Item, Message, Participant, Quarantine, ReadOptions
from records.intake.registry import Reader, Sniff, register

DEFAULT_TIMEZONE = "America/New_York"  # ReadOptions has no time zone yet: the district default
OWNER_NAME = "Me"
MAX_MEDIA_BYTES = 1024**3  # decoded MMS media held in memory for one backup
MAX_LISTED_PROBLEMS = 20  # skipped messages named one by one; the rest are counted
CHECK_EVERY = 1000  # elements between time-limit checks
MAX_KEY_CHARS = 400  # longer group keys are hashed (the catalog's dedupe_key holds 512)

UNSAFE_REASON = "SMS backup contains a DTD or entity declarations; refused (XML attack); export it again"

# sms ``type`` / mms ``msg_box``: 1 received, 2 sent; the rest are the owner's undelivered states.
_STATUS = {3: "draft", 4: "outbox", 5: "failed", 6: "queued"}
_RECEIVED = 1
_MMS_FROM, _MMS_TO, _MMS_CC, _MMS_BCC = 137, 151, 130, 129
_SELF_TOKEN = "insert-address-token"  # the app's placeholder for the phone's own number
_UNKNOWN_NAMES = {"", "(unknown)", "null", "unknown"}
_CUT_OFF_CODES = {3, 5, 6}  # expat: no element found, unclosed token, partial character


class SmsBackupReader(Reader):
    """Reads SMS Backup & Restore XML (root ``<smses>``) into ``sms-thread`` items."""

    name = "sms"
    streams: ClassVar[bool] = True

    def score(self, sniff: Sniff) -> float:
        try:
            return score_head(sniff.head)
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        return read_backup(Path(sniff.path), options)


# --------------------------------------------------------------------------- detection

_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_DOCTYPE = re.compile(rb"\s*<!DOCTYPE\s+([^\s\[>]+)[^\[>]*(\[.*?\]\s*)?>", re.S)
_DOCTYPE_START = re.compile(rb"\s*<!DOCTYPE\s+([^\s\[>]+)", re.S)
_ROOT = re.compile(rb"\s*<smses[\s>/]")


def score_head(head: bytes) -> float:
    """1.0 when the first element after the prolog is ``<smses``; a DOCTYPE does not hide it.

    A file with a DOCTYPE is still claimed here so that ``read`` can refuse it as an
    attack with a clear reason, instead of it being called "unsupported".
    """
    data = _head_as_utf8(head)
    pos = 0
    while True:
        match = _PROLOG_ITEM.match(data, pos)
        if match:
            pos = match.end()
            continue
        doctype = _DOCTYPE.match(data, pos)
        if doctype:
            if doctype.group(1) == b"smses":
                return 1.0
            pos = doctype.end()
            continue
        start = _DOCTYPE_START.match(data, pos)
        if start:  # a DOCTYPE longer than the head: judge by its name or a later <smses
            return 1.0 if start.group(1) == b"smses" or b"<smses" in data[pos:] else 0.0
        break
    return 1.0 if _ROOT.match(data, pos) else 0.0


def _head_as_utf8(head: bytes) -> bytes:
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore").encode("utf-8")
    return head


# --------------------------------------------------------------------------- repair stream

_CHAR_REF = re.compile(r"&#(?:([0-9]{1,8})|[xX]([0-9a-fA-F]{1,6}));")
_REF_AT_END = re.compile(r"&#(?:([0-9]{1,8})|[xX]([0-9a-fA-F]{1,6}));\Z")
_RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _xml_allowed(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


class _RepairingStream:
    """A UTF-8 byte stream with the XML damage phones write repaired on the fly.

    Surrogate pairs written as two references become one reference; references to
    characters XML forbids, raw control characters and invalid UTF-8 become U+FFFD. Chunk
    boundaries are handled by holding back a possibly incomplete UTF-8 sequence and a
    possibly incomplete (or pair-starting) reference. Markup is untouched, so a DTD is
    still seen, and refused, by the parser.
    """

    CHUNK = 64 * 1024

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._bytes_carry = b""
        self._text_carry = ""
        self._done = False
        self.repairs = 0

    def read(self, size: int = -1) -> bytes:
        while not self._done:
            chunk = self._raw.read(self.CHUNK)
            final = not chunk
            out = self._process(chunk, final)
            if final:
                self._done = True
            if out:
                return out
        return b""

    def _process(self, chunk: bytes, final: bool) -> bytes:
        data = self._bytes_carry + chunk
        cut = len(data) if final else _utf8_safe_cut(data)
        self._bytes_carry = data[cut:]
        try:
            text = data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            text = data[:cut].decode("utf-8", errors="replace")
            self.repairs += 1
        text = self._text_carry + text
        keep = len(text) if final else _ref_safe_cut(text)
        self._text_carry = text[keep:]
        return self._repair(text[:keep]).encode("utf-8")

    def _repair(self, text: str) -> str:
        if "&#" in text:
            text = _CHAR_REF.sub(self._fix_ref, text)
            text = self._join_pairs(text)
        if _RAW_CONTROL.search(text):
            text, count = _RAW_CONTROL.subn("\ufffd", text)
            self.repairs += count
        return text

    def _fix_ref(self, match: re.Match[str]) -> str:
        code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
        if _xml_allowed(code):
            return match.group(0)
        if 0xD800 <= code <= 0xDFFF:
            return f"\x00S{code:04X}\x00"  # a marker, joined or replaced by _join_pairs
        self.repairs += 1
        return "&#65533;"

    def _join_pairs(self, text: str) -> str:
        def pair(match: re.Match[str]) -> str:
            high, low = int(match.group(1), 16), int(match.group(2), 16)
            return f"&#{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)};"

        if "\x00S" not in text:
            return text
        text = re.sub("\x00S(D[89AB][0-9A-F]{2})\x00\x00S(D[C-F][0-9A-F]{2})\x00", pair, text)
        text, lone = re.subn("\x00S[0-9A-F]{4}\x00", "&#65533;", text)
        self.repairs += lone
        return text


def _utf8_safe_cut(data: bytes) -> int:
    """Where to cut so that no UTF-8 sequence is split (at most 3 bytes held back)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if back < need else len(data)
    return len(data)


def _ref_safe_cut(text: str) -> int:
    """Where to cut so that no character reference, nor a surrogate pair of them, is split."""
    amp = text.rfind("&", max(0, len(text) - 24))
    cut = amp if amp >= 0 and ";" not in text[amp:] else len(text)
    before = _REF_AT_END.search(text, max(0, cut - 16), cut)
    if before:
        code = int(before.group(1)) if before.group(1) else int(before.group(2), 16)
        if 0xD800 <= code <= 0xDBFF:
            return before.start()
    return cut


def _open_repaired(path: Path) -> tuple[BinaryIO, _RepairingStream | None]:
    """The file, through the repair stream unless it is not UTF-8 (then as it is)."""
    handle = path.open("rb")
    head = handle.read(512)
    handle.seek(0)
    declared = _DECLARED.match(head.lstrip(b"\xef\xbb\xbf"))
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if utf16 or (declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii")):
        return handle, None
    return handle, _RepairingStream(handle)


# --------------------------------------------------------------------------- accumulation


@dataclass(eq=False)
class _Part:
    """One provisional (counterpart set, school year): messages as compact tuples."""

    messages: list[tuple[int, int, str | None, str | None, str, tuple[str, ...]]] = field(default_factory=list)
    written: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # norm -> (ms, order, as written)
    names: dict[str, str] = field(default_factory=dict)  # norm -> contact name
    statuses: Counter[str] = field(default_factory=Counter)
    media: list[tuple[int, int, str, bytes]] = field(default_factory=list)  # (ms, order, name, bytes)
    listed_without_data: int = 0


@dataclass
class _Backup:
    """Everything read from one backup, before owner numbers are known for certain."""

    timezone: str
    parts: dict[tuple[tuple[str, ...], str], _Part] = field(default_factory=dict)
    owners: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0
    messages: int = 0
    media_bytes: int = 0
    strings: dict[str, str] = field(default_factory=dict)

    def intern(self, value: str) -> str:
        """One string object per distinct address or name: 100,000 copies of a number are not kept."""
        return self.strings.setdefault(value, value)

    def skip(self, element: int, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= MAX_LISTED_PROBLEMS:
            self.problems.append(f"message at element {element} skipped: {reason}")


class _Skip(Exception):
    """One malformed element: reported and passed over, the rest of the backup is read."""


@dataclass(frozen=True)
class _Address:
    written: str
    norm: str


@functools.lru_cache(maxsize=4096)
def _address(raw: str | None) -> _Address | None:
    """A written address and its normalised form (cached: a backup repeats a few numbers)."""
    text = (raw or "").strip()
    if not text or text.lower() in ("null", _SELF_TOKEN):
        return None
    norm = normalize.email_address(text) if "@" in text else normalize.phone_number(text)
    return _Address(text, norm) if norm else None


def _counterparts(raw: str | None) -> list[_Address]:
    """``address`` attributes may hold several numbers joined with ``~`` (group threads)."""
    found: dict[str, _Address] = {}
    for piece in (raw or "").split("~"):
        address = _address(piece)
        if address and address.norm not in found:
            found[address.norm] = address
    return list(found.values())


def _names(contact_name: str | None, count: int) -> list[str | None]:
    """Contact names aligned with the counterparts when the app wrote one per number."""
    text = (contact_name or "").strip()
    if text.lower() in _UNKNOWN_NAMES:
        return [None] * count
    if count == 1:
        return [text]
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) == count:
        return [None if p.lower() in _UNKNOWN_NAMES else p for p in pieces]
    return [None] * count


def _epoch_ms(raw: str | None) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise _Skip("no readable date") from None
    if value <= 0:
        raise _Skip("no readable date")
    if value < 100_000_000_000:  # seconds, not milliseconds (some converters write seconds)
        value *= 1000
    if value > 32_503_680_000_000:  # after the year 3000: not a real date
        raise _Skip("no readable date")
    return value


def _number(raw: str | None, default: int) -> int:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return default


def _value(raw: str | None) -> str:
    return "" if raw is None or raw == "null" else raw


def _add(backup: _Backup, others: list[_Address], names: list[str | None], ms: int, order: int,
         box: int, sender: _Address | None, sender_name: str | None, text: str,
         attachments: tuple[str, ...], media: list[tuple[str, bytes]], without_data: int) -> None:
    year = normalize.school_year(normalize.from_epoch_ms(ms), backup.timezone)
    key = (tuple(sorted(backup.intern(a.norm) for a in others)), year)
    part = backup.parts.get(key)
    if part is None:
        part = backup.parts[key] = _Part()
    for address, name in zip(others, names):
        seen = part.written.get(address.norm)
        if seen is None or (ms, order) < seen[:2]:
            part.written[address.norm] = (ms, order, backup.intern(address.written))
        if name and address.norm not in part.names:
            part.names[address.norm] = backup.intern(name)
    if box != _RECEIVED:
        part.statuses[_STATUS.get(box, "sent")] += 1
        sender_norm, sender_name = None, OWNER_NAME
    else:
        sender_norm = backup.intern(sender.norm) if sender else None
        sender_name = backup.intern(sender_name) if sender_name else None
    part.messages.append((ms, order, sender_norm, sender_name, text, attachments))
    part.media.extend((ms, order, name, data) for name, data in media)
    part.listed_without_data += without_data
    backup.messages += 1


def _read_sms(backup: _Backup, element: object, order: int) -> None:
    attrs = element.attrib  # type: ignore[attr-defined]
    ms = _epoch_ms(attrs.get("date"))
    others = _counterparts(attrs.get("address"))
    if not others:
        raise _Skip("no usable address")
    names = _names(attrs.get("contact_name"), len(others))
    box = _number(attrs.get("type"), _RECEIVED)
    sender, sender_name = (others[0], names[0]) if len(others) == 1 else (None, None)
    _add(backup, others, names, ms, order, box, sender, sender_name, _value(attrs.get("body")), (), [], 0)


def _read_mms(backup: _Backup, element: object, order: int) -> None:
    attrs = element.attrib  # type: ignore[attr-defined]
    ms = _epoch_ms(attrs.get("date"))
    box = _number(attrs.get("msg_box"), 0)
    if box == 0:  # no box: m_type 128 is a sent request, anything else was received
        box = 2 if _number(attrs.get("m_type"), 132) == 128 else _RECEIVED
    listed: list[tuple[_Address, int]] = []
    sender: _Address | None = None
    for addr in element.iter("addr"):  # type: ignore[attr-defined]
        kind = _number(addr.get("type"), 0)
        raw = (addr.get("address") or "").strip()
        if kind == _MMS_FROM and box != _RECEIVED:
            owner = _address(raw)
            if owner:
                backup.owners[owner.norm] += 1
            continue
        address = _address(raw)
        if address is None:
            continue
        if kind == _MMS_FROM:
            sender = address
        listed.append((address, kind))
    others = _counterparts(attrs.get("address"))
    if others:  # the app's own list of the other side: one more number listed is the owner's
        mine = {a.norm for a in others}
        extra = {a.norm for a, _kind in listed if a.norm not in mine}
        if len(extra) == 1:
            backup.owners[extra.pop()] += 1
    else:
        others = list({a.norm: a for a, _kind in listed}.values())
    if not others:
        raise _Skip("no usable address")
    names = _names(attrs.get("contact_name"), len(others))
    sender_name = None
    if box == _RECEIVED:
        if sender is None and len(others) == 1:
            sender = others[0]
        if sender is not None:
            sender_name = next((n for a, n in zip(others, names) if a.norm == sender.norm), None)
    texts, attachments, media, without_data = _mms_parts(backup, element, order)
    subject = _value(attrs.get("sub")).strip()
    text = "\n".join(([subject] if subject else []) + texts)
    _add(backup, others, names, ms, order, box, sender, sender_name, text, attachments, media, without_data)


def _mms_parts(backup: _Backup, element: object, order: int) -> tuple[list[str], tuple[str, ...], list[tuple[str, bytes]], int]:
    """Text parts become the message text; other parts (images, PDFs, video) are media."""
    texts: list[str] = []
    names: list[str] = []
    media: list[tuple[str, bytes]] = []
    without_data = 0
    for seq, part in enumerate(element.iter("part"), start=1):  # type: ignore[attr-defined]
        ctype = (part.get("ct") or "").strip().lower()
        if ctype == "application/smil":
            continue
        data = _value(part.get("data"))
        if ctype == "text/plain":
            text = _value(part.get("text"))
            if not text and data:
                try:
                    text = base64.b64decode(data).decode("utf-8", errors="replace")
                except (binascii.Error, ValueError):
                    text = ""
            if text:
                texts.append(text)
            continue
        name = _part_name(part, ctype, order, seq)
        names.append(name)
        inline = _value(part.get("text"))
        if data:
            try:
                payload = base64.b64decode("".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                backup.problems.append(f"attachment {name!r} at element {order} could not be decoded (bad base64); the message was kept")
                continue
        elif inline and ctype.startswith("text/"):  # a vCard or calendar part written as text
            payload = inline.encode("utf-8")
        else:
            without_data += 1
            continue
        if backup.media_bytes + len(payload) > MAX_MEDIA_BYTES:
            backup.problems.append(f"attachment {name!r} at element {order} not kept: the backup's media passed {MAX_MEDIA_BYTES // 1024**2} MB; split the backup")
            continue
        backup.media_bytes += len(payload)
        media.append((name, payload))
    return texts, tuple(names), media, without_data


def _part_name(part: object, ctype: str, order: int, seq: int) -> str:
    for attribute in ("name", "cl", "fn"):
        raw = _value(part.get(attribute)).strip()  # type: ignore[attr-defined]
        if raw:
            return re.sub(r"[/\\\x00-\x1f]", "_", raw)[:200]
    extension = mimetypes.guess_extension(ctype) or ".bin"
    return f"part-{order}-{seq}{extension}"


# --------------------------------------------------------------------------- the read


def read_backup(path: Path, options: ReadOptions | None = None, *, timezone: str | None = None) -> Extraction:
    """Read one backup into ``sms-thread`` items (one per counterpart and school year).

    The whole file is parsed here (a conversation's messages are spread over all of it),
    so unsafe or unreadable XML is refused before anything is returned; the items are then
    built lazily, one part at a time, as ``Extraction.items`` is consumed (the reader
    ``streams``), and each part's tuples are dropped once its item is made.

    ``timezone`` cuts school years (July 1 to June 30 local time): the argument, else
    ``options.timezone`` once ``ReadOptions`` has it, else ``DEFAULT_TIMEZONE``.
    """
    options = options or ReadOptions()
    backup = _Backup(timezone=timezone or getattr(options, "timezone", None) or DEFAULT_TIMEZONE)
    raw, repaired = _open_repaired(path)
    try:
        cut_off = _parse(repaired or raw, backup, options)
    finally:
        raw.close()
    if backup.skipped > MAX_LISTED_PROBLEMS:
        backup.problems.append(f"{backup.skipped - MAX_LISTED_PROBLEMS} more messages skipped for the same kinds of reasons")
    if cut_off:
        backup.problems.append(cut_off)
    if not backup.parts:
        if cut_off is not None:
            raise Quarantine("damaged", f"SMS backup damaged: {cut_off}; nothing could be read: export it again")
        if backup.skipped:
            raise Quarantine("damaged", f"SMS backup damaged: none of its {backup.skipped} messages could be read ({backup.problems[0]}); export it again")
        raise Quarantine("empty", "SMS backup holds no messages")
    plan = _plan_items(backup)
    repairs = repaired.repairs if repaired else 0
    detected = f"SMS Backup & Restore XML, {backup.messages} messages in {len(plan)} conversation parts"
    if repairs:
        detected += f"; {repairs} invalid characters repaired"
    return Extraction(reader=SmsBackupReader.name, detected=detected, items=_items(plan, backup), problems=backup.problems)  # type: ignore[arg-type]


def _parse(stream: object, backup: _Backup, options: ReadOptions) -> str | None:
    """Stream the elements into ``backup``; a reason when the XML stops early, else None."""
    deadline = time.monotonic() + max(0, options.file_timeout_seconds)
    depth = 0
    root = None
    element_number = 0
    try:
        events: Iterator[tuple[str, object]] = iterparse(stream, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True)
        for event, element in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                    if element.tag != "smses":  # type: ignore[attr-defined]
                        raise Quarantine("unsupported", f"not an SMS Backup & Restore file (root element <{element.tag}>, not <smses>); back up messages, not calls")  # type: ignore[attr-defined]
                continue
            depth -= 1
            if depth != 1:
                continue
            element_number += 1
            tag = element.tag  # type: ignore[attr-defined]
            try:
                if tag == "sms":
                    _read_sms(backup, element, element_number)
                elif tag == "mms":
                    _read_mms(backup, element, element_number)
            except _Skip as skip:
                backup.skip(element_number, str(skip))
            element.clear()  # type: ignore[attr-defined]
            root.clear()  # type: ignore[union-attr]
            if element_number % CHECK_EVERY == 0 and time.monotonic() > deadline:
                return f"stopped after {backup.messages} messages: the file took longer than the time limit of {options.file_timeout_seconds} seconds"
    except defusedxml.DefusedXmlException:
        raise Quarantine("unsafe", UNSAFE_REASON) from None
    except (LookupError, ValueError) as error:
        # The XML declaration names an encoding Python does not know (LookupError) or one
        # the XML parser cannot read ("multi-byte encodings are not supported": UTF-7,
        # Shift JIS); any other ValueError is not the file's fault.
        if isinstance(error, ValueError) and "encoding" not in str(error):
            raise
        raise Quarantine("damaged", f"SMS backup damaged: {_short(error)} (its XML declaration); export it again in UTF-8") from None
    except ParseError as error:
        if root is None:
            raise Quarantine("damaged", f"SMS backup damaged: not readable XML ({_short(error)}); export it again") from None
        if getattr(error, "code", None) in _CUT_OFF_CODES:
            return f"the backup ends early (XML cut off after {backup.messages} messages)"
        return f"the backup is damaged after {backup.messages} messages ({_short(error)}); the rest was not read"
    return None


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:160]


# --------------------------------------------------------------------------- items


_Plan = list[tuple[tuple[str, ...], str, list[_Part]]]


def _plan_items(backup: _Backup) -> _Plan:
    """Merge provisional parts once owner numbers are known; order them by first message."""
    owners = set(backup.owners)
    merged: dict[tuple[tuple[str, ...], str], list[_Part]] = {}
    while backup.parts:
        (norms, year), part = backup.parts.popitem()
        final = tuple(n for n in norms if n not in owners) or norms
        merged.setdefault((final, year), []).append(part)
    plan = [(norms, year, parts) for (norms, year), parts in merged.items()]
    plan.sort(key=lambda p: (min(min(m[:2] for m in part.messages) for part in p[2]), p[0]))
    return plan


def _items(plan: _Plan, backup: _Backup) -> Iterator[Item]:
    """One item per planned part, built when asked for; a built part's tuples are dropped."""
    owner = Participant(None, backup.owners.most_common(1)[0][0]) if backup.owners else None
    plan.reverse()
    while plan:
        norms, year, parts = plan.pop()
        yield _item(norms, year, parts, owner)


def _item(norms: tuple[str, ...], year: str, parts: list[_Part], owner: Participant | None) -> Item:
    written: dict[str, tuple[int, int, str]] = {}
    names: dict[str, str] = {}
    statuses: Counter[str] = Counter()
    rows: list[tuple[int, int, str | None, str | None, str, tuple[str, ...]]] = []
    media: list[tuple[int, int, str, bytes]] = []
    without_data = 0
    for part in parts:
        for norm, seen in part.written.items():
            if norm in norms and (norm not in written or seen[:2] < written[norm][:2]):
                written[norm] = seen
        for norm, name in part.names.items():
            names.setdefault(norm, name)
        statuses.update(part.statuses)
        rows.extend(part.messages)
        media.extend(part.media)
        without_data += part.listed_without_data
        part.messages, part.media = [], []
    rows.sort(key=lambda r: (r[0], r[1]))
    counterpart = "~".join(written[n][2] for n in norms)
    locator = f"{counterpart}#{year}"
    joined = "~".join(norms)
    if len(joined) > MAX_KEY_CHARS:
        joined = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
    dedupe_key = f"sms:{joined}#{year}"

    messages = [
        Message(name, address, normalize.from_epoch_ms(ms), text, None, attachments)
        for ms, _order, address, name, text, attachments in rows
    ]
    del rows
    participants = [Participant(names.get(n), n) for n in norms]
    if owner is not None and owner.address not in norms:
        participants.append(owner)
    evidence = _status_evidence(statuses, without_data)
    item = Item(
        format="sms-thread",
        locator=locator,
        text=normalize.transcript([(m.sent_at, m.sender_name or m.sender_address, m.text) for m in messages]),
        participants=participants,
        sent_at_first=messages[0].sent_at if messages else None,
        sent_at_last=messages[-1].sent_at if messages else None,
        evidence=evidence,
        content=_content("sms-thread", counterpart, year, messages),
        messages=messages,
        dedupe_key=dedupe_key,
        owner=owner,
    )
    item.children = _attachments(locator, dedupe_key, media)
    return item


def _status_evidence(statuses: Counter[str], without_data: int) -> list[Evidence]:
    """Undelivered states and media the backup left out, counted (never the content)."""
    evidence = []
    undelivered = [f"{statuses[s]} {s}" for s in ("draft", "outbox", "failed", "queued") if statuses[s]]
    if undelivered:
        evidence.append(Evidence("message_status", f"kept, not delivered: {', '.join(undelivered)}", 1.0))
    if without_data:
        evidence.append(Evidence("media_missing", f"{without_data} MMS attachments listed without their data (backup made without media)", 1.0))
    return evidence


def _attachments(locator: str, dedupe_key: str, media: list[tuple[int, int, str, bytes]]) -> list[Item]:
    """MMS media as child items; a name used twice in one part gets `` (2)``, in time order."""
    children = []
    used: Counter[str] = Counter()
    for ms, _order, name, data in sorted(media, key=lambda m: (m[0], m[1])):
        used[name] += 1
        if used[name] > 1:
            stem, dot, suffix = name.rpartition(".")
            name = f"{stem} ({used[name]}).{suffix}" if dot and stem else f"{name} ({used[name]})"
        when = normalize.from_epoch_ms(ms)
        children.append(
            Item(
                format="attachment",
                locator=f"{locator}/{name}",
                text="",
                sent_at_first=when,
                sent_at_last=when,
                content=data,
                name=name,
                dedupe_key=f"{dedupe_key}/{name}",
            )
        )
    return children


def _content(format_name: str, counterpart: str, year: str, messages: list[Message]) -> bytes:
    """The part's JSON, written message by message (no list of dicts for the whole part)."""
    out = io.StringIO()
    head = {"format": format_name, "counterpart": counterpart, "school_year": year}
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(', "messages": [')
    for index, message in enumerate(messages):
        if index:
            out.write(", ")
        out.write(json.dumps(message.to_json(), ensure_ascii=False))
    out.write("]}")
    return out.getvalue().encode("utf-8")


register(SmsBackupReader())
