"""One file through detection and extraction: the intake half of the ingest pipeline.

The stage order lives here and nowhere else: hash, sniff, choose a reader, read, then
the printout stage (participants and dates from printed headers). Each stage may stop
the file with a ``Quarantine``; nothing here touches the catalog or the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from records.intake.model import Evidence, Extraction, Item, Participant, PartOutcome, Quarantine, ReadOptions
from records.intake.registry import Reader, Sniff, choose, readers, sniff

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
        if self.quarantine is not None:
            return "quarantined"
        if self.extraction is None:
            return "ingested"  # received only (a part of a multi-zip export)
        return "partial" if self.extraction.problems else "ingested"

    def reason_for(self, source_id: str) -> str | None:
        """The reason with the source's id filled in, so the clerk can paste the command."""
        reason = self.reason
        return reason.replace("SOURCE_ID", source_id) if reason else None

    @property
    def reason(self) -> str | None:
        if self.quarantine is not None:
            return self.quarantine.reason.replace("\x00", "")
        if self.extraction is not None and self.extraction.problems:
            return "; ".join(self.extraction.problems).replace("\x00", "")
        return None


@dataclass(frozen=True)
class Plan:
    """A file whose reader is chosen: cheap to make, decides where reading happens."""

    sniff: Sniff
    reader: Reader

    @property
    def streams(self) -> bool:
        return bool(getattr(self.reader, "streams", False))


def plan(path: Path, options: ReadOptions) -> Plan | FileExtraction:
    """Detect by content; a file no reader takes is a quarantined ``FileExtraction``."""
    found: Sniff | None = None
    try:
        found = sniff(path)
        reader = choose(found)
        # A streaming reader (an mbox, an export) never holds the file: only its own
        # per-member limits apply. Everything else is read whole, so it is capped.
        if found.size > options.max_bytes and not getattr(reader, "streams", False):
            raise Quarantine(
                "too_large",
                f"file is {found.size / 1024**3:.1f} GB, more than the limit of {options.max_bytes / 1024**3:.1f} GB: split it",
            )
        return Plan(found, reader)
    except Quarantine as stop:
        return FileExtraction(found, None, _settled(stop))
    except Exception as exc:  # noqa: BLE001 - detection must never sink the batch
        return FileExtraction(found, None, Quarantine("damaged", f"could not be examined ({type(exc).__name__}): ask for a new copy"))


def _settled(stop: Quarantine) -> Quarantine:
    """The outcome without the raised exception's traceback.

    A caught exception keeps its traceback, and through it every frame of the stack
    that read the file, with their locals: for an attachment, the whole message or
    thread part it came from. Kept in the attachment cache, the quarantine of one
    unreadable photo per thread part held those parts, and a Facebook export's memory
    grew with its size.
    """
    return type(stop)(stop.kind, stop.reason)


def _failure(found: Sniff | None, exc: BaseException) -> FileExtraction:
    if isinstance(exc, Quarantine):
        return FileExtraction(found, None, _settled(exc))
    if isinstance(exc, MemoryError):
        return FileExtraction(found, None, Quarantine("too_large", "file needs more memory than allowed to read: split it or rescan at a lower resolution"))
    # An error raised in another process that read the file names the original error.
    name = getattr(exc, "original", None) or type(exc).__name__
    return FileExtraction(found, None, Quarantine("damaged", f"could not be read ({name}); the file may be damaged: ask for a new copy"))


def read(planned: Plan, options: ReadOptions, *, timezone: str = "America/New_York") -> FileExtraction:
    """Read a planned file. A streaming reader's items stay a lazy iterator."""
    try:
        extraction = planned.reader.read(planned.sniff, options)
    except Exception as exc:  # noqa: BLE001 - a reader's bug must not sink the batch
        return _failure(planned.sniff, exc)
    except MemoryError as exc:
        return _failure(planned.sniff, exc)
    finished = _finish(extraction.items, options, timezone, planned.sniff.path)
    if planned.streams:
        extraction.items = finished
        return FileExtraction(planned.sniff, extraction, None)
    try:
        extraction.items = list(finished)
    except Exception as exc:  # noqa: BLE001
        return _failure(planned.sniff, exc)
    if not extraction.items:
        return FileExtraction(planned.sniff, None, Quarantine("empty", "nothing to keep was found in the file"))
    return FileExtraction(planned.sniff, extraction, None)


def read_sniffed(found: Sniff, reader_name: str, options: ReadOptions, *, timezone: str = "America/New_York") -> FileExtraction:
    """``extract`` for a file already sniffed and planned elsewhere (safe to send across processes).

    The ingesting process sniffs every file to decide where it is read; a pool worker
    given the sniff and the reader's name does not run libmagic over it a second time.
    A reader this process does not know (registered only in the sender) means reading
    the file from scratch.
    """
    reader = next((r for r in readers() if r.name == reader_name), None)
    if reader is None or getattr(reader, "streams", False):
        return extract(found.path, options, timezone=timezone)
    return read(Plan(found, reader), options, timezone=timezone)


