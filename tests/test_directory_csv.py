"""Parsing the roster and staff CSV files (no catalog involved)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from records.intake.directory_csv import NOT_UTF8, RowError, parse_roster, parse_staff

ROSTER_HEADER = (
    "student_id,first_name,last_name,preferred_name,date_of_birth,grade,entry_date,exit_date,"
    "exit_reason,guardian_names,guardian_emails,guardian_phones,student_emails,student_handles"
)
STAFF_HEADER = "staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles"

MAYA = (
    'S1001,Maya,Rivera,,2014-03-02,5,2019-09-01,,,"Ana Rivera; Luis Rivera",'
    '"ANA.Rivera@Example.org; ",617-555-0100,maya.rivera@students.example.org,'
    '"instagram:maya.r.2014; Twitter:@maya"'
)
OWEN = "S1002,Owen,Chen,O,2010-01-20,12,2012-09-05,2024-06-14,graduated,Mei Chen,mei@example.org,,,"


def roster(*rows: str, header: str = ROSTER_HEADER) -> io.StringIO:
    return io.StringIO("\n".join([header, *rows]) + "\n")


def reasons(parsed) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(error.line, error.reason) for error in parsed.errors]


def test_good_roster_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([ROSTER_HEADER, MAYA, OWEN]) + "\n", encoding="utf-8")
    parsed = parse_roster(path)
    assert parsed.errors == () and parsed.warnings == () and not parsed.unreadable
    maya, owen = parsed.rows
    assert maya.line == 2 and maya.student_id == "S1001"
    assert (maya.first_name, maya.last_name, maya.preferred_name) == ("Maya", "Rivera", None)
    assert maya.date_of_birth == dt.date(2014, 3, 2) and maya.entry_date == dt.date(2019, 9, 1)
    assert maya.exit_date is None and maya.exit_reason is None
    assert maya.guardian_names == ("Ana Rivera", "Luis Rivera")
    assert maya.guardian_emails == ("ana.rivera@example.org",)
    assert maya.guardian_phones == ("617-555-0100",)
    assert maya.student_handles == ("instagram:maya.r.2014", "x:@maya")
    assert maya.mailing_address is None
    assert owen.exit_date == dt.date(2024, 6, 14) and owen.exit_reason == "graduated"
    assert owen.preferred_name == "O" and owen.student_emails == ()
    assert parsed.ids_in_file == {"S1001", "S1002"}
    assert "mailing_address" not in parsed.columns
    assert parsed.sha256 is not None and len(parsed.sha256) == 64


def test_reordered_columns_and_header_spelling() -> None:
    names = ROSTER_HEADER.split(",")
    order = list(reversed(range(len(names))))
    header = ",".join(f"  {names[i].upper()} " for i in order) + ", Mailing_Address "
    cells = "S1,Ann,Lee,,,3,,,,,,,,".split(",")
    row = ",".join(cells[i] for i in order) + ',"1 Main St, Springfield"'
    parsed = parse_roster(roster(row, header=header))
    assert parsed.errors == ()
    (ann,) = parsed.rows
    assert (ann.student_id, ann.first_name, ann.last_name, ann.grade) == ("S1", "Ann", "Lee", "3")
    assert ann.mailing_address == "1 Main St, Springfield"
    assert "mailing_address" in parsed.columns


def test_staff_file_without_optional_exit_date() -> None:
    parsed = parse_staff(io.StringIO(f"{STAFF_HEADER}\nT1,Elena,Park,teacher,EPark@School.org,,+16175550123,facebook:Elena Park\n"))
    assert parsed.errors == ()
    (elena,) = parsed.rows
    assert elena.staff_id == "T1" and elena.role == "teacher"
    assert elena.school_emails == ("epark@school.org",) and elena.handles == ("facebook:Elena Park",)
    assert elena.exit_date is None and "exit_date" not in parsed.columns

    with_exit = parse_staff(io.StringIO(f"exit_date,{STAFF_HEADER}\n2023-06-30,T1,Elena,Park,,,,,\n"))
    assert with_exit.errors == () and with_exit.rows[0].exit_date == dt.date(2023, 6, 30)
    assert with_exit.rows[0].role is None


def test_missing_required_column_fails_the_header() -> None:
    header = ROSTER_HEADER.replace(",guardian_phones", "").replace("student_id,", "")
    parsed = parse_roster(roster("Ann,Lee,,,3,,,,,,,", header=header))
    assert parsed.rows == () and parsed.unreadable
    assert reasons(parsed) == [(1, "missing required columns: student_id, guardian_phones")]


def test_unknown_columns_are_ignored_with_a_warning() -> None:
    parsed = parse_roster(roster("S1,Ann,Lee,,,3,,,,,,,,,x,y", header=ROSTER_HEADER + ",homeroom,bus"))
    assert parsed.errors == () and len(parsed.rows) == 1
    assert parsed.warnings == (RowError(1, "ignored unknown columns: homeroom, bus"),)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("S1,Ann,Lee,,,3,,2024-13-01,graduated,,,,,", "exit_date '2024-13-01' is not a date (use YYYY-MM-DD)"),
        ("S1,Ann,Lee,,03/02/2014,3,,,,,,,,", "date_of_birth '03/02/2014' is not a date (use YYYY-MM-DD)"),
        ("S1,Ann,Lee,,,3,,,,,ann.example.org,,,", "guardian_emails 'ann.example.org' is not an email address (name@example.org)"),
        ("S1,Ann,Lee,,,3,,,,,,,,annlee", "student_handles 'annlee' is not platform:handle (instagram:maya.r.2014, x:@maya)"),
        ("S1,Ann,Lee,,,3,,,,,,,,instagram:", "student_handles 'instagram:' is not platform:handle (instagram:maya.r.2014, x:@maya)"),
        ("S1,Ann,Lee,,,3,,2024-06-14,expelled,,,,,", "exit_reason 'expelled' is not one of graduated, transferred, withdrawn (or empty)"),
        ("S1,Ann,Lee,,,3,,2024-06-14,,,,,,", "exit_date is set but exit_reason is empty: give both or neither"),
        ("S1,Ann,Lee,,,3,,,withdrawn,,,,,", "exit_reason is set but exit_date is empty: give both or neither"),
        ("S1,Ann,Lee,,,3,2024-09-01,2024-06-14,transferred,,,,,", "exit_date 2024-06-14 is before entry_date 2024-09-01"),
        (",Ann,Lee,,,3,,,,,,,,", "student_id is empty"),
        ("S1,,Lee,,,3,,,,,,,,", "first_name is empty"),
        ("S1,Ann,Lee,,,3,,,", "row has 9 values but the header has 14 columns (a comma inside a value needs quotes)"),
    ],
)
def test_bad_rows_are_reported_with_a_reason(row: str, reason: str) -> None:
    parsed = parse_roster(roster(OWEN, row))
    assert [r.student_id for r in parsed.rows] == ["S1002"]
    assert reasons(parsed) == [(3, reason)]
    assert not parsed.unreadable


def test_every_problem_of_a_row_is_reported() -> None:
    parsed = parse_roster(roster("S1,Ann,Lee,,1999-02-30,3,,,,,x@,,,nocolon"))
    assert [line for line, _ in reasons(parsed)] == [2, 2, 2]
    assert parsed.rows == ()


def test_exit_reason_is_case_insensitive() -> None:
    parsed = parse_roster(roster("S1,Ann,Lee,,,3,,2024-06-14,Transferred,,,,,"))
    assert parsed.errors == () and parsed.rows[0].exit_reason == "transferred"


def test_duplicate_id_rejects_the_second_occurrence() -> None:
    parsed = parse_roster(roster(MAYA, OWEN, "S1001,Maya,Rivera,,,,,,,,,,,"))
    assert [r.student_id for r in parsed.rows] == ["S1001", "S1002"]
    assert reasons(parsed) == [(4, "student_id 'S1001' already appears on line 2")]

    staff = parse_staff(io.StringIO(f"{STAFF_HEADER}\nT1,A,B,,,,,\nT1,C,D,,,,,\n"))
    assert len(staff.rows) == 1 and reasons(staff) == [(3, "staff_id 'T1' already appears on line 2")]


def test_bom_crlf_and_blank_trailing_lines(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    text = "\r\n".join([ROSTER_HEADER, MAYA, OWEN, "", ",,,,,,,,,,,,,", ""]) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    parsed = parse_roster(path)
    assert parsed.errors == () and parsed.warnings == ()
    assert [(r.line, r.student_id) for r in parsed.rows] == [(2, "S1001"), (3, "S1002")]
    # An already-decoded stream that kept its BOM reads the same.
    assert parse_roster(io.StringIO("\ufeff" + text)).rows == parsed.rows


def test_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(f"{ROSTER_HEADER}\n{OWEN}\nS3,Zoë,Müller,,,,,,,,,,,\n".encode("cp1252"))
    parsed = parse_roster(path)
    assert parsed.rows == () and parsed.unreadable
    assert reasons(parsed) == [(3, NOT_UTF8)]
    assert NOT_UTF8 == "not UTF-8: save the file as CSV UTF-8"
    # A stream opened with the wrong expectations reports the same.
    stream = io.TextIOWrapper(io.BytesIO("Zoë".encode("cp1252")), encoding="utf-8")
    assert reasons(parse_staff(stream)) == [(1, NOT_UTF8)]


def test_line_numbers_count_physical_lines_of_quoted_multiline_fields() -> None:
    header = ROSTER_HEADER + ",mailing_address"
    parsed = parse_roster(
        roster(
            'S1,Ann,Lee,,,3,,,,,,,,,"12 Elm St\nApt 2\nSpringfield MA"',
            "",
            "S2,Bo,Li,,,3,,bad-date,graduated,,,,,,",
            'S3,Cy,Ng,,,3,,,,,,,,,"4 Oak St\r\nBoston"',
            "S4,Di,Ox,,,3,,,,,,,,,x,extra",
            header=header,
        )
    )
    assert [(r.line, r.student_id) for r in parsed.rows] == [(2, "S1"), (7, "S3")]
    assert parsed.rows[0].mailing_address == "12 Elm St\nApt 2\nSpringfield MA"
    assert [line for line, _ in reasons(parsed)] == [6, 9]
    assert parsed.ids_in_file == {"S1", "S2", "S3", "S4"}


def test_broken_quoting_stops_the_file() -> None:
    parsed = parse_roster(roster(OWEN, 'S1,"Ann,Lee,,,3,,,,,,,,', "S2,Bo,Li,,,3,,,,,,,,"))
    assert parsed.unreadable
    assert [line for line, _ in reasons(parsed)] == [3]
    assert "never closed" in parsed.errors[0].reason


def test_empty_file() -> None:
    parsed = parse_staff(io.StringIO(""))
    assert parsed.unreadable and parsed.errors[0].line == 1 and "empty" in parsed.errors[0].reason
    header_only = parse_staff(io.StringIO(STAFF_HEADER + "\r\n"))
    assert header_only.rows == () and header_only.errors == () and not header_only.unreadable


def test_staff_bad_values() -> None:
    parsed = parse_staff(io.StringIO(f"{STAFF_HEADER},exit_date\nT1,A,B,,a@b,,,tiktok,2024-02-30\n"))
    assert reasons(parsed) == [
        (2, "school_emails 'a@b' is not an email address (name@example.org)"),
        (2, "handles 'tiktok' is not platform:handle (instagram:maya.r.2014, x:@maya)"),
        (2, "exit_date '2024-02-30' is not a date (use YYYY-MM-DD)"),
    ]
