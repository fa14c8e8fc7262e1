"""One record's classification: its students, its one series, and what to ask a person.

Linking and series are separate decisions (domain.md): a field-trip chat with four
students is linked to all four and is still CORR-TRANSITORY. Each decision carries its
confidence and evidence; below the district's thresholds (``records.toml``, ``[review]``)
the question goes to the clerk instead of being guessed.

The series rules, in the order they bind:

- a record linked to a student is about that student's education: STU-TEMPORARY unless
  its words say transcript (STU-TRANSCRIPT) or special education (STU-SPED), or the
  conversation is logistics (CORR-TRANSITORY) or a public-records request;
- without a student: school business (CORR-ADMIN), logistics, a public-records request,
  personnel; NON-RECORD only for a conversation from a staff member's own export that
  shows private life and no school business at all, no student and no student or
  guardian taking part. A record that concerns a student or school business is never
  NON-RECORD;
- what fits nothing is UNSCHEDULED, and goes to review.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from records.intake.model import Evidence
from records.retention.matching import MATCHER_VERSION, Matches, RecordFacts, Roster, StudentLink, match_students
from records.retention.names import tokens, words
from records.retention.series import ADMIN, EMPTY_MODEL, PERSONAL, SCHOOL, STRONG_WEIGHT, LearnedModel, TermScore, lexicon, term_scores

# Bump when a series rule of this module changes: every decision records the version of
# the matcher, these rules, the lexicon and the learned model that produced it.
SERIES_RULES_VERSION = "series-5"
STUDENT_SERIES = ("STU-TEMPORARY", "STU-TRANSCRIPT", "STU-SPED")
STUDENT_DEFAULT_BONUS = 2.0  # "correspondence about an identified student is STU-TEMPORARY"
# "... unless it is transcript material or special education": the exception binds over the
# default when its own words are strong (not one passing phrase) and at least as weighty.
EXCEPTION_STRONG = 3.0
EXCEPTION_BONUS = 1.0
LEARNED_WEIGHT = 4.0
MARGIN_SCALE = 1.6
CANDIDATE_FLOOR = 0.4  # weaker student candidates are not worth a clerk's time
# Formats that come from a staff member's own account, where private life is expected.
PERSONAL_EXPORT_FORMATS = frozenset({"facebook-thread", "instagram-thread", "x-dm-thread", "sms-thread", "x-posts", "mbox-message", "email", "msg"})
NONRECORD_MAX_BUSINESS = 0.5
NONRECORD_MAX_WEAK = 3.0  # weak business words ("tomorrow", "bring") tolerated in private life
NONRECORD_PRIOR = 3.0  # a staff export is mostly private life (issue 5)
COLLEAGUE_PERSONAL = 3.0  # between colleagues, private life must show itself
LINKED_WEAK_LOGISTICS = 0.75  # weak logistics words, when a student is linked (see decide_series)


@dataclass(frozen=True)
class Thresholds:
    student: float = 0.85
    series: float = 0.75

    def to_json(self) -> dict[str, float]:
        return {"student": self.student, "series": self.series}


@dataclass(frozen=True)
class SeriesCandidate:
    code: str
    confidence: float
    evidence: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"value": self.code, "confidence": round(self.confidence, 4), "evidence": [e.to_json() for e in self.evidence]}


@dataclass
class Decision:
    """The engine's answer for one record, and the questions it leaves to a person."""

    record_id: str
    links: list[StudentLink]
    student_question: list[StudentLink]  # candidates; empty when no question
    series: SeriesCandidate
    series_question: list[SeriesCandidate]  # candidates; empty when no question
    roles: list[str]
    version: str
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)
    # "Which student?" with no candidate to offer: the words say a student series and
    # nothing in the record names the student (an X account the roster cannot know).
    student_unknown: bool = False

    @property
    def in_review(self) -> bool:
        return bool(self.student_question or self.series_question or self.student_unknown)


