"""Smoke test of bench/disposal.py: it measures the plan it claims to measure.

The benchmark's core functions run on ~2,000 synthetic records on SQLite; the per-state
counts of the streaming and the full plan must equal a computation made here, record by
record, from the generated rows (not from the benchmark's own tally nor from the engine).
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from records.storage.installation import initialize, open_installation
from records.storage.models import Hold, Record, RecordStudent

BENCH = Path(__file__).resolve().parents[1] / "bench" / "disposal.py"
TOTAL = 2_000


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_disposal", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_disposal"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    monkeypatch.setenv("RECORDS_HOME", str(home))
    for name in ("RECORDS_DATABASE_URL", "RECORDS_KEYSTORE", "RECORDS_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    initialize(home, actor="system:test")
    return open_installation(home)


def _by_hand(bench, total: int, stop: int, zone) -> collections.Counter[str]:  # type: ignore[no-untyped-def]
    """Each generated record's state from its fields, written out longhand."""
    as_of = bench.AS_OF
    start_of = lambda day: dt.datetime.combine(day, dt.time(0), tzinfo=zone)  # noqa: E731
    hold_from, hold_to_end = start_of(bench.HOLD_FROM), start_of(bench.HOLD_TO + dt.timedelta(days=1))
    counts: collections.Counter[str] = collections.Counter()
    shape = bench.Shape(total)
    for i in range(stop):
        row, students = bench.make_record(i, shape)
        if row["series_code"] == "NON-RECORD" or row["eligible_on"] is None or row["eligible_on"] > as_of:
            continue
        first = row["sent_at_first"] or row["sent_at_last"] or row["created_at"]
        last = row["sent_at_last"] or row["sent_at_first"] or row["created_at"]
        if any(s in bench.HOLD_STUDENTS for s in students) or (last >= hold_from and first < hold_to_end):
            counts["held"] += 1
        elif row["destroy_by"] and row["destroy_by"] < as_of:
            counts["overdue"] += 1
        elif row["destroy_by"] and row["destroy_by"] <= as_of + dt.timedelta(days=90):
            counts["due_soon"] += 1
        else:
            counts["eligible"] += 1
    return counts


def test_bench_counts_match_an_independent_computation(bench, installation):  # type: ignore[no-untyped-def]
    assert installation.settings.due_soon_days == 90
    quarter = TOTAL // 4
    expected = bench.insert_catalog(installation.catalog, installation.settings, TOTAL, 0, quarter)
    by_hand = _by_hand(bench, TOTAL, quarter, installation.settings.zone)
    assert {s: expected[s] for s in bench.STATES} == {s: by_hand[s] for s in bench.STATES}
    assert bench.stream_counts(installation) == +by_hand
    assert bench.full_plan_counts(installation) == +by_hand

    expected += bench.insert_catalog(installation.catalog, installation.settings, TOTAL, quarter, TOTAL)
    by_hand = _by_hand(bench, TOTAL, TOTAL, installation.settings.zone)
    stream = bench.stream_counts(installation)
    assert stream == +by_hand
    assert bench.full_plan_counts(installation) == stream
    assert {s: expected[s] for s in bench.STATES} == {s: by_hand[s] for s in bench.STATES}
    # the mix the benchmark promises: every state present, holds of both kinds biting
    assert all(stream[s] > 0 for s in bench.STATES), stream
    assert 0.2 < stream["eligible"] / TOTAL < 0.4 and 0.02 < stream["due_soon"] / TOTAL < 0.08 and 0.02 < stream["overdue"] / TOTAL < 0.08

    with installation.catalog.reading() as session:
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == TOTAL
        assert session.execute(select(func.count()).select_from(Hold).where(Hold.released_at.is_(None))).scalar_one() == 2
        linked_held = session.execute(select(func.count(func.distinct(RecordStudent.record_id))).where(RecordStudent.student_id.in_(bench.HOLD_STUDENTS))).scalar_one()
        assert linked_held > 0
        assert session.execute(select(func.count()).select_from(Record).where(Record.series_code == "NON-RECORD", Record.eligible_on <= bench.AS_OF)).scalar_one() > 0
