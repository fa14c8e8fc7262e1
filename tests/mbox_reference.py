"""The mbox splitter as it was before it searched blocks: one ``readline(MAX_LINE)`` at a time.

Kept as the executable description of how an mbox is cut (a separator is a ``From `` line
after a blank line that looks like one, or is followed by a known header; ``>From `` is
un-quoted; a line longer than ``MAX_LINE`` is read in pieces): ``split_mbox`` must cut
every input exactly as this does (tests/test_reader_email.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from records.intake.readers import mbox
from records.intake.readers.mbox import MAX_EMAIL_BYTES, RawMessage


def lines_split_mbox(handle: BinaryIO, limit: int = MAX_EMAIL_BYTES) -> Iterator[RawMessage]:
    """Cut an mbox stream into messages, holding one message in memory at a time.

    The message being built is plain local variables (its lines, their size, whether it
    outgrew ``limit``), not an object with a method per line: this loop runs once per
    line of a many-GB file.
    """
    chunks: list[bytes] = []
    append = chunks.append
    building = False  # a message has started
    number = offset = size = 0
    start = 0  # the offset of the current message's separator line
    too_large = False
    after_blank = line_start = True
    held: tuple[bytes, int] | None = None  # a "From " line waiting for the next line to decide
    readline = handle.readline
    while piece := readline(mbox.MAX_LINE):
        here, starts = offset, line_start
        offset += len(piece)
        line_start = piece[-1:] == b"\n"
        if held is not None:
            line, at = held
            held = None
            if starts and mbox._known_header(piece):
                if building:
                    yield _finish(number, start, chunks, too_large)
                    chunks.clear()
                number += 1
                building, start, size, too_large = True, at, 0, False
            elif building and not too_large:
                size += len(line)
                if size > limit:
                    too_large = True
                    chunks.clear()
                else:
                    append(line)
        if starts and after_blank and line_start and piece[:5] == b"From ":
            after_blank = False
            if not building or mbox._SEPARATOR.match(piece):
                if building:
                    yield _finish(number, start, chunks, too_large)
                    chunks.clear()
                number += 1
                building, start, size, too_large = True, here, 0, False
            else:
                held = (piece, here)
            continue
        if building and not too_large:
            if starts and piece[:1] == b">" and mbox._QUOTED_FROM.match(piece):
                piece = piece[1:]
            size += len(piece)
            if size > limit:
                too_large = True
                chunks.clear()
            else:
                append(piece)
        after_blank = starts and (piece == b"\n" or piece == b"\r\n")
    if held is not None and building and not too_large:
        size += len(held[0])
        if size > limit:
            too_large = True
            chunks.clear()
        else:
            append(held[0])
    if building:
        yield _finish(number, start, chunks, too_large)


def _finish(number: int, offset: int, chunks: list[bytes], too_large: bool) -> RawMessage:
    if chunks and chunks[-1] in (b"\n", b"\r\n"):
        chunks.pop()  # the blank line before the next separator is the separator's
    return RawMessage(number, offset, None if too_large else b"".join(chunks))
