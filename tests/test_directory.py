"""Roster and staff directory imports into the catalog (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import func, select

from records.intake.directory_csv import parse_roster, parse_staff
from records.storage import audit
from records.storage.db import Catalog
from records.storage.directory import ImportReport, import_staff, import_students
from records.storage.models import AuditEventRow, Staff, Student

NOW = dt.datetime(2025, 1, 15, 14, 0, tzinfo=dt.UTC)
ROSTER_HEADER = (
    "student_id,first_name,last_name,preferred_name,date_of_birth,grade,entry_date,exit_date,"
    "exit_reason,guardian_names,guardian_emails,guardian_phones,student_emails,student_handles,mailing_address"
)
MAYA = 'S1001,Maya,Rivera,,2014-03-02,5,2019-09-01,,,Ana Rivera,ana.rivera@example.org,617-555-0100,maya.rivera@students.example.org,instagram:maya.r.2014,"12 Elm St, Springfield"'
OWEN = "S1002,Owen,Chen,,2010-01-20,12,2012-09-05,,,Mei Chen,mei.chen@example.org,,owen.chen@students.example.org,x:@owenc,"
OWEN_GRADUATED = OWEN.replace(",,,Mei Chen", ",2024-06-14,graduated,Mei Chen")
ZARA = "S1003,Zara,Okafor,Z,2011-05-05,11,2013-09-04,,,Ngozi Okafor,ngozi.okafor@example.org,,,,"
BAD_ROW = "S1004,Theo,Baptiste,,2011-13-01,11,,,,,,,,,"

STAFF_HEADER = "staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles,exit_date"
ELENA = "T01,Elena,Marchetti,teacher,emarchetti@school.example.org,elena.m@gmail.example.com,+16175550123,facebook:Elena Marchetti,"
ELENA_LEFT = ELENA.rstrip(",") + ",2024-08-31"
RAJ = "T02,Raj,Kowalczyk,counselor,rkowalczyk@school.example.org,,,,"

# Every name, email, phone, handle and address of the fixture people ("@" catches any email).
PEOPLE = [
    "Maya", "Mya", "Rivera", "Owen", "Chen", "Zara", "Okafor", "Ngozi", "Theo", "Baptiste", "Elena", "Marchetti",
    "Raj", "Kowalczyk", "@", "617-555-0100", "+1617555", "instagram", "facebook", "x:@owenc", "Elm St",
]  # fmt: skip


def write(tmp_path: Path, name: str, header: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def roster_import(catalog: Catalog, path: Path, *, partial: bool = False, now: dt.datetime = NOW) -> ImportReport:
    parsed = parse_roster(path)
    with catalog.writing() as session:
        return import_students(session, parsed, actor="clerk1", partial=partial, source_name=path.name, now=now)


def staff_import(catalog: Catalog, path: Path, *, partial: bool = False) -> ImportReport:
    parsed = parse_staff(path)
    with catalog.writing() as session:
        return import_staff(session, parsed, actor="clerk1", partial=partial, source_name=path.name, now=NOW)


def events(catalog: Catalog, action: str | None = None) -> list[audit.AuditEvent]:
    with catalog.reading() as session:
        return list(audit.iter_events(session, audit.LogFilter(action=action) if action else None))


def students(catalog: Catalog) -> dict[str, Student]:
    with catalog.reading() as session:
        return {s.student_id: s for s in session.scalars(select(Student))}


def test_first_import_adds_everyone(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", ROSTER_HEADER, MAYA, OWEN_GRADUATED)
    report = roster_import(catalog, path)
    assert report.written
    assert report.to_json() == {
        "added": 2, "updated": 0, "unchanged": 0, "exited": ["S1002"],
        "missing_from_file": [], "errors": [], "warnings": [],
    }  # fmt: skip
    stored = students(catalog)
    maya = stored["S1001"]
    assert maya.guardian_emails == ["ana.rivera@example.org"] and maya.student_handles == ["instagram:maya.r.2014"]
    assert maya.mailing_address == "12 Elm St, Springfield" and maya.date_of_birth == dt.date(2014, 3, 2)
    assert maya.updated_at == NOW and maya.exit_date is None
    assert stored["S1002"].exit_date == dt.date(2024, 6, 14) and stored["S1002"].exit_reason == "graduated"

    added = events(catalog, "student.added")
    assert [(e.subject_type, e.subject_id, e.payload) for e in added] == [
        ("student", "S1001", {"student_id": "S1001"}),
        ("student", "S1002", {"student_id": "S1002", "exit_date": "2024-06-14", "exit_reason": "graduated"}),
    ]
    (summary,) = events(catalog, "roster.imported")
    assert summary.actor == "clerk1" and summary.subject_type == "import"
    assert summary.payload["source_name"] == "roster.csv"
    assert summary.payload["source_sha256"] == parse_roster(path).sha256
    assert summary.subject_id == summary.payload["source_sha256"]
    assert {k: summary.payload[k] for k in ("added", "updated", "unchanged", "missing_from_file", "partial")} == {
        "added": 2, "updated": 0, "unchanged": 0, "missing_from_file": [], "partial": False,
    }  # fmt: skip


def test_identical_reimport_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", ROSTER_HEADER, MAYA, OWEN_GRADUATED, ZARA)
    roster_import(catalog, path)
    report = roster_import(catalog, path, now=NOW + dt.timedelta(days=1))
    assert (report.added, report.updated, report.unchanged, report.exited) == (0, 0, 3, [])
    stored = students(catalog)
    assert len(stored) == 3 and all(s.updated_at == NOW for s in stored.values())
    assert len(events(catalog, "student.changed")) == 0
    assert len(events(catalog, "roster.imported")) == 2


def test_exit_date_set_by_a_later_file(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "roster-2024-01.csv", ROSTER_HEADER, MAYA, OWEN))
    later = NOW + dt.timedelta(days=200)
    report = roster_import(catalog, write(tmp_path, "roster-2024-07.csv", ROSTER_HEADER, MAYA, OWEN_GRADUATED), now=later)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    assert report.exited == ["S1002"]
    owen = students(catalog)["S1002"]
    assert owen.exit_date == dt.date(2024, 6, 14) and owen.updated_at == later
    (changed,) = events(catalog, "student.changed")
    assert changed.subject_id == "S1002" and changed.actor == "clerk1"
    assert changed.payload == {
        "student_id": "S1002", "fields": ["exit_date", "exit_reason"],
        "exit_date": "2024-06-14", "exit_reason": "graduated",
    }  # fmt: skip

    # A corrected exit date is an update, not a new exit; clearing it is logged as null.
    corrected = roster_import(catalog, write(tmp_path, "c.csv", ROSTER_HEADER, OWEN_GRADUATED.replace("2024-06-14", "2024-06-12")))
    assert corrected.updated == 1 and corrected.exited == []
    reenrolled = roster_import(catalog, write(tmp_path, "r.csv", ROSTER_HEADER, OWEN))
    assert reenrolled.updated == 1 and reenrolled.exited == []
    assert events(catalog, "student.changed")[-1].payload["exit_date"] is None


def test_change_of_other_fields_names_the_fields_only(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA))
    moved = MAYA.replace(",5,", ",6,").replace("ana.rivera@example.org", "ana.r@example.org")
    report = roster_import(catalog, write(tmp_path, "b.csv", ROSTER_HEADER, moved))
    assert report.updated == 1 and report.exited == []
    (changed,) = events(catalog, "student.changed")
    assert changed.payload == {"student_id": "S1001", "fields": ["grade", "guardian_emails"]}
    assert students(catalog)["S1001"].guardian_emails == ["ana.r@example.org"]


def test_absent_optional_column_leaves_stored_values(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA))
    without_address = ROSTER_HEADER.removesuffix(",mailing_address")
    report = roster_import(catalog, write(tmp_path, "b.csv", without_address, MAYA.rsplit(',"', 1)[0]))
    assert report.unchanged == 1
    assert students(catalog)["S1001"].mailing_address == "12 Elm St, Springfield"


def test_student_missing_from_later_file_is_reported_not_exited(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA, OWEN, ZARA))
    report = roster_import(catalog, write(tmp_path, "b.csv", ROSTER_HEADER, OWEN))
    assert report.missing_from_file == ["S1001", "S1003"]
    assert report.exited == [] and report.unchanged == 1
    stored = students(catalog)
    assert set(stored) == {"S1001", "S1002", "S1003"}
    assert stored["S1001"].exit_date is None and stored["S1003"].exit_date is None
    assert events(catalog, "roster.imported")[-1].payload["missing_from_file"] == ["S1001", "S1003"]


def test_bad_row_without_partial_writes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA, ZARA))
    before = events(catalog)
    report = roster_import(catalog, write(tmp_path, "b.csv", ROSTER_HEADER, OWEN_GRADUATED, BAD_ROW, MAYA.replace(",5,", ",6,")))
    assert not report.written
    # Pinned: an aborted import reports zero counts, the errors, and who is missing.
    assert report.to_json() == {
        "added": 0, "updated": 0, "unchanged": 0, "exited": [], "missing_from_file": ["S1003"],
        "errors": [{"line": 3, "reason": "date_of_birth '2011-13-01' is not a date (use YYYY-MM-DD)"}],
        "warnings": [],
    }  # fmt: skip
    stored = students(catalog)
    assert set(stored) == {"S1001", "S1003"} and stored["S1001"].grade == "5"
    assert events(catalog) == before


def test_bad_row_with_partial_loads_the_good_rows(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, "roster.csv", ROSTER_HEADER, MAYA, BAD_ROW, OWEN_GRADUATED)
    report = roster_import(catalog, path, partial=True)
    assert report.written
    assert (report.added, report.exited) == (2, ["S1002"])
    assert [(e.line, e.reason) for e in report.errors] == [(3, "date_of_birth '2011-13-01' is not a date (use YYYY-MM-DD)")]
    assert set(students(catalog)) == {"S1001", "S1002"}
    summary = events(catalog, "roster.imported")[-1]
    assert summary.payload["partial"] is True and summary.payload["rejected_lines"] == [3]

    # A rejected row still names its student: S1004 is not reported as missing from the file.
    report = roster_import(catalog, write(tmp_path, "again.csv", ROSTER_HEADER, BAD_ROW), partial=True)
    assert report.missing_from_file == ["S1001", "S1002"]


def test_large_roster_reimport(catalog: Catalog, tmp_path: Path) -> None:
    rows = [f"S{n:05d},First{n},Last{n},,,3,2020-09-01,,,,,,," for n in range(1200)]
    header = ROSTER_HEADER.removesuffix(",mailing_address")
    assert roster_import(catalog, write(tmp_path, "a.csv", header, *rows)).added == 1200
    rows[1100] = rows[1100].replace(",,,,,,,", ",2024-06-14,withdrawn,,,,,")
    report = roster_import(catalog, write(tmp_path, "b.csv", header, *rows[1:]))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1198)
    assert report.exited == ["S01100"] and report.missing_from_file == ["S00000"]


def test_unreadable_file_writes_nothing_even_partial(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA))
    path = write(tmp_path, "b.csv", ROSTER_HEADER.replace("grade,", ""), OWEN)
    report = roster_import(catalog, path, partial=True)
    assert not report.written and report.missing_from_file == []
    assert report.errors[0].line == 1 and "missing required column: grade" in report.errors[0].reason
    assert set(students(catalog)) == {"S1001"}


def test_staff_import_and_exit(catalog: Catalog, tmp_path: Path) -> None:
    first = staff_import(catalog, write(tmp_path, "staff.csv", STAFF_HEADER, ELENA, RAJ))
    assert (first.added, first.exited, first.written) == (2, [], True)
    assert [e.payload for e in events(catalog, "staff.added")] == [{"staff_id": "T01"}, {"staff_id": "T02"}]

    same = staff_import(catalog, write(tmp_path, "staff.csv", STAFF_HEADER, ELENA, RAJ))
    assert (same.added, same.updated, same.unchanged) == (0, 0, 2)

    left = staff_import(catalog, write(tmp_path, "staff2.csv", STAFF_HEADER, ELENA_LEFT))
    assert (left.updated, left.unchanged, left.exited, left.missing_from_file) == (1, 0, ["T01"], ["T02"])
    (changed,) = events(catalog, "staff.changed")
    assert changed.subject_type == "staff" and changed.subject_id == "T01"
    assert changed.payload == {"staff_id": "T01", "fields": ["exit_date"], "exit_date": "2024-08-31"}
    with catalog.reading() as session:
        rows = {s.staff_id: s for s in session.scalars(select(Staff))}
    assert rows["T01"].exit_date == dt.date(2024, 8, 31) and rows["T02"].exit_date is None
    assert rows["T01"].personal_emails == ["elena.m@gmail.example.com"]

    # A directory without the optional exit_date column does not clear anyone's exit.
    no_exit_column = STAFF_HEADER.removesuffix(",exit_date")
    quiet = staff_import(catalog, write(tmp_path, "staff3.csv", no_exit_column, ELENA.removesuffix(",")))
    assert quiet.unchanged == 1
    summary = events(catalog, "staff.imported")[-1]
    assert summary.payload["unchanged"] == 1 and summary.payload["missing_from_file"] == ["T02"]


def test_staff_bad_row(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, "staff.csv", STAFF_HEADER, ELENA, "T03,Ida,Moss,,not-an-email,,,,")
    aborted = staff_import(catalog, path)
    assert not aborted.written and aborted.added == 0 and [e.line for e in aborted.errors] == [3]
    with catalog.reading() as session:
        assert session.scalar(select(func.count()).select_from(Staff)) == 0
    loaded = staff_import(catalog, path, partial=True)
    assert loaded.written and loaded.added == 1


def test_audit_holds_no_names_or_contacts_and_verifies(catalog: Catalog, tmp_path: Path) -> None:
    roster_import(catalog, write(tmp_path, "a.csv", ROSTER_HEADER, MAYA, OWEN, ZARA))
    changed = MAYA.replace("Maya,Rivera", "Mya,Rivera-Diaz").replace("ana.rivera@", "ana@")
    roster_import(catalog, write(tmp_path, "b.csv", ROSTER_HEADER, changed, OWEN_GRADUATED, BAD_ROW), partial=True)
    staff_import(catalog, write(tmp_path, "s.csv", STAFF_HEADER, ELENA, RAJ))
    staff_import(catalog, write(tmp_path, "t.csv", STAFF_HEADER, ELENA_LEFT.replace("+16175550123", "+16175550999"), RAJ))
    with catalog.reading() as session:
        stored = session.execute(select(AuditEventRow.payload, AuditEventRow.subject_id)).all()
        verification = audit.verify(session)
    text = "\n".join(payload + "\n" + subject for payload, subject in stored).lower()
    leaked = [word for word in PEOPLE if word.lower() in text]
    assert leaked == []
    maya_changed = next(e for e in events(catalog, "student.changed") if e.subject_id == "S1001")
    assert maya_changed.payload == {"student_id": "S1001", "fields": ["first_name", "last_name", "guardian_emails"]}
    elena_changed = events(catalog, "staff.changed")[0]
    assert elena_changed.payload == {"staff_id": "T01", "fields": ["phones", "exit_date"], "exit_date": "2024-08-31"}
    assert all(json.loads(payload) for payload, _ in stored)
    assert verification.ok and verification.events == len(stored) == 12
