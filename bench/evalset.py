"""A labelled evaluation set for classification: inputs in every format, and the truth.

    .venv/bin/python bench/evalset.py OUT_DIR [--seed N] [--small]

or ``from bench.evalset import generate; generate(out_dir, seed=...)`` (returns the path
of ``labels.json``). Deterministic for a seed; no network; only the project's libraries.

OUT_DIR receives ``roster.csv`` (40 fictional students), ``staff.csv`` (8 staff),
``files/tune/...`` and ``files/report/...`` and ``labels.json``: one entry per record the
engine should produce, with its path, format and locator as cli.md spells them, the staff
member to pass as ``--staff``, the students it identifies, its series, the hard cases it
carries and the ids of the templates its text was written from. Texts come from
``evalset_text`` (several wordings per series and per kind of correspondent, with typos
and passing mentions).

The report split is unseen wording. Every template (each entry of every pool: chat
scripts, email subjects and bodies, greetings, sign-offs, forwarding notes, X posts) has
exactly one split, fixed whatever the seed (``TEMPLATE_SPLIT``: entries alternate between
the splits within a pool, and entries whose wording is the same once names are removed
share a split). Each input file is wholly in one split, decided before any of its text is
chosen (``Generator.begin_file``: the files of a kind alternate between the splits, the
first going to the split with fewer records so far), and its texts are then drawn only
from that split's templates. So rules tuned on ``tune`` have never seen the wording of
``report``; names, dates, classes and places (fill-ins, not wording) are shared.

Everyone here is fictional: phone numbers are in the 555-01xx range, domains under
``example.org``/``example.net``/``example.com``. Outlook ``.msg`` files are not made: no
installed library writes the OLE compound format (extract-msg only reads it).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import email.message
import email.utils
import hashlib
import json
import random
import re
import textwrap
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

try:  # run as a script (bench/ on sys.path) or imported as bench.evalset
    import evalset_text as T  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on how it is started
    from bench import evalset_text as T

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
SCHOOL = "schools.example.org"
RECORDS_MAILBOX = "records@schools.example.org"

# ----------------------------------------------------------------------------- people


@dataclass
class Guardian:
    name: str
    email: str
    phone: str  # as the roster writes it
    e164: str


@dataclass
class Student:
    sid: str
    first: str
    last: str
    preferred: str = ""
    nicks: tuple[str, ...] = ()
    grade: int = 7
    family: str = ""
    exit_date: dt.date | None = None
    exit_reason: str = ""
    guardians: list[Guardian] = field(default_factory=list)
    emails: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    ig: str = ""  # the Instagram username used in exports (may be absent from the roster)
    x_id: str = ""  # numeric X id: never in the roster (x-id-unknown)

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Staff:
    sid: str
    first: str
    last: str
    title: str
    role: str
    phone: str
    personal_email: str
    ig: str
    x_handle: str
    x_id: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def courtesy(self) -> str:
        return f"{self.title} {self.last}"

    @property
    def email(self) -> str:
        return f"{self.first[0].lower()}{self.last.lower()}@{SCHOOL}"


# (first, last, preferred, nicknames, grade, family, guardians "Name|title", exit, reason, student email?, handles)
ROSTER_SPEC: list[tuple[Any, ...]] = [
    ("Maya", "Rivera", "", (), 7, "rivera", ["Ana Rivera"], None, "", True, ("instagram:maya.r.2014",)),
    ("Lucas", "Rivera", "", ("Luke",), 4, "rivera", ["Ana Rivera", "Marco Rivera"], None, "", False, ()),
    ("Katherine", "Nguyen", "Katie", ("Kate", "Katie"), 8, "nguyen", ["Mei Tran", "Duc Nguyen"], None, "", True, ("instagram:katie.ng08",)),
    ("William", "Nguyen", "", ("Will", "Billy"), 6, "nguyen", ["Mei Tran", "Duc Nguyen"], None, "", False, ()),
    ("Sofia", "Garcia-Lopez", "", (), 10, "garcialopez", ["Lucia Lopez", "Carlos Garcia"], None, "", True, ("instagram:sofi.gl",)),
    ("Mateo", "Garcia-Lopez", "", (), 7, "garcialopez", ["Lucia Lopez", "Carlos Garcia"], None, "", False, ()),
    ("Maya", "Okafor", "", (), 7, "okafor", ["Ngozi Okafor"], None, "", False, ()),
    ("Chidi", "Okafor", "", (), 9, "okafor", ["Ngozi Okafor"], None, "", True, ("x:@chidi_o",)),
    ("Liam", "O'Brien", "", (), 8, "obrien", ["Kevin O'Brien"], None, "", False, ()),
    ("Liam", "Patel", "", (), 10, "patel", ["Priya Patel"], None, "", True, ("instagram:liam.patel.10",)),
    ("Alexander", "Chen", "Alex", ("Alex",), 11, "chen", ["Wei Chen"], None, "", True, ("x:@alexchen_11",)),
    ("Elizabeth", "Sullivan", "", ("Liz", "Beth", "Lizzie"), 9, "walsh", ["Peter Walsh", "Karen Sullivan"], None, "", True, ()),
    ("Benjamin", "Walsh", "", ("Ben",), 7, "walsh", ["Peter Walsh"], None, "", False, ()),
    ("Jonathan", "Haddad", "Jon", ("Jon", "Johnny"), 12, "haddad", ["Rami Haddad"], dt.date(2025, 6, 6), "graduated", True, ("instagram:jon.haddad",)),
    ("José", "Nuñez", "", ("Pepe",), 8, "nunez", ["Rosa Mendes"], None, "", False, ()),
    ("Zoë", "Martin", "", (), 6, "martin", ["Claire Martin"], None, "", False, ()),
    ("Chloé", "Dubois", "", (), 10, "dubois", ["Sophie Dubois"], None, "", True, ("instagram:chloe.dbs",)),
    ("Daniel", "de la Cruz", "Danny", ("Danny",), 7, "delacruz", ["Marisol de la Cruz"], None, "", False, ()),
    ("Ava", "Kowalski", "", (), 6, "kowalski", ["Tom Kowalski"], None, "", False, ()),
    ("Noah", "Fitzgerald", "", (), 11, "fitzgerald", ["Erin Fitzgerald"], None, "", True, ("x:@noahfitz",)),
    ("Aaliyah", "Johnson", "", ("Leelee",), 9, "johnson", ["Tasha Johnson"], None, "", True, ()),
    ("Ethan", "Kim", "", (), 12, "kim", ["Soo-jin Kim"], dt.date(2023, 6, 9), "graduated", True, ()),
    ("Isabella", "Costa", "Bella", ("Bella", "Izzy"), 8, "costa", ["João Costa"], None, "", False, ()),
    ("Mason", "Murphy", "", (), 7, "murphy", ["Brendan Murphy"], dt.date(2024, 1, 19), "transferred", False, ()),
    ("Fatima", "Rahimi", "", (), 10, "rahimi", ["Nadia Rahimi"], None, "", True, ("instagram:fatima.rhm",)),
    ("Henry", "Doyle", "", ("Hank",), 6, "doyle", ["Kathleen Doyle"], None, "", False, ()),
    ("Grace", "Silva", "", ("Gracie",), 11, "silva", ["Marco Silva"], None, "", True, ("x:@gracesilva",)),
    ("Diego", "Ramirez", "", (), 9, "ramirez", ["Elena Ramirez"], None, "", True, ()),
    ("Priya", "Sharma", "", (), 8, "sharma", ["Ravi Sharma"], None, "", False, ()),
    ("Owen", "Sullivan", "", (), 7, "osullivan", ["Maureen Sullivan"], None, "", False, ()),
    ("Gabriel", "Santos", "Gabe", ("Gabe",), 12, "santos", ["Paulo Santos"], dt.date(2024, 6, 7), "graduated", True, ("x:@gabesantos",)),
    ("Leah", "Goldberg", "", (), 6, "goldberg", ["Rachel Goldberg"], None, "", False, ()),
    ("Samuel", "Osei", "Sam", ("Sam", "Sammy"), 9, "osei", ["Kwame Osei"], None, "", True, ()),
    ("Nicholas", "Papadopoulos", "", ("Nick", "Nicky"), 11, "papadopoulos", ["Eleni Papadopoulos"], None, "", True, ("instagram:nick.papa",)),
    ("Amara", "Okafor-Bello", "", (), 8, "bello", ["Funmi Bello"], None, "", False, ()),
    ("Xiomara", "Reyes", "Xio", ("Xio",), 9, "reyes", ["Luz Reyes"], None, "", True, ()),
    ("Matthew", "O'Connor", "", ("Matt",), 12, "oconnor", ["Sean O'Connor"], dt.date(2025, 6, 6), "graduated", True, ()),
    ("Elijah", "Brooks", "Eli", ("Eli",), 7, "brooks", ["Monique Brooks"], None, "", False, ()),
    ("Hannah", "Kaplan", "", (), 6, "kaplan", ["Dana Kaplan"], None, "", False, ()),
    ("Inés", "Ibáñez", "", (), 9, "ibanez", ["Javier Ibáñez"], dt.date(2022, 12, 16), "withdrawn", True, ()),
]

STAFF_SPEC = [
    ("T100", "Elena", "Marsh", "Ms.", "Grade 7 English teacher"),
    ("T101", "Brian", "Costello", "Mr.", "Grade 8 science teacher"),
    ("T102", "Aisha", "Rahman", "Ms.", "School counselor"),
    ("T103", "David", "Lindqvist", "Coach", "Athletics coach"),
    ("T104", "Maria", "Ferreira", "Ms.", "Special education coordinator"),
    ("T105", "George", "Palmer", "Mr.", "Assistant principal and records access officer"),
    ("T106", "Hannah", "Weiss", "Ms.", "Grade 6 math teacher"),
    ("T107", "Robert", "Quinn", "Mr.", "Bus coordinator"),
]

# People in staff members' private lives; first names that are also students' first names on purpose.
RELATIVES = {
    "T100": [("Maya Delgado", "niece", "Maya"), ("Sam Marsh", "brother", None), ("Carol Marsh", "mother", None)],
    "T101": [("Liam Costello", "nephew", "Liam"), ("Jen Costello", "wife", None), ("Mike Duffy", "friend", None)],
    "T102": [("Grace Rahman", "sister", "Grace"), ("Omar Rahman", "husband", None), ("Tina Lee", "friend", None)],
    "T103": [("Ava Lindqvist", "daughter", "Ava"), ("Erik Lindqvist", "brother", None), ("Pat Moreno", "friend", None)],
    "T104": [("Sofia Ferreira", "niece", "Sofia"), ("Paulo Ferreira", "husband", None), ("Ines Costa", "friend", None)],
    "T105": [("Noah Palmer", "son", "Noah"), ("Linda Palmer", "wife", None), ("Rick Stone", "friend", None)],
    "T106": [("Leah Weiss", "niece", "Leah"), ("Josh Weiss", "brother", None), ("Amy Cho", "friend", None)],
    "T107": [("Henry Quinn", "grandson", "Henry"), ("Barbara Quinn", "wife", None), ("Al Fisher", "friend", None)],
}
HR = ("Linda Howe", "Ms. Howe", "lhowe@schools.example.org")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _strip_accents(text).lower())


def _fmt_phone(e164: str, style: int) -> str:
    area, mid, last = e164[2:5], e164[5:8], e164[8:]
    return [f"({area}) {mid}-{last}", f"{area}-{mid}-{last}", e164, f"{area}{mid}{last}", f"{area}.{mid}.{last}", f"+1 {area} {mid} {last}"][style % 6]


class People:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        used_ids: set[str] = set()

        def x_id() -> str:
            while True:
                value = str(rng.randint(10**17, 10**19 - 1))
                if value not in used_ids:
                    used_ids.add(value)
                    return value

        self.x_id = x_id
        phone_n = iter(range(100, 200))
        families: dict[str, list[Guardian]] = {}
        self.students: list[Student] = []
        for n, (first, last, pref, nicks, grade, fam, gnames, exit_date, reason, has_email, handles) in enumerate(ROSTER_SPEC):
            if fam not in families:
                guardians = []
                for gname in gnames:
                    e164 = f"+1617555{next(phone_n):04d}"
                    style = rng.randrange(3)
                    gfirst, glast = gname.split(" ", 1)
                    email_addr = rng.choice([f"{_slug(gfirst)}.{_slug(glast)}@example.net", f"{_slug(gfirst)}{_slug(glast)}{rng.randint(10, 99)}@example.com",
                                             f"{_slug(gfirst)[0]}{_slug(glast)}@example.net"])
                    guardians.append(Guardian(gname, email_addr, _fmt_phone(e164, style), e164))
                families[fam] = guardians
            else:
                # a second child of the family: same guardians, and any extra guardian listed
                known = {g.name for g in families[fam]}
                for gname in gnames:
                    if gname not in known:
                        e164 = f"+1617555{next(phone_n):04d}"
                        gfirst, glast = gname.split(" ", 1)
                        families[fam].append(Guardian(gname, f"{_slug(gfirst)}.{_slug(glast)}@example.net", _fmt_phone(e164, 0), e164))
            guardians = [g for g in families[fam] if g.name in gnames]
            slug = f"{_slug(first)}.{_slug(last)}"
            st = Student(
                sid=f"S{2001 + n}", first=first, last=last, preferred=pref, nicks=tuple(nicks), grade=grade, family=fam,
                exit_date=exit_date, exit_reason=reason, guardians=guardians,
                emails=(f"{slug}@students.example.org",) if has_email else (), handles=tuple(handles),
            )
            ig = [h.split(":", 1)[1] for h in handles if h.startswith("instagram:")]
            st.ig = ig[0] if ig else f"{_slug(first)}_{_slug(last)[:4]}{rng.randint(1, 99)}"
            st.x_id = x_id()
            self.students.append(st)
        self.by_family: dict[str, list[Student]] = {}
        for st in self.students:
            self.by_family.setdefault(st.family, []).append(st)
        self.first_counts = Counter(s.first for s in self.students)
        self.staff: list[Staff] = []
        for n, (sid, first, last, title, role) in enumerate(STAFF_SPEC):
            self.staff.append(Staff(sid, first, last, title, role, f"+1508555{n + 110:04d}", f"{_slug(first)}.{_slug(last)}.home@example.com",
                                    f"{title.lower().rstrip('.')}.{_slug(last)}", f"{first}{last}Edu", x_id()))
        self.staff_by_id = {s.sid: s for s in self.staff}
        self.guardian_x: dict[str, str] = {}
        self.personal_phone: dict[str, str] = {}
        self._personal_n = iter(range(100, 200))

    def guardian_xid(self, guardian: Guardian) -> str:
        return self.guardian_x.setdefault(guardian.name, self.x_id())

    def personal_e164(self, name: str) -> str:
        if name not in self.personal_phone:
            self.personal_phone[name] = f"+1781555{next(self._personal_n):04d}"
        return self.personal_phone[name]

    def write_roster(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["student_id", "first_name", "last_name", "preferred_name", "date_of_birth", "grade", "entry_date", "exit_date",
                             "exit_reason", "guardian_names", "guardian_emails", "guardian_phones", "student_emails", "student_handles", "mailing_address"])
            for st in self.students:
                born = dt.date(2025 - 6 - st.grade, 1 + int(st.sid[1:]) % 12, 1 + int(st.sid[1:]) % 27)
                entry = dt.date(born.year + 5, 8, 28)
                writer.writerow([
                    st.sid, st.first, st.last, st.preferred, born.isoformat(), str(st.grade), entry.isoformat(),
                    st.exit_date.isoformat() if st.exit_date else "", st.exit_reason,
                    ";".join(g.name for g in st.guardians), ";".join(g.email for g in st.guardians), ";".join(g.phone for g in st.guardians),
                    ";".join(st.emails), ";".join(st.handles), f"{10 + int(st.sid[1:]) % 380} Maple Street, Springfield, MA",
                ])

    def write_staff(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["staff_id", "first_name", "last_name", "role", "school_emails", "personal_emails", "phones", "handles", "exit_date"])
            for n, s in enumerate(self.staff):
                writer.writerow([s.sid, s.first, s.last, s.role, s.email, s.personal_email, _fmt_phone(s.phone, n),
                                 f"facebook:{s.full};instagram:{s.ig};x:@{s.x_handle}", ""])


# ----------------------------------------------------------------------------- records


@dataclass
class Rec:
    """One expected record: content plus its truth."""

    series: str
    students: list[str]
    tags: set[str]
    note: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # chats: (M|T|U, text)
    subject: str = ""
    body: str = ""
    direction: str = "in"
    times: list[dt.datetime] = field(default_factory=list)  # aware, one per turn (or one for an email)
    names: list[str] = field(default_factory=list)  # the students as the text names them
    templates: list[str] = field(default_factory=list)  # ids of the wordings used (evalset_text pools)
    # filled by the writers
    fmt: str = ""
    locator: str | None = None


@dataclass
class Party:
    """The other side of a conversation."""

    kind: str  # guardian | guardian-pair | student | staff | personal | group | requester | hr
    name: str
    students: list[Student] = field(default_factory=list)  # whose guardian / which student(s)
    guardian: Guardian | None = None
    staff: Staff | None = None
    relative_first: str | None = None
    members: list["Party"] = field(default_factory=list)  # for a group
    email: str = ""
    e164: str = ""


def school_year(moment: dt.datetime) -> str:
    local = moment.astimezone(NY)
    start = local.year if local.month >= 7 else local.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


SCHOOL_YEARS = [2020, 2021, 2022, 2023, 2024]


class Maker:
    """Fills templates into records, with names written the way people write them."""

    def __init__(self, people: People, rng: random.Random) -> None:
        self.p = people
        self.rng = rng
        self.short: dict[str, str] = {}

    # -- names
    def ref(self, st: Student, guardian_present: bool, tags: set[str]) -> str:
        rng = self.rng
        shared = self.p.first_counts[st.first] > 1
        options: list[tuple[str, str | None]] = [(st.first, None)]
        if st.preferred:
            options += [(st.preferred, "preferred-name")] * 3
        for nick in st.nicks:
            if nick != st.preferred:
                options.append((nick, "nickname"))
        if st.first != _strip_accents(st.first):
            options += [(_strip_accents(st.first), "accent"), (st.first, "accent")]
        fulls = [f"{st.first} {st.last}"]
        if "-" in st.last:
            fulls += [f"{st.first} {st.last.replace('-', ' ')}", f"{st.first} {st.last.replace('-', '')}"]
        if st.last.startswith("de la"):
            fulls += [f"{st.first} De La Cruz", f"{st.first} Delacruz"]
        if _strip_accents(st.full) != st.full:
            fulls.append(_strip_accents(st.full))
        if shared and not guardian_present:
            options = [(f, None) for f in fulls] + [(f"{st.first} {st.last[0]}.", None)]
        else:
            options += [(rng.choice(fulls), None)]
        text, tag = rng.choice(options)
        if tag:
            tags.add(tag)
        # later mentions in the same text: what people call the student once introduced
        if tag in ("preferred-name", "nickname", "accent"):
            self.short[text] = text
        else:
            self.short[text] = st.preferred or (_strip_accents(st.first) if text == _strip_accents(text) else st.first)
        if shared:
            tags.add("same-first-name")
        if st.first != _strip_accents(st.first) or st.last != _strip_accents(st.last):
            tags.add("accent")
        if ("-" in st.last or " " in st.last) and len(text.split()) > 1 and not text.endswith("."):
            tags.add("hyphenated-surname")
        if text == st.preferred and st.preferred in st.nicks:
            tags.add("preferred-name")
        return text

    # -- dates
    def day_in_year(self, start: int, personal: bool = False, before: dt.date | None = None) -> dt.datetime:
        rng = self.rng
        lo = dt.date(start, 7, 5) if personal else dt.date(start, 9, 3)
        hi = dt.date(start + 1, 6, 24) if personal else dt.date(start + 1, 6, 12)
        if start == 2020:
            lo = dt.date(2021, 1, 4)
        if before is not None:
            hi = min(hi, before - dt.timedelta(days=3))
        if hi <= lo:
            hi = lo + dt.timedelta(days=1)
        day = lo + dt.timedelta(days=rng.randrange((hi - lo).days))
        hour = rng.choice([6, 7, 7, 8, 12, 15, 16, 17, 18, 19, 20, 20, 21, 22])
        return dt.datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=NY)

    def year_for(self, students: list[Student], personal: bool = False, avoid: set[int] | None = None) -> tuple[int, dt.date | None]:
        before = min((s.exit_date for s in students if s.exit_date), default=None)
        years = [y for y in SCHOOL_YEARS if before is None or dt.date(y, 10, 1) < before]
        choices = [y for y in years if not avoid or y not in avoid] or years
        return self.rng.choice(choices), before

    def spread(self, start: dt.datetime, count: int) -> list[dt.datetime]:
        times = [start]
        for _ in range(count - 1):
            step = dt.timedelta(minutes=self.rng.choice([1, 2, 3, 5, 8, 15, 40, 90])) if self.rng.random() < 0.85 else dt.timedelta(hours=self.rng.choice([10, 14, 20]))
            times.append(times[-1] + step)
        return times

    # -- text
    def values(self, owner: Staff, party: Party, students: list[str], rng: random.Random) -> dict[str, str]:
        colleague = party.staff if party.kind in ("staff",) and party.staff else rng.choice([s for s in self.p.staff if s.sid != owner.sid])
        if party.kind == "hr":
            of, o = "Linda", "Ms. Howe"
        else:
            of, o = colleague.first, colleague.courtesy
        g = party.guardian
        v = {
            "t": owner.courtesy, "tf": owner.first, "me": owner.full, "role": owner.role,
            "o": o, "of": of,
            "g": g.name.split()[0] if g else "", "gfull": g.name if g else party.name,
            "day": rng.choice(T.DAYS), "day2": rng.choice(T.DAYS), "time": rng.choice(T.TIMES), "time2": rng.choice(T.TIMES),
            "date": rng.choice(["March 14", "October 3", "the 21st", "May 2", "January 9", "11/18", "Feb. 27"]),
            "subj": rng.choice(T.SUBJECTS), "place": rng.choice(T.PLACES), "rel": party.relative_first or party.name.split()[0],
            "n": str(rng.randint(2, 6)), "n2": str(rng.randint(3, 9)), "room": str(rng.choice([104, 112, 118, 203, 215, 227, 310])),
            "yr": rng.choice(["2023-24", "2024-25", "2022-23"]), "req": party.name, "cr": str(rng.randint(11, 21)), "fy": str(rng.randint(23, 25)),
            "s": students[0] if students else "", "s2": students[1] if len(students) > 1 else "", "s3": students[2] if len(students) > 2 else "",
        }
        return v

    def roughen(self, text: str, rng: random.Random, rate: float) -> str:
        """Typos and chat style outside placeholders, so names stay as chosen."""
        if rng.random() > rate:
            return text
        parts = re.split(r"(\{[a-z0-9]+\})", text)
        out = []
        for part in parts:
            if part.startswith("{") or not part.strip():
                out.append(part)
                continue
            roll = rng.random()
            if roll < 0.25:
                part = part.replace("you", "u", 1).replace("thanks", "thx", 1)
            elif roll < 0.5:
                words = part.split(" ")
                long_words = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha() and w.islower()]
                if long_words:
                    i = rng.choice(long_words)
                    w = words[i]
                    j = rng.randrange(1, len(w) - 2)
                    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
                part = " ".join(words)
            elif roll < 0.7:
                part = part.replace("'", "", 1).replace(". ", ".. ", 1)
            else:
                part = part.replace(",", "", 1)
            out.append(part)
        text = "".join(out)
        if rng.random() < 0.3 and text[:1].isupper() and not text.startswith("{"):
            text = text[0].lower() + text[1:]
        return text

    def fill(self, template: str, v: dict[str, str]) -> str:
        return template.format(**v)

    def fill_all(self, templates: list[str], v: dict[str, str]) -> list[str]:
        """Fill several strings (a chat's lines, a subject and body): a student's first
        mention as chosen, later ones by the short name."""
        v = dict(v)
        seen: set[str] = set()
        out = []
        for template in templates:
            def first_then_short(match: re.Match[str]) -> str:
                key = match.group(1)
                if key in seen:
                    return "{" + key + "_}"
                seen.add(key)
                return match.group(0)

            template = re.sub(r"\{(s|s2|s3)\}", first_then_short, template)
            for key in ("s", "s2", "s3"):
                v[key + "_"] = self.short.get(v.get(key, ""), v.get(key, ""))
            out.append(template.format(**v))
        return out


# ----------------------------------------------------------------------------- templates and splits

SPLITS = ("tune", "report")


def _pools() -> dict[str, list[Any]]:
    """Every pool of wording, by id: a template's id is ``<pool id>#<index>``."""
    pools: dict[str, list[Any]] = {}
    for (series, kind), pool in T.CHAT.items():
        pools[f"chat:{series}:{kind}"] = pool
    for (series, kind), pool in T.EMAIL.items():
        pools[f"email:{series}:{kind}"] = pool
    for series, pool in T.POSTS.items():
        pools[f"posts:{series}"] = pool
    pools["forward-note"] = T.FORWARD_NOTES
    pools["greeting-to-staff"] = T.GREETINGS_TO_STAFF
    pools["greeting-to-guardian"] = T.GREETINGS_TO_GUARDIAN
    pools["signoff-staff"] = T.SIGNOFFS_STAFF
    pools["signoff-guardian"] = T.SIGNOFFS_GUARDIAN
    return pools


POOLS = _pools()


def template_text(entry: Any) -> str:
    """A template as one string (a chat's lines without speakers; an email's subject and body)."""
    if isinstance(entry, list):
        return "\n".join(line.split("|", 1)[1] for line in entry)
    if isinstance(entry, tuple):
        return f"{entry[0]}\n{entry[1]}"
    return entry


def _name_class(entry: Any) -> tuple[bool, ...]:
    text = template_text(entry)
    return tuple(key in text for key in ("{s}", "{s2}", "{rel}"))


def normalise_wording(text: str) -> str:
    """A wording without its names and fill-ins: placeholders (or, in a written message,
    nothing) removed, lower case, punctuation and spacing folded."""
    return re.sub(r"[^a-z0-9]+", " ", re.sub(r"\{[a-z0-9_]+\}", " ", text.lower())).strip()


def _assign_splits() -> dict[str, str]:
    """Template id -> split, fixed whatever the seed. Within a pool, entries alternate
    between the splits within each class of entries that name the same people (so each
    split gets chats that name the student and chats that do not), each class starting on
    the split the one before it did not, and pools starting on alternate splits. Entries
    whose wording is the same once names are removed (``Hi {t},`` and ``Hi,``) share the
    split of the first one, in any pool."""
    by_wording: dict[str, str] = {}
    out: dict[str, str] = {}
    for n, (pid, pool) in enumerate(POOLS.items()):
        classes: dict[tuple[bool, ...], int] = {}
        seen: Counter[tuple[bool, ...]] = Counter()
        for i, entry in enumerate(pool):
            wording = normalise_wording(template_text(entry))
            if wording not in by_wording:
                cls = _name_class(entry)
                ordinal = classes.setdefault(cls, len(classes))
                by_wording[wording] = SPLITS[(seen[cls] + ordinal + n) % 2]
                seen[cls] += 1
            out[f"{pid}#{i}"] = by_wording[wording]
    return out


TEMPLATE_SPLIT = _assign_splits()


def template_by_id(tid: str) -> Any:
    pid, index = tid.rsplit("#", 1)
    return POOLS[pid][int(index)]


# ----------------------------------------------------------------------------- conversations


SERIES_BY_KIND = {
    "guardian": {"STU-TEMPORARY": 55, "CORR-TRANSITORY": 27, "STU-SPED": 10, "STU-TRANSCRIPT": 8},
    "guardian-pair": {"STU-TEMPORARY": 60, "CORR-TRANSITORY": 40},
    "student": {"STU-TEMPORARY": 45, "CORR-TRANSITORY": 35, "STU-TRANSCRIPT": 20},
    "staff": {"CORR-ADMIN": 40, "STU-TEMPORARY": 18, "CORR-TRANSITORY": 17, "STU-SPED": 12, "PERSONNEL": 13},
    "group": {"CORR-TRANSITORY": 100},
    "personal": {"NON-RECORD": 100},
    "requester": {"PUBLIC-RECORDS-REQUEST": 100},
    "hr": {"PERSONNEL": 100},
}
STAFF_NO_STUDENT = {"CORR-ADMIN", "PERSONNEL", "CORR-TRANSITORY"}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


class Conversations:
    """Builds records (chats or emails) between an owner and a party."""

    def __init__(self, people: People, rng: random.Random) -> None:
        self.p = people
        self.rng = rng
        self.m = Maker(people, rng)
        self.used_templates: Counter[str] = Counter()
        self.split = SPLITS[0]  # the split of the file being made: set by the Generator before any text is chosen

    def pick(self, pid: str, where: Any = None, prefer: Any = None) -> tuple[str, Any]:
        """(template id, template) from pool ``pid``, among the entries of the current
        split only (and those ``where`` accepts; those ``prefer`` accepts if any)."""
        pool = POOLS[pid]
        allowed = [i for i in range(len(pool)) if TEMPLATE_SPLIT[f"{pid}#{i}"] == self.split and (where is None or where(pool[i]))]
        if not allowed:
            raise ValueError(f"no template of {pid} for the {self.split} split")
        if prefer is not None:
            allowed = [i for i in allowed if prefer(pool[i])] or allowed
        # the least used of a few random candidates: every wording gets used
        candidates = [self.rng.choice(allowed) for _ in range(3)]
        best = min(candidates, key=lambda i: self.used_templates[f"{pid}#{i}"])
        self.used_templates[f"{pid}#{best}"] += 1
        return f"{pid}#{best}", pool[best]

    def _subjects(self, party: Party, series: str, tags: set[str], chat: bool) -> tuple[list[str], list[str], str]:
        """(names as written, student ids, template kind) for a party and series.

        Tags about how a name is written go to ``self.name_tags`` (one set per name), to be
        kept only for the names the chosen template uses."""
        self.name_tags = [set(), set(), set()]
        names, ids, kind = self._subjects_inner(party, series, tags)
        return names, ids, kind

    def _ref(self, st: Student, guardian_present: bool, index: int) -> str:
        return self.m.ref(st, guardian_present, self.name_tags[index])

    def _keep_name_tags(self, tags: set[str], text: str) -> None:
        for index, key in enumerate(("{s}", "{s2}", "{s3}")):
            if key in text:
                tags |= self.name_tags[index]

    def _subjects_inner(self, party: Party, series: str, tags: set[str]) -> tuple[list[str], list[str], str]:
        rng = self.rng
        if party.kind in ("personal", "requester", "hr"):
            return [], [], party.kind
        if party.kind == "staff":
            tags.add("staff-participant")
            if series in STAFF_NO_STUDENT:
                return [], [], "staff"
            st = rng.choice([s for s in self.p.students])
            return [self._ref(st, False, 0)], [st.sid], "staff"
        if party.kind == "group":
            tags.add("group-chat")
            names = [self._ref(st, False, i) for i, st in enumerate(party.students)]
            return names, [s.sid for s in party.students], "group"
        if party.kind == "student":
            st = party.students[0]
            return [self._ref(st, True, 0)], [st.sid], "student"
        # guardians
        family = party.students
        if party.guardian and any(party.guardian.name.split()[-1] != st.last for st in family):
            tags.add("guardian-surname-differs")
        if len(family) > 1:
            tags.add("sibling")
            pair_ok = ("STU-TEMPORARY", "guardian-pair") in T.CHAT and series in ("STU-TEMPORARY", "CORR-TRANSITORY")
            if pair_ok and rng.random() < 0.4:
                a, b = family[0], family[1]
                return [self._ref(a, True, 0), self._ref(b, True, 1)], [a.sid, b.sid], "guardian-pair"
            st = rng.choice(family)
            return [self._ref(st, True, 0)], [st.sid], "guardian"
        st = family[0]
        return [self._ref(st, True, 0)], [st.sid], "guardian"

    def chat(self, owner: Staff, party: Party, series: str, start: dt.datetime | None = None, year: int | None = None,
             unnamed: bool = False, named: bool = False) -> Rec:
        """A chat; ``unnamed`` prefers a wording that does not name the student (known from
        the participant only), ``named`` one that does."""
        rng = self.rng
        tags: set[str] = set()
        names, ids, kind = self._subjects(party, series, tags, True)
        pool_kind = kind if (series, kind) in T.CHAT else "guardian"

        def names_student(t: list[str]) -> bool:
            return any("{s}" in line for line in t)

        where = names_student if kind == "guardian" and len(party.students) > 1 else None
        prefer = (lambda t: not names_student(t)) if unnamed and where is None else (names_student if named else None)
        tid, template = self.pick(f"chat:{series}:{pool_kind}", where, prefer)
        text_all = " ".join(template)
        self._keep_name_tags(tags, text_all)
        if kind == "guardian" and "{s}" not in text_all:
            tags.add("guardian-participant-only")
        if kind == "personal" and party.relative_first and "{rel}" in text_all:
            tags.add("relative-shares-student-name")
        if kind == "group":
            used = [i for i, ph in enumerate(("{s}", "{s2}", "{s3}")) if ph in text_all]
            ids = [ids[i] for i in used]
        v = self.m.values(owner, party, names, rng)
        whos = [line.split("|", 1)[0] for line in template]
        texts = self.m.fill_all([self.m.roughen(line.split("|", 1)[1], rng, 0.35) for line in template], v)
        turns = list(zip(whos, texts, strict=True))
        if start is None:
            start = self._when(ids, series, year)
        used = [n for n, key in zip(names, ("{s}", "{s2}", "{s3}")) if key in text_all]
        rec = Rec(series=series, students=ids, tags=tags, note="", turns=turns, times=self.m.spread(start, len(turns)), names=used, templates=[tid])
        rec.note = self._note(owner, party, series, used, "chat")
        if ids and not used:
            rec.note += " (the student is not named: known from the participant)"
        return rec

    def email(self, owner: Staff, party: Party, series: str, year: int | None = None) -> Rec:
        rng = self.rng
        tags: set[str] = set()
        names, ids, kind = self._subjects(party, series, tags, False)
        pool_key = next(k for k in [(series, kind), (series, "guardian"), *T.EMAIL] if k in T.EMAIL and k[0] == series)
        tid, (subject, body, direction) = self.pick(f"email:{pool_key[0]}:{pool_key[1]}")
        templates = [tid]
        self._keep_name_tags(tags, subject + body)
        if kind == "personal" and party.relative_first and "{rel}" in subject + body:
            tags.add("relative-shares-student-name")
        if kind == "group":
            used = [i for i, ph in enumerate(("{s}", "{s2}", "{s3}")) if ph in subject + body]
            ids = [ids[i] for i in used]
        v = self.m.values(owner, party, names, rng)
        if not v["g"]:
            v["g"] = "all"
        for key, pid in (("hi", "greeting-to-staff" if direction == "in" else "greeting-to-guardian"),
                         ("bye", "signoff-guardian" if direction == "in" else "signoff-staff")):
            gid, text = self.pick(pid)
            if "{" + key + "}" in body:
                templates.append(gid)
            v[key] = text.format(**v)
        subject, body = self.m.fill_all([subject, self.m.roughen(body, rng, 0.25)], v)
        when = self._when(ids, series, year)
        rec = Rec(series=series, students=ids, tags=tags, note=self._note(owner, party, series, names, "email"), subject=subject, body=body,
                  direction=direction, times=[when], names=names, templates=templates)
        return rec

    def _when(self, ids: list[str], series: str, year: int | None) -> dt.datetime:
        students = [s for s in self.p.students if s.sid in ids]
        yr, before = self.m.year_for(students, personal=series == "NON-RECORD")
        if year is not None:
            yr = year
        return self.m.day_in_year(yr, personal=series == "NON-RECORD", before=before)

    def _note(self, owner: Staff, party: Party, series: str, names: list[str], channel: str) -> str:
        about = f" about {', '.join(names)}" if names else ""
        who = {"guardian": f"guardian {party.name}", "guardian-pair": f"guardian {party.name}", "student": f"student {party.name}",
               "staff": f"colleague {party.name}", "personal": f"{party.name} (private)", "group": f"group {party.name}",
               "requester": f"requester {party.name}", "hr": "HR"}[party.kind]
        return f"{series} {channel} {owner.full} with {who}{about}"

    # -- parties
    def guardian_party(self, st_family: list[Student], guardian: Guardian | None = None) -> Party:
        guardian = guardian or st_family[0].guardians[0]
        kind = "guardian"
        return Party(kind, guardian.name, students=list(st_family), guardian=guardian, email=guardian.email, e164=guardian.e164)

    def family_party(self, family: str) -> Party:
        members = self.p.by_family[family]
        shared = [g for g in members[0].guardians if all(g.name in {h.name for h in m.guardians} for m in members)]
        guardian = self.rng.choice(shared or members[0].guardians)
        return self.guardian_party(members, guardian)

    def student_party(self, st: Student) -> Party:
        return Party("student", st.full, students=[st], email=st.emails[0] if st.emails else "")

    def staff_party(self, owner: Staff) -> Party:
        other = self.rng.choice([s for s in self.p.staff if s.sid != owner.sid])
        return Party("staff", other.full, staff=other, email=other.email, e164=other.phone)

    def personal_party(self, owner: Staff, index: int) -> Party:
        name, _rel, first = RELATIVES[owner.sid][index % len(RELATIVES[owner.sid])]
        return Party("personal", name, relative_first=first, email=f"{_slug(name.split()[0])}.{_slug(name.split()[-1])}@example.com",
                     e164=self.p.personal_e164(name))

    def group_party(self, students: list[Student], title: str) -> Party:
        members = [self.guardian_party([s]) for s in students]
        return Party("group", title, students=students, members=members)


# ----------------------------------------------------------------------------- file writers


@dataclass
class OutFile:
    kind: str  # folder under files/<split>/
    name: str
    staff_id: str | None
    records: list[Rec]
    write: Any  # callable(path) -> None
    split: str = ""  # decided before any of its text (Generator.begin_file)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def _email_message(frm: str, to: str, subject: str, when: dt.datetime, body: str, message_id: str | None) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = frm
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(when)
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    return message


def _addr(name: str, address: str) -> str:
    return email.utils.formataddr((name, address))


class Writers:
    def __init__(self, people: People, rng: random.Random) -> None:
        self.p = people
        self.rng = rng
        self._ids: set[str] = set()
        self._n = 0

    def uid(self, digits: int = 10) -> str:
        while True:
            value = "".join(self.rng.choice("0123456789") for _ in range(digits))
            if value not in self._ids and value[0] != "0":
                self._ids.add(value)
                return value

    def message_id(self, domain: str) -> str:
        self._n += 1
        return f"<{self.rng.getrandbits(64):016x}.{self._n}@{domain}>"

    # -- email headers for a record
    def email_parts(self, owner: Staff, party: Party, rec: Rec, personal_account: bool = False) -> tuple[str, str]:
        mine = _addr(owner.full, owner.personal_email if personal_account else owner.email)
        if party.kind == "requester":
            theirs = _addr(party.name, party.email)
            if rec.direction == "out":
                mine = _addr(f"{owner.full}, Records Access Officer", RECORDS_MAILBOX)
        elif party.kind == "group":
            theirs = ", ".join(_addr(m.name, m.email) for m in party.members)
        else:
            theirs = _addr(party.name, party.email)
        return (theirs, mine) if rec.direction == "in" else (mine, theirs)

    def build_email(self, owner: Staff, party: Party, rec: Rec, *, personal_account: bool = False, message_id: bool = True) -> bytes:
        frm, to = self.email_parts(owner, party, rec, personal_account)
        domain = frm.rsplit("@", 1)[1].rstrip(">")
        mid = self.message_id(domain) if message_id else None
        message = _email_message(frm, to, rec.subject, rec.times[0], rec.body, mid)
        raw = bytes(message)
        rec.locator = mid if mid else "sha256:" + hashlib.sha256(raw).hexdigest()
        return raw

    def build_forward(self, owner: Staff, party: Party, rec: Rec, note: str, style: str) -> bytes:
        """The staff member forwards the original (rec) to the records mailbox."""
        frm, to = self.email_parts(owner, party, rec, personal_account="personal account" in note)
        orig_when = rec.times[0].astimezone(NY)
        if style == "gmail":
            hour = orig_when.strftime("%I").lstrip("0")
            header = (f"---------- Forwarded message ---------\nFrom: {frm}\nDate: {orig_when.strftime('%a, %b')} {orig_when.day}, {orig_when.year} at "
                      f"{hour}:{orig_when.strftime('%M %p')}\nSubject: {rec.subject}\nTo: {to}\n\n")
        else:
            name, addr = email.utils.parseaddr(frm)
            header = (f"-----Original Message-----\nFrom: {name} [mailto:{addr}]\nSent: {orig_when.strftime('%A, %B')} {orig_when.day}, {orig_when.year} "
                      f"{orig_when.strftime('%I:%M %p').lstrip('0')}\nTo: {to}\nSubject: {rec.subject}\n\n")
        fwd_when = rec.times[0] + dt.timedelta(hours=self.rng.choice([1, 3, 20, 44, 70]))
        mid = self.message_id(SCHOOL)
        prefix = "Fwd: " if style == "gmail" else "FW: "
        message = _email_message(_addr(owner.full, owner.email), RECORDS_MAILBOX, prefix + rec.subject, fwd_when, f"{note}\n\n{header}{rec.body}", mid)
        rec.locator = mid
        rec.tags.add("forward")
        rec.note += " (forwarded to the records mailbox)"
        return bytes(message)

    # -- printouts
    def email_lines(self, owner: Staff, party: Party, rec: Rec) -> list[str]:
        frm, to = self.email_parts(owner, party, rec)
        when = rec.times[0].astimezone(NY)
        lines = [f"From: {frm}", f"Sent: {when.strftime('%A, %B')} {when.day}, {when.year} {when.strftime('%I:%M %p').lstrip('0')}", f"To: {to}",
                 f"Subject: {rec.subject}", ""]
        for para in rec.body.split("\n"):
            lines += textwrap.wrap(para, 78) or [""]
        return lines

    def chat_lines(self, owner: Staff, party: Party, rec: Rec, phone_style: int) -> list[str]:
        head = party.name if self.rng.random() < 0.6 else _fmt_phone(party.e164, phone_style)
        lines = [f"Messages with {head}", ""]
        day = None
        for (who, text), when in zip(rec.turns, rec.times, strict=True):
            if when.astimezone(NY).date() != day:
                day = when.astimezone(NY).date()
                lines.append(when.astimezone(NY).strftime("%A, %B %d, %Y"))
            speaker = "Me" if who == "M" else head
            stamp = when.astimezone(NY).strftime("%I:%M %p").lstrip("0")
            lines += textwrap.wrap(f"{speaker} ({stamp}): {text}", 78)
        return lines


def _font_path() -> str:
    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"):
        if Path(candidate).exists():
            return candidate
    import reportlab

    return str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")


def write_pdf(path: Path, lines: list[str]) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "EvalSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("EvalSans", _font_path()))
    pdf = canvas.Canvas(str(path), pagesize=letter)
    pdf.setFont("EvalSans", 10.5)
    y = 740
    for line in lines:
        pdf.drawString(60, y, _EMOJI.sub("", line))
        y -= 14
    pdf.showPage()
    pdf.save()


_EMOJI = re.compile("[\U0001F000-\U0001FFFF\u2600-\u27BF]")


def write_scan(path: Path, lines: list[str], *, dpi: int, rotate: float, speckle: int, seed: int, soften: float = 1.0) -> None:
    """A printed page as a scanner or phone gives it. Damage stays light: heavy speckle
    makes Tesseract's page layout analysis take minutes (the engine's OCR timeout is 180 s)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = random.Random(seed)
    width, height = int(8.5 * dpi), int(11 * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_font_path(), size=int(dpi * 0.15))
    y = int(dpi * 0.9)
    for line in lines:
        draw.text((int(dpi * 0.9), y), _EMOJI.sub("", line), fill=rng.choice([0, 20, 45]), font=font)
        y += int(dpi * 0.23)
    for _ in range(speckle):
        x0, y0 = rng.randrange(width), rng.randrange(int(dpi * 0.8), min(height, y + dpi))
        draw.point((x0, y0), fill=rng.randrange(60, 160))
    if speckle:
        image = image.filter(ImageFilter.GaussianBlur(0.7))
    if soften > 1:  # a copy of a copy: detail lost, then scanned again at full resolution
        small = image.resize((int(width / soften), int(height / soften)), Image.Resampling.BILINEAR)
        image = small.resize((width, height), Image.Resampling.BILINEAR)
    if rotate:
        image = image.rotate(rotate, fillcolor=255, expand=False, resample=Image.Resampling.BICUBIC)
    image.save(path, "PNG", dpi=(dpi, dpi))


# ----------------------------------------------------------------------------- generation


class Generator:
    def __init__(self, seed: int, small: bool = False) -> None:
        self.seed = seed
        self.small = small
        self.rng = random.Random(seed)
        self.people = People(random.Random(seed * 7 + 1))
        self.conv = Conversations(self.people, self.rng)
        self.w = Writers(self.people, random.Random(seed * 7 + 2))
        self.files: list[OutFile] = []
        self.sms_used: set[tuple[str, str]] = set()
        self.guardians_used_sms: set[str] = set()
        self.split_rng = random.Random(seed * 31 + 7)
        self.weight = dict.fromkeys(SPLITS, 0)  # records per split so far
        self.kind_start: dict[str, int] = {}

    # -- splits
    def begin_file(self, kind: str, index: int) -> str:
        """Decide the split of the ``index``-th file of ``kind`` before any of its text is
        chosen: the files of a kind alternate between the splits, the first going to the
        split with fewer records so far (a seeded draw on a tie). Every wording then comes
        from that split's share of the pools (``TEMPLATE_SPLIT``)."""
        if kind not in self.kind_start:
            if self.weight["tune"] == self.weight["report"]:
                self.kind_start[kind] = self.split_rng.randrange(2)
            else:
                self.kind_start[kind] = SPLITS.index(min(SPLITS, key=lambda k: self.weight[k]))
        split = SPLITS[(self.kind_start[kind] + index) % 2]
        self.conv.split = split
        return split

    def add_file(self, f: OutFile) -> None:
        f.split = self.conv.split
        self.weight[f.split] += len(f.records)
        self.files.append(f)

    # -- helpers
    @property
    def staff(self) -> list[Staff]:
        return self.people.staff

    def S(self, sid: str) -> Staff:
        return self.people.staff_by_id[sid]

    def rand_student(self, *, exclude_exited: bool = False) -> Student:
        pool = [s for s in self.people.students if not (exclude_exited and s.exit_date)]
        return self.rng.choice(pool)

    def rand_family(self) -> list[Student]:
        rng = self.rng
        families = list(self.people.by_family.values())
        multi = [f for f in families if len(f) > 1]
        return rng.choice(multi) if rng.random() < 0.3 else rng.choice(families)

    def email_party(self, owner: Staff, series: str) -> Party:
        c = self.conv
        if series == "PUBLIC-RECORDS-REQUEST":
            name = self.rng.choice(T.REQUESTERS)
            return Party("requester", name, email=f"{_slug(name.split()[0])}.{_slug(name.split()[-1])}@example.com")
        if series == "PERSONNEL":
            return Party("hr", HR[0], email=HR[2]) if self.rng.random() < 0.75 else c.staff_party(owner)
        if series == "CORR-ADMIN":
            return c.staff_party(owner)
        if series == "NON-RECORD":
            return c.personal_party(owner, self.rng.randrange(3))
        roll = self.rng.random()
        if series == "CORR-TRANSITORY" and roll < 0.12:
            return c.group_party(self.rng.sample(self.people.students, 3), "chaperones")
        if roll < 0.18 and series in ("STU-TEMPORARY", "STU-SPED", "STU-TRANSCRIPT", "CORR-TRANSITORY"):
            return c.staff_party(owner)
        return c.family_party(self.rand_family()[0].family)

    # -- formats
    def single_emails(self, count: int) -> None:
        mix = {"STU-TEMPORARY": 20, "CORR-TRANSITORY": 10, "CORR-ADMIN": 14, "STU-SPED": 14, "STU-TRANSCRIPT": 8, "PUBLIC-RECORDS-REQUEST": 22, "PERSONNEL": 16}
        for n in range(count):
            self.begin_file("eml", n)
            series = _weighted(self.rng, mix)
            owner = self.S("T105") if series == "PUBLIC-RECORDS-REQUEST" else self.rng.choice(self.staff)
            party = self.email_party(owner, series)
            rec = self.conv.email(owner, party, series)
            forward = n % 5 == 1 and party.kind in ("guardian", "requester", "staff")
            no_id = n in (5, 34)  # files of both splits (the files of a kind alternate)
            if forward:
                nid, note = self.conv.pick("forward-note")
                rec.templates.append(nid)
                note = self.conv.m.fill(note, {"s": rec.names[0] if rec.names else "the student"})
                raw = self.w.build_forward(owner, party, rec, note, "gmail" if (n // 5) % 3 == 2 else "outlook")
                staff_id = None if (n // 5) % 3 == 0 else owner.sid
            else:
                raw = self.w.build_email(owner, party, rec, message_id=not no_id)
                if no_id:
                    rec.tags.add("no-message-id")
                staff_id = owner.sid if self.rng.random() < 0.8 else None
            rec.fmt = "email"
            slug = _slug(rec.subject)[:24] or "message"
            self.add_file(OutFile("eml", f"{n:03d}-{slug}.eml", staff_id, [rec], lambda path, raw=raw: path.write_bytes(raw)))

    def mboxes(self, plans: list[tuple[str, bool, int]]) -> None:
        for index, (sid, personal, count) in enumerate(plans):
            owner = self.S(sid)
            chunks, recs = [], []
            self.begin_file("mbox", index)
            school_mix = {"STU-TEMPORARY": 32, "CORR-TRANSITORY": 16, "CORR-ADMIN": 18, "STU-SPED": 12, "STU-TRANSCRIPT": 6, "PUBLIC-RECORDS-REQUEST": 30 if sid == "T105" else 0, "PERSONNEL": 10}
            for k in range(count):
                series = ("NON-RECORD" if self.rng.random() < 0.75 and k != 2 else "STU-TEMPORARY") if personal else _weighted(self.rng, school_mix)
                if series == "PUBLIC-RECORDS-REQUEST" and sid != "T105":
                    series = "CORR-ADMIN"
                party = self.email_party(owner, series)
                rec = self.conv.email(owner, party, series)
                if personal and series != "NON-RECORD":
                    rec.tags.add("personal-account")
                raw = self.w.build_email(owner, party, rec, personal_account=personal)
                rec.fmt = "mbox-message"
                recs.append(rec)
                when = rec.times[0].astimezone(UTC)
                sep = f"From {self.w.uid(19)}@xxx {when.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n".encode()
                body = raw.replace(b"\r\n", b"\n")
                body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
                chunks.append(sep + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n")
            data = b"".join(chunks)
            name = f"{sid.lower()}-{'personal-gmail' if personal else 'takeout'}-{index}.mbox"
            self.add_file(OutFile("mbox", name, sid, recs, lambda path, data=data: path.write_bytes(data)))

    def printouts(self, pdfs: int, scans: int) -> None:
        mix = {"STU-TEMPORARY": 30, "CORR-TRANSITORY": 18, "STU-SPED": 18, "STU-TRANSCRIPT": 8, "PUBLIC-RECORDS-REQUEST": 10, "PERSONNEL": 10, "CORR-ADMIN": 10}
        for n in range(pdfs + scans):
            scan = n >= pdfs
            self.begin_file("scans" if scan else "pdf", n - pdfs if scan else n)
            series = _weighted(self.rng, mix)
            owner = self.S("T105") if series == "PUBLIC-RECORDS-REQUEST" else self.rng.choice(self.staff)
            texts = series in ("STU-TEMPORARY", "CORR-TRANSITORY", "STU-SPED") and self.rng.random() < 0.5
            if texts:
                family = self.rand_family()
                party = self.conv.family_party(family[0].family)
                rec = self.conv.chat(owner, party, series)
                lines = self.w.chat_lines(owner, party, rec, self.rng.randrange(6))
                what = "text conversation"
            else:
                party = self.email_party(owner, series)
                rec = self.conv.email(owner, party, series)
                lines = self.w.email_lines(owner, party, rec)
                what = "email"
            rec.note += f" (printed {what})"
            staff_id = owner.sid if self.rng.random() < 0.7 else None
            if not scan:
                rec.fmt = "printout-pdf"
                self.add_file(OutFile("pdf", f"printout-{n:03d}.pdf", staff_id, [rec], lambda path, lines=lines: write_pdf(path, lines)))
            else:
                k = n - pdfs
                dpi = [200, 200, 250, 300][(k // 2) % 4]
                rotate = [0.0, 0.8, -1.2, 0.0, 1.6, 0.4][k % 6]
                speckle = [0, 0, 150, 300, 0, 200][k % 6]
                soften = 2.8 if k % 5 == 4 else 1.0
                if rotate or speckle or soften > 1:
                    rec.tags.add("ocr-damage")
                rec.fmt = "printout-scan"
                seed = self.rng.getrandbits(32)
                self.add_file(OutFile("scans", f"scan-{k:03d}.png", staff_id, [rec],
                                          lambda path, lines=lines, dpi=dpi, rotate=rotate, speckle=speckle, seed=seed, soften=soften: write_scan(path, lines, dpi=dpi, rotate=rotate, speckle=speckle, seed=seed, soften=soften)))

    # -- thread plans shared by the chat exports
    def thread_segments(self, owner: Staff, party: Party, segments: int, series_pick: Any, unnamed_first: bool = False) -> list[Rec]:
        years = self.rng.sample(SCHOOL_YEARS, k=min(segments, len(SCHOOL_YEARS)))
        recs = []
        for yr in sorted(years):
            before = min((s.exit_date for s in party.students if s.exit_date), default=None)
            if before and dt.date(yr, 10, 1) >= before:
                continue
            series = series_pick()
            recs.append(self.conv.chat(owner, party, series, year=yr, unnamed=unnamed_first and not recs))
        return recs

    def boundary_thread(self, owner: Staff, party: Party, series: str) -> list[Rec]:
        """One conversation across June 30 / July 1 (district time): two records."""
        yr = self.rng.choice([2021, 2022, 2023, 2024])
        rec = self.conv.chat(owner, party, series, year=yr)
        turns = rec.turns if len(rec.turns) >= 2 else rec.turns * 2
        cut = max(1, len(turns) // 2)
        late = dt.datetime(yr, 6, 30, 23, 40, tzinfo=NY)  # already July 1 in UTC
        first_times = [late - dt.timedelta(minutes=7 * (cut - 1 - i)) for i in range(cut)]
        early = dt.datetime(yr, 7, 1, 0, 25, tzinfo=NY)
        second_times = [early + dt.timedelta(minutes=6 * i) for i in range(len(turns) - cut)]
        a = Rec(rec.series, list(rec.students), set(rec.tags) | {"school-year-boundary"}, rec.note + " (June 30 part)", turns[:cut], times=first_times, templates=list(rec.templates))
        b = Rec(rec.series, list(rec.students), set(rec.tags) | {"school-year-boundary"}, rec.note + " (July 1 part)", turns[cut:], times=second_times, templates=list(rec.templates))
        return [a, b]

    def guardian_series(self) -> str:
        return _weighted(self.rng, SERIES_BY_KIND["guardian"])

    def chat_parties(self, owner: Staff, *, guardians: int, staff: int, personal: int, students: int = 0, avoid_guardians: set[str] | None = None,
                     unnamed_guardian: bool = False) -> list[tuple[Party, list[Rec]]]:
        """The parties of a chat export and their threads; ``unnamed_guardian``: the first
        one-child guardian's first thread prefers a wording that never names the child."""
        c = self.conv
        out: list[tuple[Party, list[Rec]]] = []
        seen: set[str] = set()
        for _ in range(guardians):
            for _attempt in range(30):
                family = self.rand_family()
                party = c.family_party(family[0].family)
                if party.guardian.name not in seen and not (avoid_guardians is not None and party.guardian.name in avoid_guardians):
                    break
            else:
                continue
            seen.add(party.guardian.name)
            if avoid_guardians is not None:
                avoid_guardians.add(party.guardian.name)
            unnamed = unnamed_guardian and len(party.students) == 1
            unnamed_guardian &= not unnamed
            out.append((party, self.thread_segments(owner, party, self.rng.choice([1, 1, 2, 2, 3]), self.guardian_series, unnamed_first=unnamed)))
        for _ in range(students):
            st = self.rng.choice([s for s in self.people.students if s.grade >= 8 and s.sid not in seen])
            seen.add(st.sid)
            party = c.student_party(st)
            out.append((party, self.thread_segments(owner, party, self.rng.choice([1, 2]), lambda: _weighted(self.rng, SERIES_BY_KIND["student"]))))
        for _ in range(staff):
            party = c.staff_party(owner)
            if party.name in seen:
                continue
            seen.add(party.name)
            out.append((party, self.thread_segments(owner, party, self.rng.choice([1, 2]), lambda: _weighted(self.rng, SERIES_BY_KIND["staff"]))))
        for i in range(personal):
            party = c.personal_party(owner, i)
            out.append((party, self.thread_segments(owner, party, self.rng.choice([1, 1, 2]), lambda: "NON-RECORD")))
        return out

    # -- SMS
    def sms_backups(self, owners: list[str]) -> None:
        for index, sid in enumerate(owners):
            self.begin_file("sms", index)
            owner = self.S(sid)
            parties = self.chat_parties(owner, guardians=4, staff=1, personal=2, avoid_guardians=self.guardians_used_sms, unnamed_guardian=index in (0, 1))
            if index in (0, 3, 4):  # files of both splits
                party = self.conv.personal_party(owner, 2)
                parties = [p for p in parties if p[0].name != party.name]
                parties.append((party, self.boundary_thread(owner, party, "NON-RECORD")))
            elements: list[tuple[int, str]] = []
            recs: list[Rec] = []
            for party, segs in parties:
                style = self.rng.randrange(6)
                address = _fmt_phone(party.e164, style)
                roster_style = party.guardian.phone if party.guardian else None
                contact = party.name if self.rng.random() < 0.7 else "(Unknown)"
                for rec in segs:
                    if roster_style is not None and roster_style != address:
                        rec.tags.add("phone-format")
                    rec.fmt = "sms-thread"
                    rec.locator = f"{address}#{school_year(rec.times[0])}"
                    recs.append(rec)
                    for (who, text), when in zip(rec.turns, rec.times, strict=True):
                        kind = 2 if who == "M" else 1
                        elements.append((ms(when), _sms(address, ms(when), kind, text, contact)))
            elements.sort()
            xml = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
                   "<!--File Created By SMS Backup & Restore v10.20.002 on 05/09/2025 09:00:00-->\n"
                   '<?xml-stylesheet type="text/xsl" href="sms.xsl"?>\n'
                   f'<smses count="{len(elements)}" backup_set="{self.w.uid(8)}" backup_date="1746781200000" type="full">\n'
                   + "".join(e for _, e in elements) + "</smses>\n")
            self.add_file(OutFile("sms", f"sms-{sid.lower()}-20250509.xml", sid, recs, lambda path, xml=xml: path.write_text(xml, encoding="utf-8")))

    # -- Facebook / Instagram
    def meta_thread(self, owner: Staff, party: Party, recs: list[Rec], path: str, *, display: dict[str, str], title: str, group: bool, instagram: bool) -> dict[str, Any]:
        messages = []
        for rec in recs:
            rec.fmt = "instagram-thread" if instagram else "facebook-thread"
            rec.locator = f"{path}#{school_year(rec.times[0])}"
            for (who, text), when in zip(rec.turns, rec.times, strict=True):
                messages.append({"sender_name": mojibake(display[who]), "timestamp_ms": ms(when), "content": mojibake(text), "is_geoblocked_for_viewer": False})
        names = sorted({display[w] for w in display})
        data: dict[str, Any] = {
            "participants": [{"name": mojibake(n)} for n in names],
            "messages": sorted(messages, key=lambda m: -m["timestamp_ms"]),
            "title": mojibake(title), "is_still_participant": True, "thread_path": path, "magic_words": [],
        }
        if not instagram:
            data["thread_type"] = "RegularGroup" if group else "Regular"
        return data

    def facebook_exports(self, owners: list[str]) -> None:
        layouts = ["", "your_activity_across_facebook/", "your_facebook_activity/"]
        for index, sid in enumerate(owners):
            self.begin_file("facebook", index)
            owner = self.S(sid)
            prefix = layouts[index % 3]
            parties = self.chat_parties(owner, guardians=3, staff=1, personal=2)
            if index in (1, 2, 5):  # files of both splits
                party = self.conv.personal_party(owner, 1)
                parties = [p for p in parties if p[0].name != party.name]
                parties.append((party, self.boundary_thread(owner, party, "NON-RECORD")))
            members: dict[str, Any] = {}
            all_recs: list[Rec] = []
            if index in (0, 3, 4):
                kids = self.rng.sample([s for s in self.people.students if not s.exit_date], 3)
                gp = self.conv.group_party(kids, f"{self.rng.choice(['7B', 'Grade 8', 'Team', 'Robotics'])} parents")
                parties.append((gp, [self.conv.chat(owner, gp, "CORR-TRANSITORY")]))
            for party, recs in parties:
                if not recs:
                    continue
                tid = self.w.uid(11)
                slug = _slug(party.name)[:20] or "facebookuser"
                path = f"inbox/{slug}_{tid}"
                if party.kind == "group":
                    display = {"M": owner.full, "T": party.members[0].name, "U": party.members[1].name}
                    for extra in party.members[2:]:
                        display[f"X{extra.name}"] = extra.name
                    group = True
                else:
                    display = {"M": owner.full, "T": party.name}
                    group = False
                data = self.meta_thread(owner, party, recs, path, display=display, title=party.name, group=group, instagram=False)
                members[f"{prefix}messages/{path}/message_1.json"] = data
                all_recs += recs
            profile_path = "profile_information/profile_information.json" if prefix == "" else "personal_information/profile_information/profile_information.json"
            key = "profile" if prefix == "" else "profile_v2"
            members[profile_path] = {key: {"name": {"full_name": mojibake(owner.full), "first_name": owner.first, "middle_name": "", "last_name": owner.last}}}
            self.add_file(OutFile("facebook", f"facebook-{_slug(owner.full)}-{index}.zip", sid, all_recs, lambda path, m=members: _write_zip(path, m)))

    def instagram_exports(self, owners: list[str]) -> None:
        inbox = "your_instagram_activity/messages/inbox"
        for index, sid in enumerate(owners):
            self.begin_file("instagram", index)
            owner = self.S(sid)
            parties = self.chat_parties(owner, guardians=1, staff=0, personal=2, students=2)
            if index in (0, 1, 4):  # files of both splits
                kids = self.rng.sample([s for s in self.people.students if s.grade >= 8 and not s.exit_date], 3)
                gp = Party("group", "study group", students=kids, members=[self.conv.student_party(k) for k in kids])
                parties.append((gp, [self.conv.chat(owner, gp, "CORR-TRANSITORY")]))
            members: dict[str, Any] = {}
            all_recs: list[Rec] = []
            for party, recs in parties:
                if not recs:
                    continue
                tid = self.w.uid(16)
                if party.kind == "student":
                    username = party.students[0].ig
                    display = {"M": owner.full, "T": party.students[0].full}
                elif party.kind == "group":
                    username = "group"
                    display = {"M": owner.full, "T": party.members[0].name, "U": party.members[1].name, "X": party.members[2].name}
                else:
                    username = f"{_slug(party.name.split()[0])}.{_slug(party.name.split()[-1])}"
                    display = {"M": owner.full, "T": party.name}
                path = f"inbox/{username}_{tid}"
                data = self.meta_thread(owner, party, recs, path, display=display, title=party.name, group=party.kind == "group", instagram=True)
                members[f"{inbox}/{username}_{tid}/message_1.json"] = data
                all_recs += recs
            members["personal_information/personal_information/personal_information.json"] = {"profile_user": [{"title": "", "media_map_data": {}, "string_map_data": {
                "Email": {"href": "", "value": owner.personal_email, "timestamp": 0},
                "Name": {"href": "", "value": mojibake(owner.full), "timestamp": 0},
                "Username": {"href": "", "value": owner.ig, "timestamp": 0}}}]}
            members["your_instagram_activity/content/posts_1.json"] = []
            members["connections/followers_and_following/followers_1.json"] = []
            self.add_file(OutFile("instagram", f"instagram-{owner.ig}-{index}.zip", sid, all_recs, lambda path, m=members: _write_zip(path, m)))

    # -- X
    def x_archives(self, plans: list[tuple[str, tuple[str, str]]]) -> None:
        """One archive per (owner, series of the posts of each of two school years)."""
        for index, (sid, posts_plan) in enumerate(plans):
            self.begin_file("x", index)
            owner = self.S(sid)
            rng = self.rng
            recs: list[Rec] = []
            conversations, groups = [], []
            # DMs with students (X ids only, never in the roster)
            students = rng.sample([s for s in self.people.students if s.grade >= 8 and not s.exit_date], 3)
            for n, st in enumerate(students):
                party = self.conv.student_party(st)
                series = _weighted(rng, SERIES_BY_KIND["student"])
                # the first DM never names the student (an X id nothing explains), the others do when they can
                rec = self.conv.chat(owner, party, series, unnamed=n == 0, named=n > 0)
                if not _names_any(" ".join(t for _, t in rec.turns), [st]):
                    rec.tags.add("x-id-unknown")
                rec.tags.add("x-numeric-id")
                recs.append(rec)
                conv_id = "-".join(sorted([owner.x_id, st.x_id], key=int))
                conversations.append((conv_id, {"M": owner.x_id, "T": st.x_id}, [rec]))
            # a guardian
            family = self.rand_family()
            gparty = self.conv.family_party(family[0].family)
            gid = self.people.guardian_xid(gparty.guardian)
            grecs = self.thread_segments(owner, gparty, 2, self.guardian_series)
            for rec in grecs:
                rec.tags.add("x-numeric-id")
                if not _names_any(" ".join(t for _, t in rec.turns), [s for s in family if s.sid in rec.students]):
                    rec.tags.add("x-id-unknown")
            recs += grecs
            conversations.append(("-".join(sorted([owner.x_id, gid], key=int)), {"M": owner.x_id, "T": gid}, grecs))
            # a friend
            pparty = self.conv.personal_party(owner, 2)
            pid = self.people.x_id()
            prec = self.conv.chat(owner, pparty, "NON-RECORD")
            recs.append(prec)
            conversations.append(("-".join(sorted([owner.x_id, pid], key=int)), {"M": owner.x_id, "T": pid}, [prec]))
            # a group DM of students (logistics)
            kids = rng.sample([s for s in self.people.students if s.grade >= 8 and not s.exit_date and s not in students], 3)
            gp = Party("group", "team", students=kids, members=[self.conv.student_party(k) for k in kids])
            grec = self.conv.chat(owner, gp, "CORR-TRANSITORY")
            grec.tags.add("x-numeric-id")
            recs.append(grec)
            groups.append((self.w.uid(19), {"M": owner.x_id, "T": kids[0].x_id, "U": kids[1].x_id, "X": kids[2].x_id}, [grec]))
            dm_json = []
            for conv_id, ids, crecs in conversations:
                dm_json.append({"dmConversation": {"conversationId": conv_id, "messages": self._x_messages(conv_id, ids, crecs, group=False)}})
            group_json = []
            for conv_id, ids, crecs in groups:
                messages = self._x_messages(conv_id, ids, crecs, group=True)
                first = min(crecs[0].times) - dt.timedelta(minutes=2)
                messages.append({"joinConversation": {"initiatingUserId": owner.x_id, "participantsSnapshot": list(ids.values()), "createdAt": _x_time(first)}})
                group_json.append({"dmConversation": {"conversationId": conv_id, "messages": messages}})
            # posts: two school years
            tweets = []
            for yr, posts_series in zip(rng.sample(SCHOOL_YEARS, 2), posts_plan, strict=True):
                picks: list[tuple[str, str]] = []
                for _ in range(3):  # three different posts
                    picks.append(self.conv.pick(f"posts:{posts_series}", where=lambda t, taken=[t for _, t in picks]: t not in taken))
                chosen = [t for _, t in picks]
                start = self.conv.m.day_in_year(yr)
                times = [start + dt.timedelta(days=d) for d in sorted(rng.sample(range(0, 12), 3))]
                rec = Rec(posts_series, [], set(), f"{posts_series} posts of {owner.full} in {school_year(times[0])}",
                          turns=[("M", t) for t in chosen], times=times, templates=[tid for tid, _ in picks])
                rec.fmt = "x-posts"
                rec.locator = f"x-posts#{school_year(times[0])}"
                recs.append(rec)
                for text, when in zip(chosen, times, strict=True):
                    tid = self.w.uid(19)
                    tweets.append({"tweet": {"id_str": tid, "id": tid, "full_text": text, "created_at": when.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
                                             "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}, "favorite_count": "0",
                                             "retweet_count": "0", "retweeted": False, "favorited": False, "truncated": False, "lang": "en",
                                             "display_text_range": ["0", str(len(text))], "source": "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>"}})
            for rec in recs:
                if rec.fmt != "x-posts":
                    rec.fmt = "x-dm-thread"
            account = [{"account": {"email": owner.personal_email, "createdVia": "web", "username": owner.x_handle, "accountId": owner.x_id,
                                    "createdAt": "2015-02-01T12:00:00.000Z", "accountDisplayName": owner.full}}]
            members = {
                "Your archive.html": "<html><body>Your archive</body></html>",
                "data/manifest.js": "window.__THAR_CONFIG = {}",
                "data/account.js": _ytd("account", account),
                "data/direct-messages.js": _ytd("direct_messages", dm_json),
                "data/direct-messages-group.js": _ytd("direct_messages_group", group_json),
                "data/tweets.js": _ytd("tweets", tweets),
                "data/like.js": _ytd("like", []),
            }
            self.add_file(OutFile("x", f"twitter-{owner.x_handle.lower()}-{index}.zip", sid, recs,
                                      lambda path, m=members: _write_zip(path, {k: v.encode() for k, v in m.items()})))

    def _x_messages(self, conv_id: str, ids: dict[str, str], recs: list[Rec], group: bool) -> list[dict[str, Any]]:
        out = []
        for rec in recs:
            rec.locator = f"{conv_id}#{school_year(rec.times[0])}"
            for (who, text), when in zip(rec.turns, rec.times, strict=True):
                sender = ids[who]
                body: dict[str, Any] = {"id": self.w.uid(19), "senderId": sender, "text": text, "createdAt": _x_time(when),
                                        "reactions": [], "urls": [], "mediaUrls": []}
                if not group:
                    body["recipientId"] = ids["T"] if who == "M" else ids["M"]
                out.append((when, {"messageCreate": body}))
        out.sort(key=lambda pair: pair[0], reverse=True)
        return [m for _, m in out]




def _names_any(text: str, students: list[Student]) -> bool:
    """Whether the text names any of the students (so an X id can be told from it)."""
    for st in students:
        names = {st.first, st.preferred, *st.nicks, _strip_accents(st.first)} - {""}
        if any(re.search(rf"\b{re.escape(n)}\b", text) for n in names):
            return True
    return False


def _x_time(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ytd(name: str, data: Any) -> str:
    return f"window.YTD.{name}.part0 = " + json.dumps(data, indent=2, ensure_ascii=False)


def _sms(address: str, when: int, kind: int, body: str, contact: str) -> str:
    return (f'  <sms protocol="0" address={quoteattr(address)} date="{when}" type="{kind}" subject="null" body={quoteattr(body)} '
            f'toa="null" sc_toa="null" service_center="null" read="1" status="-1" locked="0" date_sent="0" sub_id="1" '
            f'readable_date="{dt.datetime.fromtimestamp(when / 1000, NY).strftime("%b %d, %Y %I:%M:%S %p")}" contact_name={quoteattr(contact)} />\n')


def _write_zip(path: Path, members: dict[str, Any]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            data = value if isinstance(value, bytes) else json.dumps(value, indent=2).encode("ascii")
            info = zipfile.ZipInfo(name, date_time=(2025, 5, 9, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def generate(out_dir: str | Path, seed: int = 2026, small: bool = False) -> Path:
    """Write the evaluation set into ``out_dir``; returns the path of ``labels.json``.

    ``small`` makes about a tenth of it (every format, a handful of scans) for quick tests.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = Generator(seed, small)
    g.people.write_roster(out / "roster.csv")
    g.people.write_staff(out / "staff.csv")
    if small:
        g.single_emails(8)
        g.mboxes([("T100", False, 3), ("T106", True, 3)])
        g.printouts(pdfs=2, scans=2)
        g.sms_backups(["T100"])
        g.facebook_exports(["T103"])
        g.instagram_exports(["T101"])
        g.x_archives([("T103", ("CORR-TRANSITORY", "CORR-TRANSITORY"))])
    else:
        g.single_emails(72)
        g.mboxes([("T100", False, 8), ("T101", False, 7), ("T102", False, 7), ("T104", False, 7), ("T105", False, 8), ("T103", False, 6),
                  ("T106", True, 7), ("T107", True, 7)])
        g.printouts(pdfs=26, scans=25)
        g.sms_backups(["T100", "T103", "T107", "T102", "T106", "T101"])
        g.facebook_exports(["T100", "T103", "T105", "T106", "T104", "T101"])
        g.instagram_exports(["T100", "T103", "T101", "T106", "T102"])
        # the archives alternate between the splits: each split gets posts of the three series
        g.x_archives([("T103", ("CORR-TRANSITORY", "CORR-TRANSITORY")), ("T101", ("CORR-ADMIN", "CORR-TRANSITORY")),
                      ("T105", ("CORR-ADMIN", "NON-RECORD")), ("T100", ("NON-RECORD", "CORR-ADMIN"))])
    labels = []
    for f in g.files:
        split = f.split
        folder = out / "files" / split / f.kind
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f.name
        f.write(target)
        rel = target.relative_to(out).as_posix()
        for rec in f.records:
            labels.append({
                "split": split, "path": rel, "format": rec.fmt, "locator": rec.locator, "staff_id": f.staff_id,
                "students": sorted(set(rec.students)), "series": rec.series, "hard_cases": sorted(rec.tags), "note": rec.note,
                "templates": list(rec.templates),
            })
    path = out / "labels.json"
    path.write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def summary(labels: list[dict[str, Any]]) -> str:
    lines = []
    by = Counter((l["split"], l["series"], l["format"]) for l in labels)
    lines.append(f"{len(labels)} records: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(l['split'] for l in labels).items())))
    lines.append("series: " + ", ".join(f"{k} {v}" for k, v in Counter(l["series"] for l in labels).most_common()))
    lines.append("formats: " + ", ".join(f"{k} {v}" for k, v in Counter(l["format"] for l in labels).most_common()))
    lines.append("hard cases: " + ", ".join(f"{k} {v}" for k, v in Counter(t for l in labels for t in l["hard_cases"]).most_common()))
    for split in SPLITS:
        tags = Counter(t for l in labels if l["split"] == split for t in l["hard_cases"])
        used = {t for l in labels if l["split"] == split for t in l.get("templates", [])}
        lines.append(f"{split}: {len(used)} templates; hard cases: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())))
    lines.append("split x series x format:")
    for (split, series, fmt), n in sorted(by.items()):
        lines.append(f"  {split:6} {series:24} {fmt:18} {n}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--small", action="store_true", help="about a tenth of the set, for quick tests")
    args = parser.parse_args(argv)
    path = generate(args.out_dir, seed=args.seed, small=args.small)
    print(path)
    print(summary(json.loads(path.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
