"""Reading a large mbox in several processes: the outcomes come back in file order, and a
reading process that stops stops the stream at its turn, never later or out of order."""

from __future__ import annotations

import multiprocessing

import pytest

from records.flows.stream_process import StreamStopped, _in_turn
from records.intake.model import Item, PartOutcome


class _Ended:
    """Stands in for a reading process that has sent everything and ended."""

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False

    def kill(self) -> None:
        raise AssertionError("an ended process is not killed")


def _children(*sent: list[tuple]) -> list[tuple[_Ended, object]]:
    children = []
    for messages in sent:
        ours, theirs = multiprocessing.Pipe(duplex=False)
        for message in messages:
            theirs.send(message)
        theirs.close()
        children.append((_Ended(), ours))
    return children


def _outcome(number: int) -> PartOutcome:
    item = Item(format="mbox-message", locator=f"<m{number}@example.net>", text=f"message {number}", content=b"x")
    return PartOutcome(number, item, [])


def test_outcomes_are_taken_in_turn_until_the_end() -> None:
    first = [("outcomes", [_outcome(1), _outcome(3)]), ("outcomes", [_outcome(5)]), ("end",)]
    second = [("outcomes", [_outcome(2)]), ("outcomes", [_outcome(4), PartOutcome(6, None, ["message 6 could not be read"])]), ("end",)]
    taken = list(_in_turn(_children(first, second)))
    assert [o.number for o in taken] == [1, 2, 3, 4, 5, 6]
    assert taken[5].item is None and taken[5].problems == ["message 6 could not be read"]


def test_a_failed_reader_stops_the_stream_at_its_turn() -> None:
    first = [("outcomes", [_outcome(1), _outcome(3), _outcome(5)]), ("end",)]
    second = [("outcomes", [_outcome(2)]), ("failed", "OSError")]
    taken = []
    with pytest.raises(StreamStopped) as stop:
        for outcome in _in_turn(_children(first, second)):
            taken.append(outcome.number)
    assert taken == [1, 2, 3]  # message 5 was read, but message 4 comes first and never came
    assert stop.value.kind == "OSError"


def test_a_reader_that_vanished_or_disagrees_stops_the_stream() -> None:
    first = [("outcomes", [_outcome(1)])]  # the pipe closes without an end: the process died
    with pytest.raises(StreamStopped, match="died"):
        list(_in_turn(_children(first, [("outcomes", [_outcome(2)]), ("end",)])))
    out_of_step = [("outcomes", [_outcome(1), _outcome(2)]), ("end",)]
    with pytest.raises(StreamStopped, match="disagree"):
        list(_in_turn(_children(out_of_step, [("outcomes", [_outcome(2)]), ("end",)])))
