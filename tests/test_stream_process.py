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


def test_reading_processes_that_cannot_start_leave_the_reading_to_this_one(tmp_path, monkeypatch) -> None:
    """A reader the children do not know (registered in this process only) stops them at
    start-up: the mbox is read here instead, with the same items, not quarantined."""
    import records.flows.stream_process as stream_process
    from records.intake.model import ReadOptions
    from records.intake.pipeline import Plan
    from records.intake.readers.mbox import MboxReader
    from records.intake.registry import register, sniff
    from tests.test_reader_email import make_email, mbox_bytes

    class _LocalMbox(MboxReader):
        name = "mbox-registered-here-only"

        def score(self, found: object) -> float:
            return 0.0  # never chosen for another test's file

    reader = next((r for r in stream_process.readers() if r.name == _LocalMbox.name), None) or register(_LocalMbox())
    path = tmp_path / "mail.mbox"
    path.write_bytes(mbox_bytes([make_email(message_id=f"<n{n}@example.net>").as_bytes() for n in range(3)]))
    monkeypatch.setattr(stream_process, "MIN_BYTES", 0)
    monkeypatch.setenv("RECORDS_STREAM_READERS", "2")
    called = []
    monkeypatch.setattr(stream_process, "_in_turn", lambda children: called.append(1) or iter(()))
    result = stream_process.read_stream(Plan(sniff(path), reader), ReadOptions(), timezone="America/New_York")
    assert not called  # the children never got as far as reading
    assert result.status == "ingested" and result.extraction is not None
    assert [item.locator for item in result.extraction.items] == ["<n0@example.net>", "<n1@example.net>", "<n2@example.net>"]
