"""One file through detection and extraction: the intake half of the ingest pipeline.

The stage order lives here and nowhere else: hash, sniff, choose a reader, read, then
the printout stage (participants and dates from printed headers). Each stage may stop
the file with a ``Quarantine``; nothing here touches the catalog or the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from records.intake.model import Extraction, Quarantine, ReadOptions
from records.intake.registry import Sniff, choose, sniff

PRINTOUT_FORMATS = frozenset({"printout-scan", "printout-pdf"})


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    size: int
    modified: dt.datetime


def digest(path: Path, chunk: int = 1024 * 1024) -> FileDigest:
    """SHA-256 and size in one streaming pass (a 5 GB file never sits in memory)."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            hasher.update(block)
            size += len(block)
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return FileDigest(hasher.hexdigest(), size, modified)


@dataclass
class FileExtraction:
    """What intake made of one file: an extraction, or the reason it is quarantined."""

    sniff: Sniff | None
    extraction: Extraction | None
    quarantine: Quarantine | None

    @property
    def status(self) -> str:
        if self.quarantine is not None or self.extraction is None:
            return "quarantined"
        return "partial" if self.extraction.problems else "ingested"

    def reason_for(self, source_id: str) -> str | None:
        """The reason with the source's id filled in, so the clerk can paste the command."""
        reason = self.reason
        return reason.replace("SOURCE_ID", source_id) if reason else None

    @property
    def reason(self) -> str | None:
        if self.quarantine is not None:
            return self.quarantine.reason
        if self.extraction is not None and self.extraction.problems:
            return "; ".join(self.extraction.problems)
        return None


def extract(path: Path, options: ReadOptions, *, timezone: str = "America/New_York") -> FileExtraction:
    """Detect by content and read one file; hostile or unreadable input becomes a quarantine."""
    found: Sniff | None = None
    try:
        found = sniff(path)
        if found.size > options.max_bytes:
            raise Quarantine(
                "too_large",
                f"file is {found.size / 1024**3:.1f} GB, more than the limit of {options.max_bytes / 1024**3:.1f} GB: split it",
            )
        reader = choose(found)
        extraction = reader.read(found, options)
    except Quarantine as stop:
        return FileExtraction(found, None, stop)
    except MemoryError:
        return FileExtraction(found, None, Quarantine("too_large", "file needs more memory than allowed to read: split it or rescan at a lower resolution"))
    except Exception as exc:  # noqa: BLE001 - a reader's bug must not sink the batch
        return FileExtraction(
            found,
            None,
            Quarantine("damaged", f"could not be read ({type(exc).__name__}); the file may be damaged: ask for a new copy"),
        )
    if not extraction.items:
        return FileExtraction(found, None, Quarantine("empty", "nothing to keep was found in the file"))
    from records.intake.printout import apply_printout_facts

    for item in extraction.items:
        if item.format in PRINTOUT_FORMATS:
            apply_printout_facts(item, file_modified=options.file_modified, timezone=timezone)
    return FileExtraction(found, extraction, None)
