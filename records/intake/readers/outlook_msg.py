"""Outlook ``.msg`` files (OLE2 compound files) read with extract-msg: one record per file.

A ``.msg`` is an email like any other (design.md, "Record units"), so the ``Item`` is
spelled exactly as the email reader spells one: ``locator`` is the Message-ID (from the
saved transport headers or the PR_INTERNET_MESSAGE_ID property) else ``sha256:HEX`` of the
file, ``dedupe_key`` is ``email:`` + locator, so the same message saved as ``.msg`` and
found in an mbox is one record.

Outlook differs from RFC 5322 in three ways handled here:

* Sent items often carry no transport headers: people and dates come from MAPI properties.
* Exchange senders may have only an X.500 address (``/O=EXCHANGELABS/OU=...``); the SMTP
  properties are tried for a real address, and the X.500 string is kept as the name when
  nothing better names the person (it still identifies the mailbox to a clerk).
* A missing or strange ``Date`` falls back to the client submit time, then the delivery
  time, then the newest ``Received`` header, then the creation time (unsent drafts), each
  with ``date_fallback`` evidence saying which.

extract-msg holds the file open: every object is closed. Plain functions over plain data.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.parser import BytesParser
from typing import Any

import olefile

from records.intake.model import Evidence, Extraction, Item, Participant, Quarantine, ReadOptions
from records.intake.normalize import email_address
from records.intake.origin import origin_key, subject_sha256
from records.intake.readers.email_message import (
    DEFAULT_ZONE,
    MAX_ATTACHMENTS,
    POLICY,
    Headers,
    Original,
    addresses,
    clean_text,
    decode_bytes,
    find_forward,
    html_to_text,
    merge_participants,
    message_id_locator,
    parse_date,
    plausible,
    safe_name,
)
from records.intake.registry import Reader, Sniff, register

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_MSG_BYTES = 512 * 1024**2

# Property tags (MS-OXPROPS), as extract-msg names streams and properties.
SENDER_NAME = ("__substg1.0_0C1A", "__substg1.0_0042")  # PR_SENDER_NAME, PR_SENT_REPRESENTING_NAME
SENDER_ADDRESS = ("__substg1.0_0C1F", "__substg1.0_0065")  # PR_SENDER_EMAIL_ADDRESS, ..._REPRESENTING_...
SENDER_SMTP = ("__substg1.0_5D01", "__substg1.0_5D02", "__substg1.0_39FE")  # PR_SENDER_SMTP_ADDRESS, ...
INTERNET_MESSAGE_ID = "__substg1.0_1035"
DATE_PROPERTIES = (
    ("00390040", "client submit time", 0.8),  # PR_CLIENT_SUBMIT_TIME
    ("0E060040", "delivery time", 0.7),  # PR_MESSAGE_DELIVERY_TIME
)
CREATION_TIME = ("30070040", "creation time", 0.3)  # PR_CREATION_TIME: drafts never sent

log = logging.getLogger(__name__)


class OutlookMsgReader(Reader):
    """Reads one Outlook message (``.msg``) into one ``Item`` of format ``msg``."""

    name = "msg"

    def score(self, sniff: Sniff) -> float:
        try:
            if not sniff.head.startswith(OLE_MAGIC):
                return 0.0
            if sniff.mime == "application/vnd.ms-outlook":
                return 0.95
            return 0.9 if _has_message_streams(sniff) else 0.0
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        limit = min(MAX_MSG_BYTES, options.max_bytes)
        if sniff.size > limit:
            raise Quarantine(
                "too_large", f"Outlook message is {sniff.size / 1024**2:.0f} MB, more than the limit of {limit / 1024**2:.0f} MB"
            )
        raw = sniff.path.read_bytes()
        message = _open(sniff)
        problems: list[str] = []
        try:
            item = _item(message, raw, problems)
        finally:
            _close(message)
        detected = "Outlook message (.msg)"
        if item.children:
            detected += f", {len(item.children)} attachment{'s' if len(item.children) != 1 else ''}"
        return Extraction(reader=self.name, detected=detected, items=[item], problems=problems)


def _has_message_streams(sniff: Sniff) -> bool:
    """An OLE2 file (Word .doc is one too) holding the streams of an Outlook item."""
    ole = olefile.OleFileIO(str(sniff.path))
    try:
        return ole.exists("__properties_version1.0") and any(
            entry and entry[0].startswith("__substg1.0_") for entry in ole.listdir(streams=True, storages=False)
        )
    finally:
        ole.close()


def _open(sniff: Sniff) -> Any:
    """extract-msg's message object, or ``Quarantine`` saying why the file cannot be one."""
    import extract_msg
    from extract_msg.msg_classes import MessageBase

    try:
        message = extract_msg.openMsg(str(sniff.path), strict=False, delayAttachments=True)
    except Exception as exc:  # noqa: BLE001 - extract-msg raises many kinds on damaged files
        raise Quarantine("damaged", f"Outlook message damaged: {_why(exc)}; ask for a new copy") from None
    if not isinstance(message, MessageBase):
        kind = getattr(message, "classType", None) or "unknown"
        _close(message)
        raise Quarantine(
            "unsupported",
            f"Outlook item of class {str(kind)[:60]} is not a message (a contact, task or note): export the conversation itself",
        )
    return message