def extract(path: Path, options: ReadOptions, *, timezone: str = "America/New_York") -> FileExtraction:
    """Detect by content and read one file completely (safe to send across processes)."""
    planned = plan(path, options)
    if isinstance(planned, FileExtraction):
        return planned
    result = read(planned, options, timezone=timezone)
    if result.extraction is not None and planned.streams:
        try:
            result.extraction.items = list(result.extraction.items)
        except Exception as exc:  # noqa: BLE001
            return _failure(planned.sniff, exc)
        if not result.extraction.items:
            return FileExtraction(planned.sniff, None, Quarantine("empty", "nothing to keep was found in the file"))
    return result


EMAIL_FORMATS = frozenset({"email", "mbox-message"})


def _finish(items: Iterable[Item], options: ReadOptions, timezone: str, path: Path) -> Iterator[Item]:
    """The stages after the reader, item by item: printed headers, email origin, attachments."""
    finish = Finisher(options, timezone, path)
    for item in items:
        yield finish(item)


class Finisher:
    """The stages after the reader for one item at a time (what ``_finish`` applies to a file's items)."""

    def __init__(self, options: ReadOptions, timezone: str, path: Path) -> None:
        from records.intake.origin import email_origin
        from records.intake.printout import apply_printout_facts

        self.options = options
        self.timezone = timezone
        self.path = path
        self.attachments = AttachmentCache()  # one per file: a mailbox repeats the same attachments
        self._email_origin = email_origin
        self._apply_printout_facts = apply_printout_facts

    def __call__(self, item: Item) -> Item:
        email_origin, apply_printout_facts = self._email_origin, self._apply_printout_facts
        make_storable(item)
        if item.format in PRINTOUT_FORMATS:
            apply_printout_facts(item, file_modified=self.options.file_modified, timezone=self.timezone)
        # The email readers set the origin themselves from the message they parsed; only
        # an item that does not carry one yet has its headers read here.
        if item.format in EMAIL_FORMATS and not item.forwarded_from and not any(e.kind == "origin" for e in item.evidence):
            raw = item.content if isinstance(item.content, bytes) else (self.path.read_bytes()[: 256 * 1024] if item.content is None else None)
            key = email_origin(raw) if raw else None
            if key:
                item.evidence.append(Evidence("origin", key, 0.0))
        if item.children:
            expand_attachments(item, self.options, self.timezone, self.attachments)
        return item


def read_part(planned: Plan, options: ReadOptions, part: int, parts: int, *, timezone: str = "America/New_York") -> Iterator[PartOutcome]:
    """One part of a file whose reader ``reads_in_parts``: its outcomes, items finished.

    Safe to run in another process; ``assemble_parts`` puts the parts' outcomes together.
    Errors while reading propagate to the caller, as a streaming file's items' do.
    """
    finish = Finisher(options, timezone, planned.sniff.path)
    for outcome in planned.reader.read_part(planned.sniff, options, part, parts):  # type: ignore[attr-defined]
        if outcome.item is not None:
            outcome.item = finish(outcome.item)
        yield outcome


def assemble_parts(planned: Plan, outcomes: Iterator[PartOutcome]) -> FileExtraction:
    """What ``read`` gives for the file, from every part's outcomes taken in file order."""
    try:
        extraction = planned.reader.assemble(planned.sniff, outcomes)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - as ``read``: a reader's failure is the file's outcome
        return _failure(planned.sniff, exc)
    except MemoryError as exc:
        return _failure(planned.sniff, exc)
    return FileExtraction(planned.sniff, extraction, None)


def make_storable(item: Item) -> None:
    """Clean what goes into catalog columns, for every reader at once.

    Files may hold anything: a NUL in a Message-ID or a display name, a key longer than
    its column. PostgreSQL refuses both (SQLite does not, so only one backend would fail);
    the record's content is untouched, only the catalog's copies of these fields change.
    """
    from records.intake.normalize import storable, storable_key

    item.locator = storable(item.locator)
    item.dedupe_key = storable_key(item.dedupe_key)
    item.participants = [_storable_person(p) for p in item.participants]
    if item.owner is not None:
        item.owner = _storable_person(item.owner)
    for child in item.children:
        make_storable(child)


def _storable_person(person: Participant) -> Participant:
    from records.intake.normalize import storable

    if "\x00" not in (person.name or "") + (person.address or ""):
        return person
    return replace(person, name=storable(person.name), address=storable(person.address))


MAX_ATTACHMENT_DEPTH = 3


