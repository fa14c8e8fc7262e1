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


@dataclass
class Item:
    """One record unit cut from a source (design.md, "Record units")."""

    format: str  # printout-scan | printout-pdf | email | ... (cli.md)
    locator: str | None
    text: str
    pages: list[Page] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    sent_at_first: dt.datetime | None = None  # UTC
    sent_at_last: dt.datetime | None = None  # UTC
    evidence: list[Evidence] = field(default_factory=list)
    content: Path | None = None  # the bytes to keep for this record (None: the source's own)
    children: list[Item] = field(default_factory=list)  # attachments, media
    name: str | None = None  # an attachment's file name


@dataclass
class Extraction:
    """What one reader made of one file.

    ``problems`` lists parts that could not be read while the rest was kept: a non-empty
    list makes the source ``partial`` with these reasons.
    """

    reader: str
    detected: str  # a human name of the type: "PDF (born-digital)", "TIFF image, 3 pages"
    items: list[Item]
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
    max_ocr_pages: int = 0  # pages OCR'd per file at most; 0: no limit (the rest are reported)
