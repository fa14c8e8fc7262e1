"""Which students a record is about, with a confidence and the evidence for each.

Filing a record with the wrong student breaches that family's privacy, so strong evidence
is demanded before a link is automatic:

- a participant whose address (email, phone, handle, X id) belongs to the student, or a
  display name a clerk has tied to the student: near certain;
- a guardian's address: certain for an only child, a question for siblings until the text
  names one of them;
- the student's full name in the text (any given-name form: preferred name, nickname,
  with or without accents; any surname form, half of a double surname included);
- a given name alone only when the participants make it unambiguous (the guardian of one
  Maya writes "Maya"); otherwise it is a weak hint that only review may confirm;
- OCR-damaged full names matched fuzzily (``rapidfuzz``) only with support: a participant
  of that student's family, else they stay below the review threshold.

Staff are recognised from the staff directory and never taken for students; a
participant who shares a student's given name (the teacher's niece Maya) claims the
mentions of that name in her own conversation. Evidence details name fields, rules and
counts, never the matched words: evidence is copied into audit payloads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from records.intake.model import Evidence, Participant
from records.retention.names import given_name_forms, name_tokens, surname_forms, words

MATCHER_VERSION = "match-2"

# Evidence weights (0 to 1), combined per student as a noisy-or.
W_STUDENT_ADDRESS = 0.97
W_LEARNED_NAME = 0.95
W_PARTICIPANT_NAME = 0.9
W_GUARDIAN_ONLY_CHILD = 0.88
W_GUARDIAN_SIBLINGS = 0.5
W_GUARDIAN_NAME = 0.6
W_GUARDIAN_NAME_SIBLINGS = 0.35
W_FULL_NAME = 0.97
W_PARTIAL_SURNAME = 0.9
W_SAME_NAME_TWICE = 0.5  # two students share one full name
W_GIVEN_IN_CONTEXT = 0.85
W_GIVEN_SHARED_IN_CONTEXT = 0.4
W_GIVEN_ONLY = 0.45
W_GIVEN_AMBIGUOUS = 0.2
W_FUZZY_SUPPORTED = 0.9
W_FUZZY_UNSUPPORTED = 0.7
FUZZY_CUTOFF = 86.0

# Given names that are also ordinary words count only when written with a capital.
COMMON_WORDS = frozenset(
    {"will", "bill", "pat", "sue", "rob", "eve", "cat", "kat", "art", "mark", "grace", "hope", "joy", "faith",
     "may", "june", "april", "rose", "summer", "sunny", "max", "sky", "dawn", "rich", "jack", "jean", "frank",
     "gabe", "drew", "chase", "hunter", "sage", "ray", "guy", "bella", "ben", "dean", "reed", "lane", "page",
     "holly", "ivy", "jade", "liv", "nat", "tom", "jim", "matt", "nick", "ed", "dan", "chuck", "bob", "don",
     "ted", "em", "al", "mike", "sam", "wade", "cole", "miles", "pierce", "stone", "beth", "lee", "harper"}
)  # fmt: skip


@dataclass(frozen=True)
class StudentProfile:
    """What the roster (and what clerks taught the engine) says about one student."""

    student_id: str
    first_name: str
    last_name: str
    preferred_name: str | None = None
    guardian_names: tuple[str, ...] = ()
    addresses: frozenset[str] = frozenset()  # the student's own: emails, phones, handles, x ids
    guardian_addresses: frozenset[str] = frozenset()
    display_names: frozenset[tuple[str, ...]] = frozenset()  # learned, as name tokens


@dataclass(frozen=True)
class StaffProfile:
    staff_id: str
    first_name: str
    last_name: str
    addresses: frozenset[str] = frozenset()
    school_emails: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordFacts:
    """What classification reads of a record: plain data, no catalog row."""

    record_id: str
    format: str
    text: str
    participants: tuple[Participant, ...] = ()
    owner_staff_id: str | None = None
    ocr: bool = False


@dataclass(frozen=True)
class StudentLink:
    """A candidate link: the engine links it when ``confidence`` reaches the threshold."""

    student_id: str
    confidence: float
    evidence: tuple[Evidence, ...]

    def to_json(self) -> dict[str, object]:
        return {"student_id": self.student_id, "confidence": round(self.confidence, 4), "evidence": [e.to_json() for e in self.evidence]}


@dataclass
class Matches:
    """The matcher's answer: candidates (best first) and each participant's role."""

    candidates: list[StudentLink]
    roles: list[str]
    staff_ids: set[str] = field(default_factory=set)
    school_address: bool = False  # someone writes from the district's own mail domain
    colleague: bool = False  # a staff member other than the export's owner takes part
    outsider: bool = False  # someone neither directory knows, writing from outside the district


def combine(weights: Iterable[float]) -> float:
    """Independent pieces of evidence, combined as a noisy-or."""
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - max(0.0, min(1.0, weight))
    return 1.0 - miss


class Roster:
    """The roster and the staff directory, indexed for matching many records."""

    def __init__(self, students: Iterable[StudentProfile], staff: Iterable[StaffProfile] = ()) -> None:
        self.students = {s.student_id: s for s in students}
        self.staff = {s.staff_id: s for s in staff}
        self.student_by_address: dict[str, set[str]] = defaultdict(set)
        self.guardian_of: dict[str, set[str]] = defaultdict(set)
        self.staff_by_address: dict[str, str] = {}
        self.given: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        self.full_surnames: dict[str, frozenset[tuple[str, ...]]] = {}
        self.partial_surnames: dict[str, frozenset[tuple[str, ...]]] = {}
        self.full_names: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self.learned_names: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self.guardian_names: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self.staff_names: set[tuple[str, ...]] = set()
        self.staff_given: set[str] = set()
        self.school_domains: set[str] = set()
        self.fuzzy_by_size: dict[int, tuple[list[str], list[str]]] = {}
        for s in self.students.values():
            for address in s.addresses:
                self.student_by_address[address.lower()].add(s.student_id)
            for address in s.guardian_addresses:
                self.guardian_of[address.lower()].add(s.student_id)
            forms = given_name_forms(s.first_name, s.preferred_name)
            full, partial = surname_forms(s.last_name)
            self.full_surnames[s.student_id] = full
            self.partial_surnames[s.student_id] = partial
            for form in forms:
                self.given[form[0]].append((form, s.student_id))
                for surname in full:
                    self.full_names[form + surname].add(s.student_id)
            for surname in full:
                for name in {name_tokens(s.first_name), name_tokens(s.preferred_name)} - {()}:
                    choices, owners = self.fuzzy_by_size.setdefault(len(name + surname), ([], []))
                    choices.append(" ".join(name + surname))
                    owners.append(s.student_id)
            for name in s.display_names:
                self.learned_names[name].add(s.student_id)
            for guardian in s.guardian_names:
                toks = name_tokens(guardian)
                if len(toks) >= 2:
                    self.guardian_names[toks].add(s.student_id)
        for member in self.staff.values():
            self.school_domains.update(a.rsplit("@", 1)[1].lower() for a in member.school_emails if "@" in a)
            for address in member.addresses:
                self.staff_by_address[address.lower()] = member.staff_id
            given = name_tokens(member.first_name)
            self.staff_names.add(given + name_tokens(member.last_name))
            if given:
                self.staff_given.add(given[0])


def _ev(kind: str, detail: str, weight: float) -> Evidence:
    return Evidence(kind, detail, round(weight, 4))


def match_students(facts: RecordFacts, roster: Roster, text_words: list[tuple[str, bool]] | None = None) -> Matches:
    """Every student the record may be about, with evidence (see the module doc).

    ``text_words`` is ``words(facts.text)`` when the caller has it already (``classify``
    weighs the same words for the series): splitting a record's text is done once.
    """
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    roles: list[str] = []
    staff_ids: set[str] = set()
    context: set[str] = set()
    claimed_names: list[tuple[str, ...]] = []  # non-student participants' own names
    claimed_given: set[str] = set()
    if facts.owner_staff_id and facts.owner_staff_id in roster.staff:
        staff_ids.add(facts.owner_staff_id)
        owner = roster.staff[facts.owner_staff_id]
        claimed_given.update(name_tokens(owner.first_name)[:1])

    def point(ids: Iterable[str], kind: str, detail: str, weight: float) -> None:
        """Evidence that a participant is (or is of the family of) these students."""
        for sid in ids:
            evidence[sid].append(_ev(kind, detail, weight))
            context.add(sid)

    school_address = False
    colleague = False
    outsider = False
    owner_profile = roster.staff.get(facts.owner_staff_id or "")
    owner_name = name_tokens(owner_profile.first_name) + name_tokens(owner_profile.last_name) if owner_profile else ()
    for number, person in enumerate(facts.participants, start=1):
        address = (person.address or "").lower()
        if "@" in address and address.rsplit("@", 1)[1] in roster.school_domains:
            school_address = True
        toks = name_tokens(person.name)
        role = "unknown"
        if address and address in roster.staff_by_address:
            role = "staff"
            staff_ids.add(roster.staff_by_address[address])
            colleague |= roster.staff_by_address[address] != facts.owner_staff_id
        elif address and address in roster.student_by_address:
            role = "student"
            point(roster.student_by_address[address], "participant-address", f"participant {number} uses the student's address", W_STUDENT_ADDRESS)
        elif address and address in roster.guardian_of:
            role = "guardian"
            children = roster.guardian_of[address]
            weight = W_GUARDIAN_ONLY_CHILD if len(children) == 1 else W_GUARDIAN_SIBLINGS
            detail = f"participant {number} is a guardian's address ({len(children)} student{'s' if len(children) > 1 else ''})"
            point(children, "guardian-address", detail, weight)
        elif toks and toks in roster.learned_names:
            role = "student"
            point(roster.learned_names[toks], "participant-name-learned", f"participant {number}'s display name was tied to the student by a clerk", W_LEARNED_NAME)
        elif toks and toks in roster.staff_names:
            role = "staff"
            colleague |= toks != owner_name
        elif toks and toks in roster.full_names:
            role = "student"
            ids = roster.full_names[toks]
            weight = W_PARTICIPANT_NAME if len(ids) == 1 else W_SAME_NAME_TWICE
            point(ids, "participant-name", f"participant {number}'s name is the student's full name", weight)
        elif toks and toks in roster.guardian_names:
            role = "guardian"
            children = roster.guardian_names[toks]
            weight = W_GUARDIAN_NAME if len(children) == 1 else W_GUARDIAN_NAME_SIBLINGS
            point(children, "guardian-name", f"participant {number}'s name is a guardian's name on the roster", weight)
        if role in ("unknown", "staff", "guardian") and toks:
            claimed_names.append(toks)
            claimed_given.add(toks[0])
        roles.append(role)
        outsider |= role == "unknown" and not ("@" in address and address.rsplit("@", 1)[1] in roster.school_domains)

    if text_words is None:
        text_words = words(facts.text)
    plain = [w for w, _ in text_words]
    used = [False] * len(plain)

    def at(i: int, form: tuple[str, ...]) -> bool:
        return tuple(plain[i : i + len(form)]) == form

    # Spans that name a staff member or a participant who is not a student are theirs.
    owned: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for name in (*roster.staff_names, *claimed_names):
        if len(name) >= 2:
            owned[name[0]].append(name)
    for i, token in enumerate(plain):
        for name in owned.get(token, ()):
            if at(i, name):
                for k in range(i, i + len(name)):
                    used[k] = True

    same_name: set[str] = set()
    full_hits: dict[str, int] = defaultdict(int)
    partial_hits: dict[str, int] = defaultdict(int)
    given_hits: dict[str, list[set[str]]] = defaultdict(list)
    for i, token in enumerate(plain):
        if used[i] or token not in roster.given:
            continue
        span_full: set[str] = set()
        span_partial: set[str] = set()
        given_ids: set[str] = set()
        for form, sid in roster.given[token]:
            if not at(i, form):
                continue
            j = i + len(form)
            if any(at(j, s) for s in roster.full_surnames[sid]) or any(i >= len(s) and at(i - len(s), s) for s in roster.full_surnames[sid]):
                span_full.add(sid)
            elif any(at(j, s) for s in roster.partial_surnames[sid]):
                span_partial.add(sid)
            else:
                given_ids.add(sid)
        if span_full or span_partial:
            for sid in span_full:
                full_hits[sid] += 1
                if len(span_full) > 1:
                    same_name.add(sid)  # one written name, two students: it cannot say which
            for sid in span_partial if not span_full else ():
                partial_hits[sid] += 1
            used[i] = True
            continue
        if given_ids:
            capital = text_words[i][1]
            if token in COMMON_WORDS and not capital:
                continue
            if token in claimed_given or token in roster.staff_given:
                continue  # "Maya" in a thread with the teacher's niece Maya is the niece
            given_hits[token].append(given_ids)

    for hits, kind, weight in ((full_hits, "name-in-text", W_FULL_NAME), (partial_hits, "name-in-text-partial-surname", W_PARTIAL_SURNAME)):
        by_count: dict[str, int] = dict(hits)
        for sid, count in by_count.items():
            evidence[sid].append(_ev(kind, f"{'full name' if kind == 'name-in-text' else 'given name and part of the surname'} in the text ({count}x)", weight))
            context.add(sid)
    for sid in same_name:
        evidence[sid] = [e if e.kind != "name-in-text" else _ev(e.kind, e.detail + "; another student has this name", W_SAME_NAME_TWICE) for e in evidence[sid]]

    for token, occurrences in given_hits.items():
        candidates = set().union(*occurrences)
        in_context = candidates & context
        count = len(occurrences)
        if len(in_context) == 1:
            (sid,) = in_context
            evidence[sid].append(_ev("given-name-in-context", f"given name alone ({count}x), and the participants point to this student", W_GIVEN_IN_CONTEXT))
        elif len(in_context) > 1:
            for sid in in_context:
                evidence[sid].append(_ev("given-name-shared", f"given name alone ({count}x), shared by {len(in_context)} students of this conversation", W_GIVEN_SHARED_IN_CONTEXT))
        elif len(candidates) == 1:
            (sid,) = candidates
            evidence[sid].append(_ev("given-name-only", f"given name alone ({count}x), nothing else points to the student", W_GIVEN_ONLY))
        else:
            for sid in candidates:
                evidence[sid].append(_ev("given-name-ambiguous", f"given name alone ({count}x), {len(candidates)} students have it", W_GIVEN_AMBIGUOUS))

    if facts.ocr and roster.fuzzy_by_size:
        _fuzzy(plain, used, roster, context, evidence)
    _settle_siblings(evidence)

    candidates = [
        StudentLink(sid, combine(e.weight for e in found), tuple(found))
        for sid, found in evidence.items()
        if sid in roster.students
    ]
    candidates.sort(key=lambda link: (-link.confidence, link.student_id))
    return Matches(candidates, roles, staff_ids, school_address, colleague, outsider)


def _settle_siblings(evidence: dict[str, list[Evidence]]) -> None:
    """A guardian of several students wrote, and the text names some of them: those only."""
    siblings = [sid for sid, found in evidence.items() if any(e.kind in ("guardian-address", "guardian-name") for e in found)]
    named = {sid for sid in siblings if any(e.kind.startswith(("name-in-text", "given-name-in-context", "given-name-shared", "name-fuzzy")) for e in evidence[sid])}
    if not named:
        return
    for sid in siblings:
        if sid not in named and all(e.kind in ("guardian-address", "guardian-name") and e.weight < W_GUARDIAN_ONLY_CHILD for e in evidence[sid]):
            del evidence[sid]


FUZZY_MAX_WORDS = 30_000  # a few dozen OCR'd pages; a longer scan is matched exactly beyond


def _fuzzy(plain: list[str], used: list[bool], roster: Roster, context: set[str], evidence: dict[str, list[Evidence]]) -> None:
    """OCR-damaged full names: a close match of as many words as the name has, with support."""
    seen: set[str] = set()
    limit = min(len(plain), FUZZY_MAX_WORDS)
    for size, (choices, owners) in roster.fuzzy_by_size.items():
        for i in range(limit - size + 1):
            window = plain[i : i + size]
            if any(used[i : i + size]) or len(window[0]) < 2:
                continue
            phrase = " ".join(window)
            if len(phrase) < 7:
                continue
            best = process.extractOne(phrase, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if best is None:
                continue
            sid = owners[best[2]]
            if sid in seen or any(e.kind.startswith("name-in-text") for e in evidence.get(sid, [])):
                continue
            seen.add(sid)
            supported = sid in context
            weight = W_FUZZY_SUPPORTED if supported else W_FUZZY_UNSUPPORTED
            detail = f"OCR text close to the full name (score {best[1]:.0f})" + ("; a participant is of this student's family" if supported else "; no other support")
            evidence[sid].append(_ev("name-fuzzy", detail, weight))


__all__ = ["MATCHER_VERSION", "Matches", "RecordFacts", "Roster", "StaffProfile", "StudentLink", "StudentProfile", "combine", "match_students"]
