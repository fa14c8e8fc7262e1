"""Read the district's roster and staff directory CSV files into plain, checked rows.

Clerks export these files from a student information system or a spreadsheet, so the
reader is forgiving about form (column order, header case, a BOM, CRLF, blank lines) and
strict about content: a row is either fully understood or reported with a reason a clerk
can act on, never half-guessed. Exit dates drive retention (domain.md, "Dates"), so a bad
date is an error, not a blank.

This module never touches the catalog: it turns bytes into plain data, and
``records.storage.directory`` decides what that data changes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

NOT_UTF8 = "not UTF-8: save the file as CSV UTF-8"
EXIT_REASONS = ("graduated", "transferred", "withdrawn")
PLATFORM_ALIASES = {"twitter": "x"}

ROSTER_REQUIRED = (
    "student_id", "first_name", "last_name", "preferred_name", "date_of_birth", "grade",
    "entry_date", "exit_date", "exit_reason", "guardian_names", "guardian_emails",
    "guardian_phones", "student_emails", "student_handles",
)  # fmt: skip
ROSTER_OPTIONAL = ("mailing_address",)
STAFF_REQUIRED = (
    "staff_id", "first_name", "last_name", "role", "school_emails", "personal_emails", "phones", "handles",
)  # fmt: skip
STAFF_OPTIONAL = ("exit_date",)

# Column widths of the catalog (records/storage/models.py): checked here so that an
# over-long value is a bad row with a reason, not a database error that aborts the import.
_MAX_LENGTH = {
    "student_id": 64, "staff_id": 64, "first_name": 128, "last_name": 128,
    "preferred_name": 128, "grade": 16, "role": 128,
}  # fmt: skip

_EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[^@\s;,<>.]+$")
_PLATFORM = re.compile(r"^[a-z][a-z0-9_.-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RowError:
    """One problem with one row (or with the file, on line 1). ``line`` counts the header as 1."""

    line: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class StudentRow:
    """One student as the roster states them; ``line`` is where the row starts in the file."""

    line: int
    student_id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: dt.date | None
    grade: str | None
    entry_date: dt.date | None
    exit_date: dt.date | None
    exit_reason: str | None
    guardian_names: tuple[str, ...]
    guardian_emails: tuple[str, ...]
    guardian_phones: tuple[str, ...]
    student_emails: tuple[str, ...]
    student_handles: tuple[str, ...]
    mailing_address: str | None = None


@dataclass(frozen=True)
class StaffRow:
    """One staff member as the directory states them; ``exit_date`` is their separation."""

    line: int
    staff_id: str
    first_name: str
    last_name: str
    role: str | None
    school_emails: tuple[str, ...]
    personal_emails: tuple[str, ...]
    phones: tuple[str, ...]
    handles: tuple[str, ...]
    exit_date: dt.date | None = None


RowT = TypeVar("RowT", StudentRow, StaffRow)


@dataclass(frozen=True)
class ParsedDirectory(Generic[RowT]):
    """The good rows of a file, the bad ones as errors, and what an import needs to judge it.

    ``columns``: the known columns the file has. An optional column that is absent says
    nothing (a staff file without ``exit_date`` must not clear anyone's exit date).
    ``ids_in_file``: every id the file names, bad rows included, so that a row rejected for
    a typo is not also reported as missing from the file.
    ``unreadable``: the file as a whole could not be read (encoding, header, broken
    quoting): no row can be trusted, and an import writes nothing even when partial.
    ``sha256``: of the file's bytes, when they were read here.
    """

    rows: tuple[RowT, ...]
    errors: tuple[RowError, ...]
    warnings: tuple[RowError, ...] = ()
    columns: frozenset[str] = frozenset()
    ids_in_file: frozenset[str] = frozenset()
    unreadable: bool = False
    sha256: str | None = None


Source = IO[str] | IO[bytes] | str | os.PathLike[str]


# --- reading the file --------------------------------------------------------------------


def _read_text(source: Source) -> tuple[str | None, RowError | None, str | None]:
    """(text, error, sha256): decode as UTF-8 (BOM allowed), or say where it is not UTF-8."""
    if isinstance(source, (str, os.PathLike)):
        data: str | bytes = Path(source).read_bytes()
    else:
        try:
            data = source.read()
        except UnicodeDecodeError:
            return None, RowError(1, NOT_UTF8), None
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), None, None
    digest = hashlib.sha256(data).hexdigest()
    try:
        return data.decode("utf-8-sig"), None, digest
    except UnicodeDecodeError as exc:
        return None, RowError(data.count(b"\n", 0, exc.start) + 1, NOT_UTF8), digest


class _BrokenQuoting(Exception):
    """Quotes that never balance: every line after them is unreadable."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every non-blank row, header included.

    Raises ``_BrokenQuoting`` naming the line of the row whose quotes never balance.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _BrokenQuoting(start, str(exc)) from exc
        end = reader.line_num
        if any(cell.strip() for cell in cells):  # blank lines and ",,,," lines say nothing
            yield start, cells


# --- checking values ---------------------------------------------------------------------


class _Cells:
    """The cells of one row by column name, collecting every problem rather than the first."""

    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = values
        self.errors: list[RowError] = []

    def fail(self, reason: str) -> None:
        self.errors.append(RowError(self.line, reason))

    def text(self, column: str, *, required: bool = False) -> str | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.fail(f"{column} is empty")
            return None
        limit = _MAX_LENGTH.get(column)
        if limit and len(value) > limit:
            self.fail(f"{column} is longer than {limit} characters")
        return value

    def date(self, column: str) -> dt.date | None:
        value = self.values.get(column, "")
        if not value:
            return None
        try:
            if not _ISO_DATE.match(value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"{column} '{value}' is not a date (use YYYY-MM-DD)")
            return None

    def items(self, column: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.values.get(column, "").split(";") if item.strip())

    def emails(self, column: str) -> tuple[str, ...]:
        found = []
        for item in self.items(column):
            email = item.lower()
            if _EMAIL.match(email):
                found.append(email)
            else:
                self.fail(f"{column} '{item}' is not an email address (name@example.org)")
        return _unique(found)

    def handles(self, column: str) -> tuple[str, ...]:
        found = []
        for item in self.items(column):
            platform, colon, handle = item.partition(":")
            platform = platform.strip().lower()
            handle = handle.strip()
            if not colon or not handle or not _PLATFORM.match(platform):
                self.fail(f"{column} '{item}' is not platform:handle (instagram:maya.r.2014, x:@maya)")
                continue
            found.append(f"{PLATFORM_ALIASES.get(platform, platform)}:{handle}")
        return _unique(found)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _student(cells: _Cells) -> StudentRow:
    row = StudentRow(
        line=cells.line,
        student_id=cells.text("student_id", required=True) or "",
        first_name=cells.text("first_name", required=True) or "",
        last_name=cells.text("last_name", required=True) or "",
        preferred_name=cells.text("preferred_name"),
        date_of_birth=cells.date("date_of_birth"),
        grade=cells.text("grade"),
        entry_date=cells.date("entry_date"),
        exit_date=cells.date("exit_date"),
        exit_reason=_exit_reason(cells),
        guardian_names=_unique(cells.items("guardian_names")),
        guardian_emails=cells.emails("guardian_emails"),
        guardian_phones=_unique(cells.items("guardian_phones")),
        student_emails=cells.emails("student_emails"),
        student_handles=cells.handles("student_handles"),
        mailing_address=cells.text("mailing_address"),
    )
    # An exit without a reason (or the reverse) is a half-typed row: retention would
    # start a clock on a guess, so both are asked for together.
    has_date, has_reason = bool(cells.values.get("exit_date")), bool(cells.values.get("exit_reason"))
    if has_date and not has_reason:
        cells.fail("exit_date is set but exit_reason is empty: give both or neither")
    if has_reason and not has_date:
        cells.fail("exit_reason is set but exit_date is empty: give both or neither")
    if row.entry_date and row.exit_date and row.exit_date < row.entry_date:
        cells.fail(f"exit_date {row.exit_date} is before entry_date {row.entry_date}")
    return row


def _exit_reason(cells: _Cells) -> str | None:
    value = cells.text("exit_reason")
    if value is None:
        return None
    if value.lower() not in EXIT_REASONS:
        cells.fail(f"exit_reason '{value}' is not one of {', '.join(EXIT_REASONS)} (or empty)")
        return None
    return value.lower()


def _staff(cells: _Cells) -> StaffRow:
    return StaffRow(
        line=cells.line,
        staff_id=cells.text("staff_id", required=True) or "",
        first_name=cells.text("first_name", required=True) or "",
        last_name=cells.text("last_name", required=True) or "",
        role=cells.text("role"),
        school_emails=cells.emails("school_emails"),
        personal_emails=cells.emails("personal_emails"),
        phones=_unique(cells.items("phones")),
        handles=cells.handles("handles"),
        exit_date=cells.date("exit_date"),
    )


# --- the file as a whole -----------------------------------------------------------------


@dataclass
class _Layout:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    id_column: str
    build: Callable[[_Cells], StudentRow | StaffRow]
    positions: dict[str, int] = field(default_factory=dict)


def _header(line: int, cells: list[str], layout: _Layout) -> tuple[list[RowError], list[RowError]]:
    """Map known columns to positions; (errors, warnings) about the header row."""
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in cells]
    known = set(layout.required) | set(layout.optional)
    errors: list[RowError] = []
    for position, name in enumerate(names):
        if name in known:
            if name in layout.positions:
                errors.append(RowError(line, f"column {name} appears more than once in the header"))
            layout.positions.setdefault(name, position)
    missing = [name for name in layout.required if name not in layout.positions]
    if missing:
        errors.append(RowError(line, f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"))
    unknown = [cells[i].strip() or f"(column {i + 1}, no name)" for i, name in enumerate(names) if name not in known]
    warnings = [RowError(line, f"ignored unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")] if unknown else []
    return errors, warnings


def _parse(source: Source, layout: _Layout) -> ParsedDirectory[Any]:
    text, decode_error, digest = _read_text(source)
    if decode_error is not None or text is None:
        return ParsedDirectory((), (decode_error or RowError(1, NOT_UTF8),), unreadable=True, sha256=digest)
    rows: list[StudentRow | StaffRow] = []
    errors: list[RowError] = []
    warnings: list[RowError] = []
    ids: dict[str, int] = {}  # id -> line of its first row, for duplicates
    named: set[str] = set()  # ids of rows too malformed to check
    records = _records(text)
    try:
        first = next(records, None)
        if first is None:
            reason = f"the file is empty: the first line must name the columns ({', '.join(layout.required)})"
            return ParsedDirectory((), (RowError(1, reason),), unreadable=True, sha256=digest)
        header_errors, warnings = _header(*first, layout)
        if header_errors:
            return ParsedDirectory((), tuple(header_errors), tuple(warnings), unreadable=True, sha256=digest)
        width = len(first[1])
        for line, cells in records:
            if len(cells) != width:
                id_position = layout.positions[layout.id_column]
                if id_position < len(cells) and cells[id_position].strip():
                    named.add(cells[id_position].strip())
                errors.append(RowError(line, f"row has {len(cells)} values but the header has {width} columns (a comma inside a value needs quotes)"))
                continue
            values = {name: cells[pos].strip() for name, pos in layout.positions.items()}
            checked = _Cells(line, values)
            row = layout.build(checked)
            row_id = values[layout.id_column]
            if row_id:
                if row_id in ids:
                    checked.fail(f"{layout.id_column} '{row_id}' already appears on line {ids[row_id]}")
                else:
                    ids[row_id] = line
            if checked.errors:
                errors.extend(checked.errors)
            else:
                rows.append(row)
    except _BrokenQuoting as broken:
        errors.append(RowError(broken.line, f'a quoted value starting on this line is never closed or is followed by stray text ({broken.detail}): check for a stray " character; the rest of the file cannot be read'))
        return ParsedDirectory(tuple(rows), tuple(errors), tuple(warnings), frozenset(layout.positions), frozenset(named | ids.keys()), True, digest)
    return ParsedDirectory(tuple(rows), tuple(errors), tuple(warnings), frozenset(layout.positions), frozenset(named | ids.keys()), False, digest)


def parse_roster(source: Source) -> ParsedDirectory[StudentRow]:
    """Read ``roster.csv`` (cli.md, "CSV inputs") from a path or an open file."""
    return _parse(source, _Layout(ROSTER_REQUIRED, ROSTER_OPTIONAL, "student_id", _student))


def parse_staff(source: Source) -> ParsedDirectory[StaffRow]:
    """Read ``staff.csv`` (cli.md, "CSV inputs") from a path or an open file."""
    return _parse(source, _Layout(STAFF_REQUIRED, STAFF_OPTIONAL, "staff_id", _staff))


__all__ = [
    "EXIT_REASONS",
    "NOT_UTF8",
    "ParsedDirectory",
    "RowError",
    "StaffRow",
    "StudentRow",
    "parse_roster",
    "parse_staff",
]
