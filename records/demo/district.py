"""A small fictional district, generated the same way every time (no real person in it).

Names are drawn from common given names and surnames; phone numbers use the 555-01xx
range reserved for fiction; e-mail domains are under ``example.org``/``example.net``.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

FIRST_NAMES = [
    "Maya", "Liam", "Sofia", "Noah", "Katherine", "José", "Zoë", "Ethan", "Ava", "Mateo",
    "Chloe", "Lucas", "Isabella", "Mason", "Amara", "Elijah", "Harper", "Wei", "Priya", "Owen",
    "Nora", "Gabriel", "Leah", "Samuel", "Aaliyah", "Daniel", "Fatima", "Henry", "Grace", "Diego",
]
LAST_NAMES = [
    "Rivera", "Nguyen", "O'Brien", "Santos", "Kowalski", "Okafor", "Martin", "Chen", "Murphy",
    "Garcia-Lopez", "Patel", "Sullivan", "Haddad", "Silva", "Doyle", "Kim", "Fitzgerald", "Costa",
]
PREFERRED = {"Katherine": "Katie", "Samuel": "Sam", "Daniel": "Danny", "Elijah": "Eli"}
PARENT_NAMES = ["Ana", "Mark", "Lucia", "Tom", "Mei", "Ravi", "Claire", "Joao", "Nadia", "Peter", "Rosa", "Kevin"]
STAFF = [
    ("T100", "Elena", "Marsh", "Grade 7 English teacher"),
    ("T101", "Brian", "Costello", "Grade 8 science teacher"),
    ("T102", "Aisha", "Rahman", "School counselor"),
    ("T103", "David", "Lindqvist", "Athletics coach"),
    ("T104", "Maria", "Ferreira", "Special education coordinator"),
    ("T105", "George", "Palmer", "Assistant principal"),
    ("T106", "Hannah", "Weiss", "Grade 6 math teacher"),
    ("T107", "Robert", "Quinn", "Bus coordinator"),
]


@dataclass(frozen=True)
class DemoFiles:
    roster: Path
    staff: Path
    students: int
    staff_members: int


# Numbers the week's samples use for the Rivera family and a staff member's sister.
_SAMPLE_PHONES = {"+16175550142", "+16175550199"}


def _phone(rng: random.Random) -> str:
    while True:
        number = f"+1617555{rng.randint(100, 199):04d}"
        if number not in _SAMPLE_PHONES:
            return number


def write_district(folder: Path, *, seed: int = 2026, students: int = 30) -> DemoFiles:
    """Write ``roster.csv`` and ``staff.csv`` for the demo into ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    roster = folder / "roster.csv"
    with roster.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([
            "student_id", "first_name", "last_name", "preferred_name", "date_of_birth", "grade",
            "entry_date", "exit_date", "exit_reason", "guardian_names", "guardian_emails",
            "guardian_phones", "student_emails", "student_handles", "mailing_address",
        ])
        for n in range(students):
            first = FIRST_NAMES[n % len(FIRST_NAMES)]
            last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
            grade = rng.randint(6, 12)
            born = dt.date(2026 - 6 - grade, rng.randint(1, 12), rng.randint(1, 28))
            entry = dt.date(born.year + 5, 8, 28)
            exit_date, reason = "", ""
            if n % 10 == 7:  # a few who graduated long ago: their temporary records are due
                grade = 12
                born = dt.date(2000, rng.randint(1, 12), rng.randint(1, 28))
                entry = dt.date(2005, 8, 29)
                exit_date, reason = dt.date(2018, 6, 15).isoformat(), "graduated"
            elif n % 10 == 3:
                exit_date, reason = dt.date(2023, 1, 20).isoformat(), "transferred"
            parent = PARENT_NAMES[rng.randrange(len(PARENT_NAMES))]
            phone = _phone(rng)
            if n < 2:  # Maya and Liam Rivera, the siblings of the week's samples (samples.py)
                last, parent, phone = "Rivera", "Ana", "+16175550142"
            slug = f"{first.lower().replace('é', 'e').replace('ë', 'e')}.{last.lower().replace(chr(39), '')}"
            writer.writerow([
                f"S{1000 + n}", first, last, PREFERRED.get(first, ""), born.isoformat(), str(grade),
                entry.isoformat(), exit_date, reason, f"{parent} {last}",
                f"{parent.lower()}.{last.lower().replace(chr(39), '')}@example.net",
                phone, f"{slug}@students.example.org",
                f"instagram:{slug}.{born.year}", f"{rng.randint(1, 400)} Elm Street, Springfield, MA",
            ])
    staff = folder / "staff.csv"
    with staff.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        # Columns in another order than the roster's documentation: any order is fine.
        writer.writerow(["staff_id", "last_name", "first_name", "role", "school_emails", "personal_emails", "phones", "handles", "exit_date"])
        for staff_id, first, last, role in STAFF:
            writer.writerow([
                staff_id, last, first, role, f"{first[0].lower()}{last.lower()}@schools.example.org",
                f"{first.lower()}{rng.randint(10, 99)}@example.com", _phone(rng),
                f"facebook:{first} {last};x:@{first.lower()}_{last.lower()}", "",
            ])
    return DemoFiles(roster=roster, staff=staff, students=students, staff_members=len(STAFF))
