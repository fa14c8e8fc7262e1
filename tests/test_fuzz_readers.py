"""Property tests: every reader and the CSV importers, over built and mutated documents.

For any bytes, a reader returns items that the catalog can store (times in UTC,
addresses normalised, keys and locators within their columns, no NUL for PostgreSQL), or
refuses the file with ``Quarantine``: a known kind and a reason a clerk can act on. Never
another exception, never a hang (each example runs under an alarm). The documents start
valid (tests/fixtures/fuzzing.py builds them) and are then mutated, at the structure
(JSON fields of the wrong type or missing) and at the bytes.

CI runs the ``ci`` hypothesis profile (few examples); ``RECORDS_HYPOTHESIS_PROFILE=long``
runs many more, and bench/fuzz.py runs a coverage-guided fuzzer over the same targets.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records.intake.directory_csv import parse_roster, parse_staff
from tests.fixtures.fuzzing import CSV_FORMATS, FORMATS, build, check_directory, fake_ocr, read_strictly

HANG_SECONDS = 60  # far above any example's time: only a hang reaches it


class HypothesisPicker:
    """The fuzzing ``Picker`` over hypothesis's draws, so failures shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def boolean(self, chance: float = 0.5) -> bool:
        return self.data.draw(st.integers(0, 999)) < chance * 1000

    def text(self, max_size: int = 40) -> str:
        return self.data.draw(st.text(max_size=max_size))

    def binary(self, max_size: int = 64) -> bytes:
        return self.data.draw(st.binary(max_size=max_size))


class Hang(Exception):
    pass


@contextmanager
def bounded(seconds: int = HANG_SECONDS) -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {seconds} seconds: a hang")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("target", sorted(FORMATS))
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow and pypdf warn about what the mutations broke
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_reader_returns_items_or_refuses(target: str, scratch: Path, data: st.DataObject) -> None:
    document = build(HypothesisPicker(data), target)
    path = scratch / f"{target}.input"
    path.write_bytes(document)
    with fake_ocr(), bounded():
        read_strictly(path)


@pytest.mark.parametrize("target", sorted(CSV_FORMATS))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_directory_csv_keeps_only_valid_rows(target: str, data: st.DataObject) -> None:
    document = build(HypothesisPicker(data), target)
    parse = parse_roster if target == "roster" else parse_staff
    with bounded():
        parsed = parse(io.BytesIO(document))
    check_directory(parsed, document)