def _softmax_margin(scores: dict[str, float]) -> tuple[str, float, list[tuple[str, float]]]:
    """The best series, a confidence from its margin over the runner-up, and the ranking."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = 1.0 / (1.0 + math.exp(-MARGIN_SCALE * (top - second)))
    if top <= 0:
        confidence = min(confidence, 0.3)
    # The runners-up's confidences, on the same scale, for the review question.
    runners = [(code, 1.0 / (1.0 + math.exp(-MARGIN_SCALE * (value - top)))) for code, value in ranked[1:4]]
    return best, confidence, runners


_HEADER_LINE = re.compile(r"^\s*(from|to|cc|sent|date|subject|received)\s*:", re.IGNORECASE)
_TRANSCRIPT_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?Z\s+")
# A printed chat's "Name (8:33 PM):" and its "Wednesday, September 14, 2022" headings.
_PRINTED_SENDER = re.compile(r"^[^:()\n]{1,60}\(\s*\d{1,2}:\d{2}\s*(?:am|pm)?\s*\)\s*:", re.IGNORECASE)
_DATE_HEADING = re.compile(
    r"^\s*(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s*)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}\b.*$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"(?<![\d:])(?:\d{1,2}:\d{2}(?!:\d)\s*(?:am|pm|a\.m\.|p\.m\.)?|\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.))(?![\w:])", re.IGNORECASE)
# Weekday names only: "tomorrow" and "tonight" are logistics words of the lexicon already,
# and counting them here too made every "I'll check in tomorrow" outweigh the student.
_DAY = re.compile(r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|this morning|this afternoon)\b", re.IGNORECASE)
CLOCK_WEIGHT, DAY_WEIGHT, TIMING_CAP = 1.0, 0.5, 3.0
_DIGIT = re.compile(r"\d")


def timing_score(text: str) -> tuple[float, int]:
    """Clock times and days in what people wrote (not in headers or transcript stamps).

    "Be in the band room by 7:45 Thursday" is logistics whatever else it names; the
    times that an email header or a chat export adds say nothing and are left out.
    """
    found = 0
    score = 0.0
    for line in text.splitlines()[:2000]:
        if _HEADER_LINE.match(line):
            continue
        if not _DIGIT.search(line):
            # Without a digit a line holds no clock time, dated heading, transcript stamp
            # or printed sender's time (each pattern needs one): only its days can count.
            # Most lines of a message are such lines, and the four patterns cost a third
            # of weighing a record's series.
            days = len(_DAY.findall(line))
            found += days
            score += DAY_WEIGHT * days
            continue
        if _DATE_HEADING.match(line):
            continue
        line = _PRINTED_SENDER.sub("", _TRANSCRIPT_STAMP.sub("", line))
        clocks = len(_CLOCK.findall(line))
        days = len(_DAY.findall(line))
        found += clocks + days
        score += CLOCK_WEIGHT * clocks + DAY_WEIGHT * days
    return min(score, TIMING_CAP), found


def _term_evidence(code: str, score: TermScore) -> Evidence:
    return Evidence("series-terms", f"{score.phrases} {code} phrase(s), {score.occurrences} occurrence(s)", round(score.score, 3))


def decide_series(
    facts: RecordFacts,
    matches: Matches,
    links: list[StudentLink],
    words: list[str],
    model: LearnedModel = EMPTY_MODEL,
) -> tuple[SeriesCandidate, list[tuple[str, float]], list[str]]:
    """(decision, runners-up, notes) for one record's series."""
    lex = lexicon()
    scores = term_scores(words, lex)
    business = sum(scores[code].score for code in lex.groups if code not in (SCHOOL, PERSONAL))
    # What rules out NON-RECORD: distinctive business phrases, not "tomorrow" or "bring".
    strong_business = sum(scores[code].strong for code in lex.groups if code not in (SCHOOL, PERSONAL))
    school = scores[SCHOOL].score
    personal = scores[PERSONAL].score
    notes: list[str] = []
    evidence: dict[str, list[Evidence]] = {}
    maybe_student = any(c.confidence >= CANDIDATE_FLOOR for c in matches.candidates)
    if links:
        # A family asking for its child's records is a 603 CMR 23 access request, filed
        # with the student, not a public-records request.
        allowed = ["STU-TEMPORARY", "STU-TRANSCRIPT", "STU-SPED", "CORR-TRANSITORY"]
    elif maybe_student:
        allowed = ["STU-TEMPORARY", "STU-TRANSCRIPT", "STU-SPED", "CORR-TRANSITORY", "CORR-ADMIN", "PUBLIC-RECORDS-REQUEST"]
    elif sum(scores[code].strong for code in STUDENT_SERIES) >= STRONG_WEIGHT and matches.outsider:
        # About a student's schoolwork or wellbeing, written with someone from outside the
        # district whom neither directory knows (an X account the roster cannot hold, a
        # new phone), and no student named: a student series may win, and then a person
        # files the record with its student (``classify``: a student series without a
        # student is a question, never a guess).
        allowed = ["STU-TEMPORARY", "STU-TRANSCRIPT", "STU-SPED", "CORR-TRANSITORY", "CORR-ADMIN", "PUBLIC-RECORDS-REQUEST", "PERSONNEL"]
    else:
        allowed = ["CORR-ADMIN", "CORR-TRANSITORY", "PUBLIC-RECORDS-REQUEST", "PERSONNEL"]
    values: dict[str, float] = {}
    for code in allowed:
        group = ADMIN if code == "CORR-ADMIN" else code
        values[code] = scores[group].score
        if code == "CORR-TRANSITORY" and links:
            # With a student linked, "lunch", "tomorrow" and "see you" are how people
            # arrange talking about the student, not logistics of their own: only the
            # distinctive logistics phrases (bus, dismissal, field trip) count in full.
            weak = scores[group].score - scores[group].strong
            values[code] = scores[group].strong + LINKED_WEAK_LOGISTICS * weak
        if scores[group].phrases:
            evidence.setdefault(code, []).append(_term_evidence(code, scores[group]))
    if "CORR-TRANSITORY" in values:
        timing, moments = timing_score(facts.text[:200_000])
        if timing:
            values["CORR-TRANSITORY"] += timing
            evidence.setdefault("CORR-TRANSITORY", []).append(Evidence("timing", f"{moments} clock time(s) or day(s) in the messages", round(timing, 3)))
    if links:
        # "About a student" is true of all three student series: it lifts STU-TEMPORARY to
        # a floor (what the words say about the student outweighs it), and lifts by as much
        # the transcript or special-education series that the words name, so that between
        # the three only the words decide ("unless it is transcript material or special
        # education"), and a single weak phrase still leaves a question.
        lift = max(0.0, STUDENT_DEFAULT_BONUS - values["STU-TEMPORARY"]) + 0.5
        for code in STUDENT_SERIES:
            if code == "STU-TEMPORARY" or values[code] > 0:
                values[code] += lift
        evidence.setdefault("STU-TEMPORARY", []).append(Evidence("rule", "linked to a student: correspondence about a student is STU-TEMPORARY unless it says otherwise", STUDENT_DEFAULT_BONUS))
        for code in ("STU-TRANSCRIPT", "STU-SPED"):
            if scores[code].strong >= EXCEPTION_STRONG and values[code] >= values["STU-TEMPORARY"]:
                values[code] += EXCEPTION_BONUS
                evidence.setdefault(code, []).append(Evidence("rule", f"{code} is the exception to STU-TEMPORARY and its words are as weighty", EXCEPTION_BONUS))
    if "CORR-ADMIN" in values:
        values["CORR-ADMIN"] += 0.5 * school
        if school:
            evidence.setdefault("CORR-ADMIN", []).append(Evidence("series-terms", f"{scores[SCHOOL].phrases} school-business phrase(s)", round(0.5 * school, 3)))

    # Any trace of a student (even a given name several students share) rules out an
    # automatic NON-RECORD: a person looks first.
    nonrecord_possible = (
        not matches.candidates
        and facts.format in PERSONAL_EXPORT_FORMATS
        and facts.owner_staff_id is not None
        and not any(role in ("student", "guardian") for role in matches.roles)
        and not matches.school_address
        and (personal >= COLLEAGUE_PERSONAL or not matches.colleague)
        and strong_business == 0
        and business <= max(NONRECORD_MAX_WEAK, personal)
        and school <= NONRECORD_MAX_BUSINESS
        # Private life must show itself: a conversation with no words of either kind is
        # unknown, not personal, and a person places it (UNSCHEDULED, in review).
        and personal > 0
    )
    if nonrecord_possible:
        values["NON-RECORD"] = personal + NONRECORD_PRIOR - 2.0 * school
        evidence["NON-RECORD"] = [
            Evidence("rule", "a conversation from a staff member's own account with no student and no school business", NONRECORD_PRIOR),
            Evidence("series-terms", f"{scores[PERSONAL].phrases} private-life phrase(s)", round(personal, 3)),
        ]
    elif not links and not maybe_student and business + school == 0:
        notes.append("no school business and no student found, but not a staff member's own conversation: a person decides")

    posterior = model.posterior(words)
    if posterior:
        for code, p in posterior.items():
            if code in values:
                values[code] += LEARNED_WEIGHT * p
                if p >= 0.5:
                    evidence.setdefault(code, []).append(Evidence("learned-model", f"{model.version}: {p:.2f} from {model.doc_counts[code]} clerk decision(s)", round(LEARNED_WEIGHT * p, 3)))

    if max(values.values(), default=0.0) <= 0:
        runners = [(code, 0.2) for code in sorted(values, key=lambda c: -values[c])[:3]]
        return SeriesCandidate("UNSCHEDULED", 0.3, (Evidence("rule", "nothing in the record places it in a series", 0.0),)), runners, notes
    best, confidence, runners = _softmax_margin(values)
    return SeriesCandidate(best, confidence, tuple(evidence.get(best, ()))), runners, notes