def _why(exc: BaseException) -> str:
    """An exception as a short reason, without file paths."""
    text = str(exc).split("\n")[0][:120]
    return f"{type(exc).__name__}: {text}" if text and "/" not in text else type(exc).__name__


def _close(message: Any) -> None:
    try:
        message.close()
    except Exception:  # noqa: BLE001 - closing must not mask the result
        log.debug("extract-msg close failed", exc_info=True)


def _safe(call: Any, default: Any = None) -> Any:
    """A property read that may raise on a damaged stream: the default instead."""
    try:
        return call()
    except Exception:  # noqa: BLE001
        return default


def _headers(message: Any) -> Headers | None:
    text = _safe(lambda: message.headerText)
    if not text:
        return None
    if text.startswith("Microsoft Mail Internet Headers Version 2.0"):
        text = text[43:].lstrip()
    parsed = BytesParser(policy=POLICY).parsebytes(text.encode("utf-8", "surrogateescape") + b"\n\n", headersonly=True)
    return Headers(parsed)


def _item(message: Any, raw: bytes, problems: list[str]) -> Item:
    headers = _headers(message)
    message_id = (headers.first("message-id") if headers else None) or _safe(lambda: message.getStringStream(INTERNET_MESSAGE_ID))
    locator = message_id_locator(message_id, raw)
    evidence: list[Evidence] = []
    if locator.startswith("sha256:"):
        evidence.append(Evidence("locator", "no Message-ID; sha256 of the file used", 0.5))
    sent_at, local = _date(message, headers, evidence)
    participants = _people(message, headers)
    subject = _safe(lambda: message.subject) or (headers.text("subject") if headers else None)
    body = _body(message)
    children, originals = _attachments(message, locator, problems)
    first = sent_at
    forwarded_from = None
    original = find_forward(subject, body, originals, local, sent_at)
    if original is not None:
        participants = merge_participants(participants, original.participants())
        if original.sender is not None or original.sent_at is not None:
            forwarded_from = original.link(subject)
        evidence.append(original.evidence)
        if original.sent_at is not None:
            first = min(original.sent_at, sent_at) if sent_at else original.sent_at
    if forwarded_from is None:
        _add_origin(evidence, message, headers, participants, sent_at, subject)
    if not participants and not body.strip() and not children and not subject:
        raise Quarantine("damaged", "Outlook message damaged: no sender, recipient, subject or body could be read; ask for a new copy")
    return Item(
        format="msg",
        locator=locator,
        text=_text(participants, message, headers, subject, sent_at, body),
        participants=participants,
        sent_at_first=first,
        sent_at_last=sent_at,
        evidence=evidence,
        content=raw,
        children=children,
        dedupe_key=f"email:{locator}",
        forwarded_from=forwarded_from,
    )


