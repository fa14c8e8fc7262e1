"""Retention dates as a pure function, and ``records schedule evaluate``: golden cases."""

from __future__ import annotations

import datetime as dt

import pytest

from records.retention.eligibility import RecordDates, SeriesTerms, add_period, compute
from records.retention.schedule import default_schedule, default_schedule_text, parse_duration
from tests.cli_helpers import run, setup_users

NY = dt.timezone(dt.timedelta(hours=-5))
D = dt.date.fromisoformat


def terms(code: str, confirmed: bool = True) -> SeriesTerms:
    rule = default_schedule().get(code)
    assert rule is not None
    return SeriesTerms(rule.code, rule.retention, rule.trigger, rule.max, rule.disposition, rule.needs_approval, confirmed, 1)


def at(day: str) -> dt.datetime:
    return dt.datetime.combine(D(day), dt.time(12, 0), tzinfo=NY)


def evaluate(code: str, record: str, as_of: str, exits=(), staff_exit=None, grace="P0D", **flags):
    dates = RecordDates(at(record), at(record), student_exits=[None if e == "enrolled" else D(e) for e in exits], staff_exit=D(staff_exit) if staff_exit else None)
    return compute(terms(code), dates, as_of=D(as_of), grace_after_exit=grace, **flags)


# The worked examples of domain.md, row by row.
@pytest.mark.parametrize(
    ("code", "exits", "record", "as_of", "eligible_on", "destroy_by", "state"),
    [
        ("STU-TRANSCRIPT", ["2012-06-15"], "2011-09-01", "2025-01-01", "2072-06-15", None, "retain"),
        ("STU-TEMPORARY", ["2018-06-15"], "2017-10-02", "2025-06-16", "2018-06-15", "2025-06-15", "overdue"),
        ("STU-TEMPORARY", ["enrolled"], "2024-01-10", "2025-01-01", None, None, "retain"),
        ("STU-SPED", ["2020-02-29"], "2019-11-20", "2026-01-01", "2020-02-29", "2027-02-28", "eligible"),
        ("UNSCHEDULED", [], "2016-03-01", "2023-03-01", "2023-03-01", None, "eligible"),
    ],
)
def test_worked_examples_of_domain_md(code, exits, record, as_of, eligible_on, destroy_by, state) -> None:
    result = evaluate(code, record, as_of, exits)
    assert result.eligible_on == (D(eligible_on) if eligible_on else None)
    assert result.destroy_by == (D(destroy_by) if destroy_by else None)
    assert result.state == state


def test_calendar_arithmetic_and_leap_days() -> None:
    assert add_period(D("2020-02-29"), parse_duration("P1Y")) == D("2021-02-28")
    assert add_period(D("2020-02-29"), parse_duration("P4Y")) == D("2024-02-29")
    assert add_period(D("2023-01-31"), parse_duration("P1M")) == D("2023-02-28")
    assert add_period(D("2023-12-31"), parse_duration("P1D")) == D("2024-01-01")


def test_every_trigger_of_the_default_schedule() -> None:
    assert evaluate("CORR-TRANSITORY", "2023-03-05", "2024-03-04").state == "retain"
    transitory = evaluate("CORR-TRANSITORY", "2023-03-05", "2024-03-05")
    assert (transitory.trigger, transitory.trigger_date, transitory.eligible_on, transitory.state) == ("creation", D("2023-03-05"), D("2024-03-05"), "eligible")
    assert evaluate("CORR-ADMIN", "2021-07-01", "2025-01-01").eligible_on == D("2024-07-01")
    request = evaluate("PUBLIC-RECORDS-REQUEST", "2022-10-14", "2025-01-01")
    assert (request.trigger, request.eligible_on) == ("request_closed", D("2024-10-14"))
    personnel = evaluate("PERSONNEL", "2019-05-01", "2030-01-01", staff_exit="2021-08-31")
    assert (personnel.trigger_date, personnel.eligible_on) == (D("2021-08-31"), D("2028-08-31"))
    assert evaluate("PERSONNEL", "2019-05-01", "2030-01-01").state == "retain"  # still employed
    assert evaluate("NON-RECORD", "2024-01-10", "2024-01-10").state == "eligible"
    year_end = SeriesTerms("X", "P1Y", "school_year_end", None, "destroy", True, True)
    assert compute(year_end, RecordDates(at("2023-09-10"), at("2023-09-10")), as_of=D("2024-01-01")).trigger_date == D("2024-06-30")
    assert compute(year_end, RecordDates(at("2024-06-30"), at("2024-06-30")), as_of=D("2024-01-01")).trigger_date == D("2024-06-30")
    permanent = SeriesTerms("X", "P1Y", "creation", None, "permanent", False, True)
    assert compute(permanent, RecordDates(at("2000-01-01"), at("2000-01-01")), as_of=D("2025-01-01")).state == "retain"


def test_several_students_follow_the_latest_exit_and_an_enrolled_one_keeps_it() -> None:
    both = evaluate("STU-TEMPORARY", "2019-01-10", "2026-01-01", ["2019-06-15", "2021-06-20"])
    assert (both.trigger_date, both.eligible_on, both.destroy_by) == (D("2021-06-20"), D("2021-06-20"), D("2028-06-20"))
    one_enrolled = evaluate("STU-TEMPORARY", "2019-01-10", "2026-01-01", ["2019-06-15", "enrolled"])
    assert one_enrolled.eligible_on is None and one_enrolled.state == "retain" and "enrolled" in (one_enrolled.reason or "")
    unlinked = evaluate("STU-TEMPORARY", "2019-01-10", "2026-01-01", [])
    assert unlinked.state == "retain" and unlinked.reason