class AttachmentCache:
    """What reading an attachment found, by content, for every item of one file.

    Replies and forwards carry the same attachment again and again, and reading one (a
    PDF's text, an image's OCR) costs far more than hashing it, so the same bytes are
    read once per file. Only what ``_read_attachment`` copies onto a child is kept (no
    bytes, no file head), in a table bounded by entries and text so a large mailbox
    cannot grow it without limit; the oldest entries go first. Attachments named by a
    path rather than held as bytes are remembered only while one item is expanded: a
    reader may reuse a temporary path for different content in its next item.
    """

    def __init__(self, max_entries: int = 1024, max_chars: int = 16_000_000) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._by_hash: dict[str, FileExtraction] = {}
        self._chars = 0
        self.by_path: dict[str, FileExtraction] = {}

    def get(self, key: str) -> FileExtraction | None:
        if key.startswith("path:"):
            return self.by_path.get(key)
        found = self._by_hash.pop(key, None)
        if found is not None:
            self._by_hash[key] = found  # most recently used last
        return found

    def put(self, key: str, result: FileExtraction) -> None:
        kept = _compact(result)
        if key.startswith("path:"):
            self.by_path[key] = kept
            return
        chars = _chars(kept)
        if chars > self.max_chars:
            return
        self._by_hash[key] = kept
        self._chars += chars
        while len(self._by_hash) > self.max_entries or self._chars > self.max_chars:
            oldest = next(iter(self._by_hash))
            self._chars -= _chars(self._by_hash.pop(oldest))


def _compact(result: FileExtraction) -> FileExtraction:
    """A result stripped to what a child takes from it (its text, pages, people, dates)."""
    if result.extraction is None or not result.extraction.items:
        return FileExtraction(None, None, result.quarantine)
    found = replace(result.extraction.items[0], content=None, children=[])
    extraction = replace(result.extraction, items=[found], problems=[])
    return FileExtraction(None, extraction, result.quarantine)


def _chars(result: FileExtraction) -> int:
    if result.extraction is None:
        return 0
    return sum(len(item.text) + sum(len(p.text) for p in item.pages) for item in result.extraction.items)


def expand_attachments(item: Item, options: ReadOptions, timezone: str, cache: AttachmentCache | None = None) -> None:
    """Read every attachment child through the same detection and OCR as any file.

    The child keeps format ``attachment`` and its own bytes; it gains the text, pages,
    participants and dates its reader found. An unreadable attachment stays a record
    (its bytes are kept) with the reason in its evidence. Attachments inside attachments
    are read down to ``MAX_ATTACHMENT_DEPTH`` levels, and the same bytes are read once
    per file however many messages carry them (a hostile export nesting copies of itself
    must not multiply the work): ``cache`` is the file's ``AttachmentCache``.
    """
    depth = options.attachment_depth
    current = _ATTACHMENT_CACHE.get()
    owner = current is None
    if owner:
        current = cache if cache is not None else AttachmentCache()
        token = _ATTACHMENT_CACHE.set(current)
    try:
        for child in item.children:
            _read_attachment(child, options, timezone, depth, current)  # type: ignore[arg-type]
    finally:
        if owner:
            current.by_path.clear()  # type: ignore[union-attr]
            _ATTACHMENT_CACHE.reset(token)


_ATTACHMENT_CACHE: ContextVar[AttachmentCache | None] = ContextVar("records_attachment_cache", default=None)


def _read_attachment(child: Item, options: ReadOptions, timezone: str, depth: int, cache: AttachmentCache) -> None:
    if child.format != "attachment" or child.content is None or child.text:
        return
    if depth >= MAX_ATTACHMENT_DEPTH:
        child.evidence.append(Evidence("attachment", f"not read: nested deeper than {MAX_ATTACHMENT_DEPTH} levels", 0.0))
        return
    data = child.content if isinstance(child.content, bytes) else None
    key = hashlib.sha256(data).hexdigest() if data is not None else f"path:{child.content}"
    result = cache.get(key)
    if result is None:
        with tempfile.TemporaryDirectory(dir=options.scratch) as folder:
            path = Path(folder) / "attachment"
            if data is not None:
                path.write_bytes(data)
            else:
                path = Path(str(child.content))
            result = extract(path, replace(options, companions=(), attachment_depth=depth + 1), timezone=timezone)
        cache.put(key, result)
    if result.extraction is None or not result.extraction.items:
        kind = result.quarantine.kind if result.quarantine else "empty"
        child.evidence.append(Evidence("attachment", f"not read: {kind}", 0.0))
        return
    found = result.extraction.items[0]
    child.text = found.text
    child.pages = found.pages
    child.participants = child.participants or found.participants
    child.sent_at_first = child.sent_at_first or found.sent_at_first
    child.sent_at_last = child.sent_at_last or found.sent_at_last
    child.evidence.append(Evidence("attachment", f"read as {result.extraction.reader}", 1.0))
    child.evidence.extend(found.evidence)
