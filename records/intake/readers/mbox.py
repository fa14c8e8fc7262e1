"""mbox files (Google Takeout, Thunderbird, mail servers): one record per message, streamed.

A Takeout mbox can be many GB, so the file is never loaded whole and ``mailbox.mbox`` is
not used (it indexes every message up front). The file is read in blocks, in binary;
a message starts at a ``From `` line at the start of the file or after a blank line.
Because some writers (Takeout among them) do not always quote ``From `` in bodies, such a
line counts as a separator only when it looks like one (``From sender Tue Aug 08 ...``)
or the next line is a well-known header; a body line "From my desk..." stays body text.
``>From `` lines are un-quoted (mboxo and mboxrd alike); CRLF and LF both work.

``read`` returns at once with ``items`` a generator: each message becomes an ``Item``
exactly as the email reader makes one, with format ``mbox-message``. ``problems`` is a list
the generator appends to, so a broken message makes the source partial and the rest is
kept. The first readable message is found before ``read`` returns, so an mbox with none
is quarantined rather than ingested empty. Memory is one message at a time.

A large mbox can be parsed by several processes at once (``read_part``: each cuts the
whole file and parses every n-th message) and put back together in file order
(``assemble``); ``read`` is the one-part case of the same two steps.

The separator's own date is never used (Takeout writes the zone before the year): the
date comes from ``Date:``, then ``Received:``. Takeout's ``X-GM-THRID`` and
``X-Gmail-Labels`` never reach the text (only the short header block does).

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from records.intake.model import Extraction, Item, PartOutcome, Quarantine, ReadOptions
from records.intake.readers.email_message import KNOWN_HEADERS, MAX_EMAIL_BYTES, header_stats, item_from_message_bytes
from records.intake.registry import Reader, Sniff, register

MAX_LINE = 1024 * 1024  # read at most this much of one line at a time
MAX_PROBLEMS = 100  # problems listed one by one; the rest are counted in one line

_SEPARATOR = re.compile(
    rb"^From \S+\s+(?:mon|tue|wed|thu|fri|sat|sun)\w*,?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\s+\d{1,2}\s",
    re.I,
)
_QUOTED_FROM = re.compile(rb"^>+From ")
_QUOTED = re.compile(rb">+From ")  # the same, matched at a position of a larger buffer
# The newline before a line that may matter on its own: a possible separator or a quoted From.
_SPECIAL = re.compile(rb"\n(?:From |>+From )")
BLOCK = 4 * 1024 * 1024  # bytes read at a time
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
# A header line opening the data (``email_message._FIELD`` on bytes): ``header_stats``
# counts no header exactly when the first line does not match it (the pattern never
# crosses a line end), and asking that of each message cost more than cutting it.
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")


class MboxReader(Reader):
    """Reads an mbox into a stream of ``mbox-message`` items, one message at a time."""

    name = "mbox"
    streams: ClassVar[bool] = True
    items_hold_bytes: ClassVar[bool] = True  # every item's content is bytes: safe to read in another process
    reads_in_parts: ClassVar[bool] = True  # ``read_part`` and ``assemble``: several processes can parse one file

    def score(self, sniff: Sniff) -> float:
        try:
            if not sniff.head.startswith(b"From "):
                return 0.0
            known, count = header_stats(sniff.head, skip_lines=1)
            if count == 0:
                return 0.0
            return 0.95 if known >= 2 or sniff.mime == "application/mbox" else 0.6
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        return self.assemble(sniff, self.read_part(sniff, options, 0, 1))

    def read_part(self, sniff: Sniff, options: ReadOptions, part: int, parts: int) -> Iterator[PartOutcome]:
        """The outcome of every ``parts``-th message, starting with message ``part + 1``.

        Each part cuts the whole file (cutting is cheap) and parses only its own messages,
        so ``parts`` processes can parse one mbox together; ``assemble`` over their
        outcomes, taken in turn, gives exactly what ``read`` gives.
        """
        if not 0 <= part < parts:
            raise ValueError(f"part {part} of {parts} does not exist")
        return _outcomes(Path(sniff.path), min(MAX_EMAIL_BYTES, options.max_bytes), part, parts)

    def assemble(self, sniff: Sniff, outcomes: Iterator[PartOutcome]) -> Extraction:
        """The extraction from every message's outcome in file order (one part's, or all parts' in turn)."""
        problems: list[str] = []
        messages = _items(outcomes, problems)
        try:
            first = next(messages)
        except StopIteration:
            why = f": {problems[0]}" if problems else ""
            raise Quarantine("damaged", f"mbox damaged: no message could be read{why}; ask for a new export") from None
        detected = "mbox (Google Takeout)" if b"\nX-GM-THRID:" in sniff.head else "mbox"
        return Extraction(reader=self.name, detected=detected, items=_resume(first, messages), problems=problems)  # type: ignore[arg-type]