def _add_origin(
    evidence: list[Evidence], message: Any, headers: Headers | None, people: list[Participant], sent_at: dt.datetime | None, subject: str | None
) -> None:
    """The key a forward of this message would be linked by (the pipeline's origin stage
    computes it from RFC 5322 headers, which a ``.msg`` does not have)."""
    sender = _sender(message)
    address = (sender.address if sender else None) or next((p.address for p in people if p.address), None)
    if headers:
        found = addresses(headers.all("from"))
        address = next((a for _, a in found if a), address)
    key = origin_key(address, sent_at, subject_sha256(subject)) if subject else None
    if key:
        evidence.append(Evidence("origin", key, 0.0))


def _date(message: Any, headers: Headers | None, evidence: list[Evidence] | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(UTC sent time, the same in the sender's zone when the headers say it)."""
    value = headers.first("date") if headers else None
    local = parse_date(value)
    if plausible(local):
        assert local is not None
        return local.astimezone(dt.UTC), local
    why = "no Date header" if value is None else "Date header unreadable"
    candidates: list[tuple[dt.datetime | None, str, float]] = []
    for tag, label, weight in DATE_PROPERTIES:
        candidates.append((_as_utc(_safe(lambda tag=tag: message.getPropertyVal(tag))), label, weight))
    if headers:
        received = [parse_date(v.rsplit(";", 1)[1]) for v in headers.all("received") if ";" in v]
        good = [w.astimezone(dt.UTC) for w in received if plausible(w)]
        candidates.append((max(good) if good else None, "newest Received time", 0.6))
    tag, label, weight = CREATION_TIME
    candidates.append((_as_utc(_safe(lambda: message.getPropertyVal(tag))), label, weight))
    for when, label, weight in candidates:
        if plausible(when):
            if evidence is not None:
                evidence.append(Evidence("date_fallback", f"{why}; {label} used", weight))
            return when, None
    if evidence is not None:
        evidence.append(Evidence("date_missing", "no readable date header or date property", 0.0))
    return None, None


def _as_utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _sender(message: Any) -> Participant | None:
    """The sender from MAPI properties: display name, SMTP address, X.500 kept as a name."""
    name = next((v for s in SENDER_NAME if (v := _safe(lambda s=s: message.getStringStream(s)))), None)
    native = next((v for s in SENDER_ADDRESS if (v := _safe(lambda s=s: message.getStringStream(s)))), None)
    smtp = next((v for s in SENDER_SMTP if (v := _safe(lambda s=s: message.getStringStream(s)))), None)
    address = email_address(smtp) or email_address(native)
    if not name and native and _is_x500(native):
        name = native
    return _person(name, address)


def _person(name: str | None, address: str | None) -> Participant | None:
    name = clean_text(name).strip().strip("'\"").strip() if name else None
    if name and address and name.lower() == address:
        name = None  # Outlook repeats the address as the display name: nothing was written
    if not name and not address:
        return None
    return Participant(name or None, address)


def _is_x500(value: str) -> bool:
    return value.strip().upper().startswith("/O=")


def _people(message: Any, headers: Headers | None) -> list[Participant]:
    """Header people first (as written), then MAPI sender and recipients to fill gaps."""
    people: list[Participant] = []
    if headers:
        for name in ("from", "sender", "to", "cc", "bcc", "reply-to"):
            people = merge_participants(people, [Participant(n, a) for n, a in addresses(headers.all(name))])
    sender = _sender(message)
    if sender:
        people = _merge_sender(people, sender) if headers else merge_participants([sender], people)
    for recipient in _safe(lambda: message.recipients, []) or []:
        person = _recipient(recipient)
        if person:
            people = merge_participants(people, [person])
    return people


def _merge_sender(people: list[Participant], sender: Participant) -> list[Participant]:
    # The From header already named the sender when an address matches: don't add twice.
    if sender.address and any(p.address == sender.address for p in people):
        return people
    if not sender.address and sender.name and any(p.name == sender.name for p in people):
        return people
    return merge_participants(people, [sender])


def _recipient(recipient: Any) -> Participant | None:
    name = _safe(lambda: recipient.name)
    native = _safe(lambda: recipient.email)
    smtp = _safe(lambda: recipient.smtpAddress)
    address = email_address(smtp) or email_address(native)
    if not name and native and _is_x500(native):
        name = native
    return _person(name, address)


def _body(message: Any) -> str:
    """The plain body, else the HTML body (Outlook's RTF is turned into HTML by extract-msg)."""
    text = _safe(lambda: message.body)
    if isinstance(text, bytes):
        text = decode_bytes(text, None)
    if isinstance(text, str) and text.strip():
        return clean_text(text.replace("\r\n", "\n"))
    html = _safe(lambda: message.htmlBody)
    if isinstance(html, bytes) and html.strip():
        return html_to_text(decode_bytes(html, None))
    return ""


def _attachments(message: Any, locator: str, problems: list[str]) -> tuple[list[Item], list[Original]]:
    """Every attachment as a child with its bytes; embedded messages also as forward originals."""
    from extract_msg.enums import AttachmentType

    try:
        attachments = list(message.attachments)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"attachments could not be read: {_why(exc)}")
        return [], []
    children: list[Item] = []
    originals: list[Original] = []
    taken: set[str] = set()
    for number, attachment in enumerate(attachments, 1):
        if len(children) >= MAX_ATTACHMENTS:
            problems.append(f"{len(attachments) - MAX_ATTACHMENTS} attachment(s) beyond the first {MAX_ATTACHMENTS} were skipped")
            break
        kind = _safe(lambda a=attachment: a.type)
        data = _safe(lambda a=attachment: a.data)
        if kind == AttachmentType.WEB:
            continue  # a link to a cloud file: no bytes to keep
        if kind in (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED) or (data is not None and hasattr(data, "exportBytes")):
            originals.append(_original(data))
            data = _safe(lambda d=data: d.exportBytes())
            default = f"attachment-{number}.msg"
        else:
            default = f"attachment-{number}.bin"
        if not isinstance(data, bytes):
            problems.append(f"attachment {number} could not be read ({getattr(kind, 'name', 'unknown type')})")
            continue
        name = _unique(_attachment_name(attachment) or default, taken)
        children.append(Item(format="attachment", locator=f"{locator}/{name}", name=name, text="", content=data))
    return children, originals


def _attachment_name(attachment: Any) -> str | None:
    for getter in (lambda: attachment.longFilename, lambda: attachment.shortFilename, lambda: attachment.name, attachment.getFilename):
        value = _safe(getter)
        if isinstance(value, str) and value.strip():
            return safe_name(value)
    return None


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        n += 1
    taken.add(candidate)
    return candidate


def _original(embedded: Any) -> Original:
    """An embedded message as the original a forward carries."""
    headers = _safe(lambda: _headers(embedded))
    people = _safe(lambda: _people(embedded, headers), []) or []
    sender = _safe(lambda: _sender(embedded)) or (people[0] if people else None)
    when, _ = _safe(lambda: _date(embedded, headers, None), (None, None))
    subject = _safe(lambda: embedded.subject)
    recipients = [p for p in people if sender is None or p != sender]
    return Original(sender, recipients, when, subject, Evidence("forward", "attached original message (embedded .msg)", 0.9))


def _text(participants: list[Participant], message: Any, headers: Headers | None, subject: str | None, sent_at: dt.datetime | None, body: str) -> str:
    """The same short header block as an email's text, then the body."""
    lines = []
    sender = (headers.text("from") if headers else None) or _safe(lambda: message.sender)
    for label, value in (
        ("From", sender),
        ("To", (headers.text("to") if headers else None) or _safe(lambda: message.to)),
        ("Cc", (headers.text("cc") if headers else None) or _safe(lambda: message.cc)),
        ("Date", (headers.text("date") if headers else None) or (sent_at.astimezone(DEFAULT_ZONE).strftime("%a, %d %b %Y %H:%M:%S %z") if sent_at else None)),
        ("Subject", subject),
    ):
        if value:
            lines.append(f"{label}: {' '.join(str(value).split())}")
    return "\n".join(lines) + "\n\n" + body.strip("\n") if lines else body


register(OutlookMsgReader())
