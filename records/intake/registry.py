"""Readers as a registry (paperless-ngx's parsers): each says how sure it is for a file.

A reader is a small class with one job. ``score`` looks only at the ``Sniff`` (libmagic's
answer and the first bytes), never at the file name; the highest score above zero wins.
Adding a format is adding a module that calls ``register``: the built-in readers register
exactly as a district's own would.
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from records.intake.model import Extraction, Quarantine, ReadOptions

HEAD_BYTES = 65536


@dataclass(frozen=True)
class Sniff:
    """What detection knows about a file before any reader opens it."""

    path: Path
    size: int
    mime: str  # libmagic's MIME type
    # libmagic's words, for messages. None until asked for (``describe``): only a refusal
    # needs them, and libmagic takes twice as long for them as for the MIME type (it
    # counts a PDF's pages), which was a tenth of reading a born-digital PDF.
    description: str | None
    head: bytes  # the first HEAD_BYTES bytes
    zip_members: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """libmagic's description of the file (computed from ``head`` on first use)."""
        if self.description is None:
            import magic

            object.__setattr__(self, "description", magic.from_buffer(self.head) if self.head else "empty")
        return self.description  # type: ignore[return-value]


class Reader:
    """Base class of every reader. The contract:

    - ``score(sniff)`` returns 0 when the reader cannot read the file, else a confidence
      up to 1; it must be cheap and must not raise.
    - ``read(sniff, options)`` returns an ``Extraction`` or raises ``Quarantine`` with a
      reason a clerk can act on. It must not write anywhere but a temporary folder it
      was given, and must respect ``options``' limits.
    """

    name: ClassVar[str] = "reader"
    # A streaming reader returns its items as an iterator (an mbox, a large export): they
    # are consumed chunk by chunk in the ingesting process so memory stays flat.
    streams: ClassVar[bool] = False
    # A streaming reader that can split its work: ``read_part(sniff, options, part, parts)``
    # yields ``PartOutcome``s of every ``parts``-th unit, and ``assemble(sniff, outcomes)``
    # makes from all units' outcomes in order the ``Extraction`` that ``read`` returns.
    # The ingest then parses one large file in several processes (flows/stream_process.py).
    reads_in_parts: ClassVar[bool] = False

    def score(self, sniff: Sniff) -> float:
        raise NotImplementedError

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        raise NotImplementedError


_READERS: list[Reader] = []


def register(reader: Reader) -> Reader:
    """Add a reader (a district's own readers call this the same way)."""
    if any(r.name == reader.name for r in _READERS):
        raise ValueError(f"a reader named {reader.name!r} is registered already")
    _READERS.append(reader)
    return reader


def readers() -> list[Reader]:
    _load_builtin()
    return list(_READERS)


_loaded = False
_loading = threading.Lock()


def _load_builtin() -> None:
    """Import the built-in readers once, even when two batches start at the same time.

    Without the lock a second thread could see the flag set while the first was still
    importing, and find no PDF reader: a batch of PDFs "not supported".
    """
    global _loaded
    if _loaded:
        return
    with _loading:
        if _loaded:
            return
        from records.intake.readers import load_builtin

        load_builtin()
        _loaded = True


_PROGRAM_MIMES = (
    "application/x-executable",
    "application/x-sharedlib",
    "application/x-pie-executable",
    "application/x-mach-binary",
    "application/x-dosexec",
    "application/vnd.microsoft.portable-executable",
    "application/x-elf",
)


def sniff(path: Path) -> Sniff:
    """Look at a file's content (libmagic, first bytes, zip member names)."""
    import magic

    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    mime = magic.from_buffer(head, mime=True) if head else "application/x-empty"
    members: tuple[str, ...] = ()
    if head.startswith(b"PK\x03\x04") or mime == "application/zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = tuple(archive.namelist()[:100_000])
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            members = ()
    return Sniff(path=path, size=size, mime=mime, description=None, head=head, zip_members=members)


def choose(found: Sniff) -> Reader:
    """The best reader for a file, or ``Quarantine`` with what the file seems to be."""
    if found.size == 0:
        raise Quarantine("empty", "empty file: nothing to keep; check that the scan or export finished saving")
    scored = [(reader.score(found), i, reader) for i, reader in enumerate(readers())]
    best = max(scored, default=(0.0, 0, None), key=lambda t: (t[0], -t[1]))
    if best[2] is None or best[0] <= 0:
        raise Quarantine("unsupported", unsupported_reason(found))
    return best[2]


def unsupported_reason(found: Sniff) -> str:
    if found.mime in _PROGRAM_MIMES or found.head.startswith((b"\x7fELF", b"MZ")):
        return "not a supported file type: this is a program, not a document"
    if found.mime.startswith(("audio/", "video/")):
        return f"not a supported file type: {found.describe().split(',')[0]} (audio and video are not read yet); keep the original elsewhere"
    return (
        f"not a supported file type: {found.describe().split(',')[0]} ({found.mime}); "
        "save it as PDF, an image, an email or a platform export and ingest that"
    )