def _resume(first: Item, rest: Iterator[Item]) -> Iterator[Item]:
    """The message found while checking the file, then the others as they are read."""
    yield first
    del first
    yield from rest


@dataclass
class RawMessage:
    """One message's bytes cut from the mbox (separator removed, ``>From`` un-quoted)."""

    number: int  # 1-based, in file order
    offset: int  # byte offset of its separator line
    data: bytes | None  # None when it was larger than the limit and not kept


def split_mbox(handle: BinaryIO, limit: int = MAX_EMAIL_BYTES) -> Iterator[RawMessage]:
    """Cut an mbox stream into messages, holding one message in memory at a time.

    The file is read in blocks. Only lines that can matter on their own are looked at
    one by one: a line starting with ``From `` (a separator, if it follows a blank line),
    a quoted ``>From `` (un-quoted), and the line after a doubtful separator. Every other
    run of lines is found with one search and kept as it is. Lines are read as
    ``readline(MAX_LINE)`` would give them (``tests/mbox_reference.py`` is that
    line-by-line reading, and both must cut every input the same way): a line longer
    than ``MAX_LINE`` is never a separator, and only its first ``MAX_LINE`` bytes are
    looked at. Cutting line by line cost as much as parsing a third of the messages,
    and every process reading a part of the file cuts all of it.
    """
    read = handle.read
    buf = b""
    pos = 0  # the next byte of ``buf`` to handle
    base = 0  # the file offset of ``buf[0]``
    eof = False
    mid_line = False  # ``buf[pos]`` continues a long line begun before
    line_began = 0  # the file offset of the line holding the last byte handled
    after_blank = True  # the last line was exactly "\n" or "\r\n" (the file's start counts as one)
    chunks: list[bytes] = []
    building = False  # a message has started
    number = start = size = 0
    too_large = False
    trailing_blank = 0  # bytes of a blank last piece ending the message so far (cut off at its end)
    held: tuple[bytes, int] | None = None  # a "From " line waiting for the next line to decide

    def keep(data: bytes, blank: int) -> None:
        nonlocal size, too_large, trailing_blank
        size += len(data)
        if size > limit:
            too_large = True
            chunks.clear()
        else:
            chunks.append(data)
            trailing_blank = blank

    def finished() -> RawMessage:
        if too_large:
            return RawMessage(number, start, None)
        if trailing_blank and chunks:
            chunks[-1] = chunks[-1][:-trailing_blank]  # the blank line before the next separator is the separator's
        return RawMessage(number, start, b"".join(chunks))

    while True:
        if not eof and len(buf) - pos < MAX_LINE + 2:
            more = read(BLOCK)
            if more:
                buf = buf[pos:] + more
                base += pos
                pos = 0
                continue
            eof = True
        if pos >= len(buf):
            break
        if mid_line:  # the rest of a long line: more of its pieces
            newline = buf.find(b"\n", pos)
            end = newline + 1 if newline >= 0 else len(buf)
            if building and not too_large:
                keep(buf[pos:end], _blank_last_piece(buf, end, base + end - line_began) if newline >= 0 else 0)
            if newline >= 0:
                mid_line = after_blank = False
            pos = end
            continue
        if held is None and not (buf.startswith(b"From ", pos) or (buf.startswith(b">", pos) and _QUOTED.match(buf, pos, pos + MAX_LINE))):
            # Ordinary lines, up to the next line that may matter on its own.
            found = _SPECIAL.search(buf, pos)
            if found:
                end = found.start() + 1
            elif eof:
                end = len(buf)
            else:
                end = buf.rfind(b"\n", pos) + 1 or len(buf)  # whole lines; or part of one long line
            last = max(pos, buf.rfind(b"\n", pos, end - 1) + 1)  # where the last line of the run begins
            line_began = base + last
            ends_line = buf[end - 1] == 10  # b"\n"
            if building and not too_large:
                keep(buf[pos:end], _blank_last_piece(buf, end, end - last) if ends_line else 0)
            after_blank = ends_line and (end - last == 1 or (end - last == 2 and buf[last] == 13))  # "\n" or "\r\n"
            mid_line = not ends_line
            pos = end
            continue
        # One line on its own: its first piece, as ``readline(MAX_LINE)`` gives it.
        newline = buf.find(b"\n", pos, pos + MAX_LINE)
        end = newline + 1 if newline >= 0 else min(len(buf), pos + MAX_LINE)
        piece = buf[pos:end]
        here = base + pos
        line_began = here
        whole = newline >= 0
        if held is not None:
            line, at = held
            held = None
            if _known_header(piece):
                if building:
                    yield finished()
                    chunks.clear()
                number += 1
                building, start, size, too_large, trailing_blank = True, at, 0, False, 0
            elif building and not too_large:
                keep(line, 0)
        if after_blank and whole and piece[:5] == b"From ":
            after_blank = False
            if not building or _SEPARATOR.match(piece):
                if building:
                    yield finished()
                    chunks.clear()
                number += 1
                building, start, size, too_large, trailing_blank = True, here, 0, False, 0
            else:
                held = (piece, here)
            pos = end
            continue
        if building and not too_large:
            if piece[:1] == b">" and _QUOTED_FROM.match(piece):
                piece = piece[1:]
            keep(piece, len(piece) if piece in (b"\n", b"\r\n") else 0)
        after_blank = piece == b"\n" or piece == b"\r\n"
        mid_line = not whole
        pos = end
    if held is not None and building and not too_large:
        keep(held[0], 0)
    if building:
        yield finished()


