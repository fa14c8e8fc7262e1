"""The plain data that crosses from ``intake/`` to the rest: what a reader found in a file.

Readers never touch the catalog or the store: they turn a file into ``Extraction``s made
of ``Item``s (one record unit each) or raise ``Quarantine`` with a reason a clerk can act
on. The flow stores the items; classification and retention read them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Quarantine(Exception):
    """The whole file cannot be used. ``reason`` is written for a records clerk.

    ``kind`` is a short machine word (``encrypted``, ``unsupported``, ``damaged``,
    ``too_large``, ``timeout``, ``empty``) so the clerk's list can be grouped and a retry
    knows what it may change (a password helps only ``encrypted``).
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Outcomes cross process boundaries (the extraction pool): keep both fields.
        return (type(self), (self.kind, self.reason))


@dataclass(frozen=True)
class Page:
    """One page of a printout: its text, and how the text was obtained."""

    number: int
    text: str
    ocr: bool
    confidence: float | None = None  # OCR mean word confidence, 0 to 1; None for a text layer
    rotation: int = 0  # degrees the page was turned before OCR
    skew: float = 0.0  # degrees of skew corrected before OCR


@dataclass(frozen=True)
class Participant:
    """Someone in a conversation, as the source names them plus a normalised address."""

    name: str | None
    address: str | None
    role: str = "unknown"  # staff | student | guardian | unknown (classification fills it)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "role": self.role}


@dataclass(frozen=True)
class Evidence:
    """Why the engine believes something: a kind, a short detail, a weight (0 to 1).

    ``detail`` names fields, rules and positions, never record content, because evidence
    is copied into audit payloads that outlive the record.
    """

    kind: str
    detail: str
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "weight": self.weight}


@dataclass(frozen=True)
class Message:
    """One message of a conversation, in the order of the conversation.

    ``message_id`` is the platform's own id when it has one (Facebook has none: then
    ``None``, and duplicates are recognised by sender, time and text).
    """

    sender_name: str | None
    sender_address: str | None
    sent_at: dt.datetime | None  # UTC
    text: str
    message_id: str | None = None
    attachments: tuple[str, ...] = ()  # file names or URIs, as the export names them

    def dedupe_key(self) -> str:
        if self.message_id:
            return f"id:{self.message_id}"
        stamp = self.sent_at.isoformat() if self.sent_at else ""
        return f"m:{self.sender_address or self.sender_name or ''}|{stamp}|{self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "sender_name": self.sender_name,
            "sender_address": self.sender_address,
            "sent_at": self.sent_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if self.sent_at else None,
            "text": self.text,
            "message_id": self.message_id,
            "attachments": list(self.attachments),
        }


@dataclass
class Item:
    """One record unit cut from a source (design.md, "Record units").

    ``dedupe_key`` says when two items are the same record (an email's Message-ID, a
    chat thread part's platform and locator): the same key seen again, in another file or
    another export, adds a source to the record (and new messages to a thread part)
    instead of making a second record.
    """

    format: str  # printout-scan | printout-pdf | email | ... (cli.md)
    locator: str | None
    text: str
    pages: list[Page] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    sent_at_first: dt.datetime | None = None  # UTC
    sent_at_last: dt.datetime | None = None  # UTC
    evidence: list[Evidence] = field(default_factory=list)
    content: Path | bytes | None = None  # the bytes to keep for this record (None: the source's own)
    children: list[Item] = field(default_factory=list)  # attachments, media
    name: str | None = None  # an attachment's file name
    messages: list[Message] = field(default_factory=list)  # a conversation, in order
    dedupe_key: str | None = None
    owner: Participant | None = None  # the export's own account, when the export says
    forwarded_from: dict[str, Any] | None = None  # a forward's quoted original: sender, date, subject hash


@dataclass
class PartOutcome:
    """What became of one unit (an mbox's message) of a file read in parts: its item, or
    None when the unit could not be read, and the problems met, in order."""

    number: int  # 1-based, in file order
    item: Item | None
    problems: list[str]


@dataclass
class Extraction:
    """What one reader made of one file.

    ``problems`` lists parts that could not be read while the rest was kept: a non-empty
    list makes the source ``partial`` with these reasons.
    """

    reader: str
    detected: str  # a human name of the type: "PDF (born-digital)", "TIFF image, 3 pages"
    items: list[Item]  # an iterator for a streaming reader (see Reader.streams)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may use beyond the file itself, and the limits hostile input meets."""

    password: str | None = None
    file_modified: dt.datetime | None = None  # fallback date when the content has none
    max_pages: int = 500
    max_pixels: int = 120_000_000  # per page image
    max_bytes: int = 2 * 1024**3
    ocr_timeout_seconds: int = 180  # per page
    file_timeout_seconds: int = 1800
    ocr_workers: int = 0  # 0: one per core
    min_text_chars: int = 40  # a PDF page with less text than this is OCR'd
    timezone: str = "America/New_York"  # the district's: dates and school years
    attachment_depth: int = 0  # how deep inside other files this one was found
    scratch: Path | None = None  # a private folder for temporary files (attachments being read)
    companions: tuple[Path, ...] = ()  # other zips of the same export, given in the same call
    max_ocr_pages: int = 0  # pages OCR'd per file at most; 0: no limit (the rest are reported)