def test_grace_delays_eligibility_not_the_legal_maximum() -> None:
    graced = evaluate("STU-TEMPORARY", "2017-10-02", "2019-01-01", ["2018-06-15"], grace="P1Y")
    assert (graced.eligible_on, graced.destroy_by, graced.state) == (D("2019-06-15"), D("2025-06-15"), "retain")
    beyond = evaluate("STU-TEMPORARY", "2017-10-02", "2019-01-01", ["2018-06-15"], grace="P10Y")
    assert beyond.eligible_on == beyond.destroy_by == D("2025-06-15")


def test_state_precedence_and_due_soon() -> None:
    assert evaluate("STU-TEMPORARY", "2017-10-02", "2025-03-20", ["2018-06-15"]).state == "due_soon"  # 87 days left
    assert evaluate("STU-TEMPORARY", "2017-10-02", "2025-03-17", ["2018-06-15"]).state == "due_soon"  # 90 days left
    assert evaluate("STU-TEMPORARY", "2017-10-02", "2025-03-16", ["2018-06-15"]).state == "eligible"  # 91 days left
    overdue = ("STU-TEMPORARY", "2017-10-02", "2025-06-16", ["2018-06-15"])
    assert evaluate(*overdue, held=True).state == "held"
    assert evaluate(*overdue, held=True, proposed=True).state == "proposed"
    assert evaluate(*overdue, held=True, proposed=True, destroyed=True).state == "destroyed"


def test_the_record_date_is_taken_in_the_district_time_zone() -> None:
    late = dt.datetime(2024, 7, 1, 3, 30, tzinfo=dt.UTC)  # still June 30 in Massachusetts
    result = compute(terms("CORR-TRANSITORY"), RecordDates(late, late), as_of=D("2025-01-01"))
    assert result.trigger_date == D("2024-06-30")


def test_schedule_evaluate_command(paths) -> None:
    setup_users()
    outcome = run("schedule", "evaluate", "--series", "STU-SPED", "--student-exit", "2020-02-29", "--record-date", "2019-11-20", "--as-of", "2026-01-01", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert {k: outcome.json()[k] for k in ("series", "trigger", "trigger_date", "eligible_on", "destroy_by", "disposition", "needs_approval", "confirmed", "state")} == {
        "series": "STU-SPED", "trigger": "student_exit", "trigger_date": "2020-02-29", "eligible_on": "2020-02-29",
        "destroy_by": "2027-02-28", "disposition": "destroy", "needs_approval": True, "confirmed": True, "state": "eligible",
    }  # fmt: skip
    several = run("schedule", "evaluate", "--series", "STU-TEMPORARY", "--student-exit", "2019-06-15", "--student-exit", "enrolled", "--record-date", "2019-01-10", "--json")
    assert several.json()["state"] == "retain" and several.json()["eligible_on"] is None
    transitory = run("schedule", "evaluate", "--series", "CORR-TRANSITORY", "--record-date", "2023-03-05", "--as-of", "2024-03-05", "--json").json()
    assert transitory["confirmed"] is False and transitory["state"] == "eligible"
    assert run("schedule", "evaluate", "--series", "NOPE", "--record-date", "2023-03-05").exit_code == 2
    assert run("schedule", "evaluate", "--series", "STU-SPED", "--record-date", "05/03/2023").exit_code == 2


def test_schedule_confirm_and_load_need_an_officer_and_make_versions(paths, tmp_path) -> None:
    setup_users()
    assert run("schedule", "confirm", "CORR-TRANSITORY", "--actor", "casey").exit_code == 1
    assert run("schedule", "confirm", "CORR-TRANSITORY", "--actor", "olivia").exit_code == 0
    shown = {s["code"]: s for s in run("schedule", "show", "--json").json()["series"]}
    assert shown["CORR-TRANSITORY"]["confirmed"] is True
    text = default_schedule_text()
    changed = text.replace("retention: P3Y", "retention: P5Y")  # CORR-ADMIN changes; CORR-TRANSITORY does not
    (tmp_path / "district.yaml").write_text(changed, encoding="utf-8")
    loaded = run("schedule", "load", str(tmp_path / "district.yaml"), "--actor", "olivia", "--json")
    assert loaded.exit_code == 0, loaded.stderr
    version = loaded.json()
    assert version["version"] == 2
    series = {s["code"]: s for s in version["series"]}
    assert series["CORR-TRANSITORY"]["confirmed"] is True and series["CORR-ADMIN"]["retention"] == "P5Y" and series["CORR-ADMIN"]["confirmed"] is False
    (tmp_path / "bad.yaml").write_text(text.replace("    trigger: creation", "    trigger: someday", 1), encoding="utf-8")
    bad = run("schedule", "load", str(tmp_path / "bad.yaml"), "--actor", "olivia")
    assert bad.exit_code == 2 and "someday" in bad.stderr
    assert run("schedule", "show", "--json").json()["version"] == 2
    assert run("audit", "verify").exit_code == 0
