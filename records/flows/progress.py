"""An in-process progress hook so the command line can draw a bar while a flow runs.

Flow parameters must be serialisable, so a callback cannot be passed in; the CLI sets a
listener here and the batch task reports files done. Workers in other processes have no
listener, and reporting is then a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

_listener: Callable[[int, int], None] | None = None  # (files done, files total)
_total = 0
_done = 0


def listen(callback: Callable[[int, int], None] | None) -> None:
    global _listener, _done, _total
    _listener, _done, _total = callback, 0, 0


def start(total: int) -> None:
    global _total, _done
    _total, _done = total, 0
    if _listener:
        _listener(0, total)


def advance(files: int) -> None:
    global _done
    _done += files
    if _listener:
        _listener(_done, _total)