SERIES_SAMPLE_CHARS = 400_000


def _series_sample(text: str) -> str:
    """Enough of a very long conversation to weigh its words: its start and its end.

    A ten-year chat export can hold tens of megabytes; its series is as clear from
    400,000 characters as from all of them, and the time stays bounded. Names are looked
    for in the whole text (``match_students``), which is linear and cheap.
    """
    if len(text) <= SERIES_SAMPLE_CHARS:
        return text
    half = SERIES_SAMPLE_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def classify(
    facts: RecordFacts,
    roster: Roster,
    thresholds: Thresholds,
    model: LearnedModel = EMPTY_MODEL,
    parent: Decision | None = None,
) -> Decision:
    """Classify one record (an attachment after its parent, whose decision it shares)."""
    text_words = words(facts.text)  # split once: the matcher and the series both use them
    matches = match_students(facts, roster, text_words)
    links = [c for c in matches.candidates if c.confidence >= thresholds.student]
    doubtful = [c for c in matches.candidates if CANDIDATE_FLOOR <= c.confidence < thresholds.student]
    if len(facts.text) <= SERIES_SAMPLE_CHARS:
        sample_words = [word for word, _ in text_words]  # tokens(text), already split
    else:
        sample_words = tokens(_series_sample(facts.text))
    series, runners, notes = decide_series(facts, matches, links, sample_words, model)
    version = f"{MATCHER_VERSION}+{SERIES_RULES_VERSION}+{lexicon().version}+{model.version}"

    if parent is not None:
        inherited = {link.student_id for link in links}
        for link in parent.links:
            if link.student_id not in inherited:
                links.append(StudentLink(link.student_id, link.confidence, (Evidence("parent-record", "linked through the record this is attached to", link.confidence),)))
        doubtful = [c for c in doubtful if c.student_id not in {link.student_id for link in links}]
        own_is_stronger = series.code != parent.series.code and series.code in ("STU-SPED", "STU-TRANSCRIPT") and series.confidence >= thresholds.series
        if not own_is_stronger:
            series = SeriesCandidate(parent.series.code, parent.series.confidence, (Evidence("parent-record", "shares the series of the record it is attached to", parent.series.confidence),))
            runners = []

    # A student question only when nothing certain was found, the doubt is about another
    # student of a record whose series is about students, or the series itself is in
    # doubt: a person looks at the record then anyway, and the student decides the series.
    series_in_doubt = series.confidence < thresholds.series or (series.code in STUDENT_SERIES and not links)
    student_question: list[StudentLink] = []
    if doubtful and (not links or series.code in STUDENT_SERIES or series_in_doubt):
        if links or series_in_doubt or series.code in (*STUDENT_SERIES, "CORR-TRANSITORY", "UNSCHEDULED") or any(c.confidence >= 0.5 for c in doubtful):
            student_question = links + doubtful
    series_question: list[SeriesCandidate] = []
    if series_in_doubt:
        series_question = [series, *(SeriesCandidate(code, conf) for code, conf in runners)]
    return Decision(
        record_id=facts.record_id,
        links=links,
        student_question=student_question,
        series=series,
        series_question=series_question,
        roles=matches.roles,
        version=version,
        thresholds=thresholds,
        notes=notes,
        student_unknown=series.code in STUDENT_SERIES and not links and not student_question,
    )


__all__ = ["Decision", "SeriesCandidate", "Thresholds", "classify", "decide_series"]