def _blank_last_piece(buf: bytes, end: int, length: int) -> int:
    """The size of a line's last ``readline(MAX_LINE)`` piece when it is only "\n" or "\r\n", else 0.

    ``length`` is the whole line's, ending at ``buf[end - 1]`` (a newline). A line of one
    or two bytes is its own last piece; a long line's last piece is what is left after
    its whole ``MAX_LINE`` pieces.
    """
    last = length - MAX_LINE * ((length - 1) // MAX_LINE)
    if last == 1:
        return 1
    if last == 2 and buf[end - 2] == 13:  # b"\r"
        return 2
    return 0


def _known_header(line: bytes) -> bool:
    found = _HEADER_NAME.match(line)
    if not found:
        return False
    name = found.group(1).decode("latin-1").lower()
    return name in KNOWN_HEADERS or name.startswith("x-")


class _Problems:
    """Appends to the extraction's list, one line per problem up to a cap, then a count."""

    def __init__(self, target: list[str]) -> None:
        self.target = target
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.target) < MAX_PROBLEMS:
            self.target.append(text)
            return
        self.more += 1
        summary = f"and {self.more} more message problem(s) not listed"
        if self.more == 1:
            self.target.append(summary)
        else:
            self.target[-1] = summary


def _outcomes(path: Path, limit: int, part: int = 0, parts: int = 1) -> Iterator[PartOutcome]:
    """Each message of this part, read: an item, or the problem that kept it out."""
    with path.open("rb") as handle:
        for raw in split_mbox(handle, limit):
            if (raw.number - 1) % parts != part:
                continue
            where = f"message {raw.number} (byte offset {raw.offset})"
            if raw.data is None:
                yield PartOutcome(raw.number, None, [f"{where} could not be read: larger than {limit // 1024**2} MB"])
                continue
            if not raw.data.strip():
                yield PartOutcome(raw.number, None, [f"{where} could not be read: it is empty"])
                continue
            if not _HEADER_LINE.match(raw.data, 0, 65536):  # ``header_stats(data[:65536])[1] == 0``
                yield PartOutcome(raw.number, None, [f"{where} could not be read: it has no header block"])
                continue
            local: list[str] = []
            try:
                item = item_from_message_bytes(raw.data, "mbox-message", local)
            except Quarantine as stop:
                yield PartOutcome(raw.number, None, [f"{where} could not be read: {stop.reason}"])
                continue
            except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - one message never sinks the mbox
                yield PartOutcome(raw.number, None, [f"{where} could not be read ({type(exc).__name__})"])
                continue
            yield PartOutcome(raw.number, item, [f"{where}: {problem}" for problem in local])


def _items(outcomes: Iterator[PartOutcome], problems: list[str]) -> Iterator[Item]:
    """Each readable message as an ``Item``; each problem into ``problems`` (capped), then on."""
    report = _Problems(problems)
    for outcome in outcomes:
        for problem in outcome.problems:
            report.add(problem)
        if outcome.item is not None:
            yield outcome.item


register(MboxReader())
