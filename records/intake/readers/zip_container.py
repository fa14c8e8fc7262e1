"""Zips that are only wrappers: a Google Takeout download, or an export zipped once more.

Takeout delivers mail as ``Takeout/Mail/All mail Including Spam and Trash.mbox`` inside
one or several zips; districts forward exports zipped again. Such a zip is no export of
its own: each member is read by whichever reader takes it (by content, as any file),
one level deep, and its items become records of this source. Members no reader takes
are counted, not recorded; an unsafe member refuses the whole zip (``SafeArchive``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from records.intake.archive import SafeArchive
from records.intake.model import Extraction, Item, Quarantine, ReadOptions
from records.intake.registry import Reader, Sniff, register

MAX_MEMBERS_READ = 10_000
MAX_MEMBER_CONTENT = 256 * 1024 * 1024


class ZipContainerReader(Reader):
    name: ClassVar[str] = "zip"
    streams: ClassVar[bool] = True

    def score(self, sniff: Sniff) -> float:
        # Lowest of all zip readers: an export reader that knows the layout wins.
        return 0.1 if sniff.zip_members and any(not n.endswith("/") for n in sniff.zip_members) else 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        if options.attachment_depth >= 1:
            raise Quarantine("unsupported", "a zip inside a zip inside an export: only one level of nesting is read; unzip it and ingest the inner files")
        archive = SafeArchive([sniff.path, *options.companions])
        members = [n for n in archive.names() if not n.endswith("/")]
        if not members:
            archive.close()
            raise Quarantine("empty", "the zip holds no files")
        problems: list[str] = []
        extraction = Extraction(reader=self.name, detected=f"zip of {len(members)} files", items=[], problems=problems)
        extraction.items = self._items(archive, members, options, problems, extraction)  # type: ignore[assignment]
        return extraction

    def _items(self, archive: SafeArchive, members: list[str], options: ReadOptions, problems: list[str], extraction: Extraction) -> Iterator[Item]:
        from records.intake.pipeline import FileExtraction, plan, read

        unread = 0
        scratch = Path(tempfile.mkdtemp(prefix="zip-", dir=options.scratch))
        inner = replace(options, companions=(), attachment_depth=options.attachment_depth + 1)
        try:
            for count, name in enumerate(members):
                if count >= MAX_MEMBERS_READ:
                    problems.append(f"only the first {MAX_MEMBERS_READ} files of the zip were read")
                    break
                target = scratch / "member"
                try:
                    with archive.open(name) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                except Quarantine as damaged:
                    if damaged.kind == "unsafe":
                        raise  # a zip bomb or a tampered zip refuses the whole zip
                    problems.append(f"{name}: {damaged.reason}")
                    continue
                planned = plan(target, inner)
                if isinstance(planned, FileExtraction):
                    unread += 1
                    continue
                result = read(planned, inner, timezone=options.timezone)
                if result.extraction is None:
                    problems.append(f"{name}: {result.reason}")
                    continue
                for item in result.extraction.items:
                    if item.content is None:
                        # The member itself is the record's content: keep its bytes, the
                        # temporary copy is replaced by the next member.
                        if target.stat().st_size > MAX_MEMBER_CONTENT:
                            problems.append(f"{name}: too large to keep from inside a zip; unzip it and ingest it alone")
                            continue
                        item.content = target.read_bytes()
                    yield item
                problems.extend(f"{name}: {p}" for p in result.extraction.problems)
                target.unlink(missing_ok=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            archive.close()
        if unread:
            extraction.detected += f"; {unread} files no reader takes were kept in the zip, not recorded"


register(ZipContainerReader())
