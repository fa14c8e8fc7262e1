"""Classification rules as plain functions: each kind of evidence, each series rule, review."""

from __future__ import annotations

import pytest

from records.intake.model import Participant as P
from records.retention.classify import Thresholds, classify, timing_score
from records.retention.matching import RecordFacts, Roster, StaffProfile, StudentProfile, match_students
from records.retention.names import given_name_forms, surname_forms, tokens
from records.retention.series import LearnedModel

ANA = P("Ana Rivera", "+16175550142")  # guardian of the siblings Maya and Leo Rivera
ME = P("Elena Marsh", "+16175550100")  # the teacher whose phone this is


@pytest.fixture(scope="module")
def roster() -> Roster:
    students = [
        StudentProfile("S1", "Maya", "Rivera", None, ("Ana Rivera",), frozenset(), frozenset({"ana.rivera@example.net", "+16175550142"})),
        StudentProfile("S2", "Leo", "Rivera", None, ("Ana Rivera",), frozenset(), frozenset({"ana.rivera@example.net", "+16175550142"})),
        StudentProfile("S3", "Katherine", "Nuñez-García", None, ("Jorge Nuñez",), frozenset({"instagram:kate.ng"}), frozenset({"+16175550199"})),
        StudentProfile("S4", "Maya", "Chen", None, ("Li Wong",), frozenset({"maya.chen@students.example.org"}), frozenset({"li.wong@example.com"})),
        StudentProfile("S5", "Zoë", "de la Cruz", "Zo", (), frozenset(), frozenset()),
        StudentProfile("S6", "William", "Park", None, (), frozenset(), frozenset({"+16175550777"})),
        StudentProfile("S7", "Elena", "Okafor", None, (), frozenset(), frozenset()),
    ]
    staff = [StaffProfile("T1", "Elena", "Marsh", frozenset({"emarsh@schools.example.org", "+16175550100"})), StaffProfile("T2", "Paul", "Grant", frozenset({"pgrant@schools.example.org"}))]
    return Roster(students, staff)


def facts(text: str, *participants: P, fmt: str = "sms-thread", owner: str | None = "T1", ocr: bool = False) -> RecordFacts:
    return RecordFacts("R1", fmt, text, tuple(participants), owner, ocr)


def decide(roster: Roster, record: RecordFacts, model: LearnedModel | None = None):
    return classify(record, roster, Thresholds(), model) if model else classify(record, roster, Thresholds())


def linked(decision) -> list[str]:
    return sorted(link.student_id for link in decision.links)


def kinds(decision, student_id: str) -> set[str]:
    return {e.kind for link in decision.links + decision.student_question if link.student_id == student_id for e in link.evidence}


# --- names -----------------------------------------------------------------------------


def test_name_forms_fold_accents_nicknames_and_double_surnames() -> None:
    assert ("kate",) in given_name_forms("Katherine") and ("katie",) in given_name_forms("Katherine")
    assert ("zoe",) in given_name_forms("Zoë")
    full, partial = surname_forms("Nuñez-García")
    assert ("nunez", "garcia") in full and ("garcia",) in partial and ("nunez",) in partial
    full, partial = surname_forms("de la Cruz")
    assert ("de", "la", "cruz") in full and ("cruz",) in full and ("de",) not in partial
    assert tokens("José NUÑEZ-garcía") == ["jose", "nunez", "garcia"]


# --- each kind of student evidence ---------------------------------------------------------


def test_the_students_own_address_links_them(roster: Roster) -> None:
    decision = decide(roster, facts("see you at practice", P("Maya", "maya.chen@students.example.org"), fmt="email"))
    assert linked(decision) == ["S4"] and "participant-address" in kinds(decision, "S4")
    assert decision.roles == ["student"]


def test_a_guardian_of_an_only_child_links_the_child(roster: Roster) -> None:
    decision = decide(roster, facts("Thanks for the update on the project, we will work on it at home", P("Li Wong", "li.wong@example.com"), fmt="email"))
    assert linked(decision) == ["S4"] and decision.roles == ["guardian"]


def test_siblings_are_told_apart_by_the_name_the_guardian_writes(roster: Roster) -> None:
    decision = decide(roster, facts("Leo is still missing two homework assignments", ANA, ME))
    assert linked(decision) == ["S2"] and not decision.student_question
    assert "given-name-in-context" in kinds(decision, "S2")
    both = decide(roster, facts("Maya and Leo were both absent today, they have the flu", ANA, ME))
    assert linked(both) == ["S1", "S2"]


def test_siblings_not_named_go_to_review_not_guessed(roster: Roster) -> None:
    decision = decide(roster, facts("Can we meet about the report card on Thursday?", ANA, ME))
    assert decision.links == []
    assert sorted(c.student_id for c in decision.student_question) == ["S1", "S2"]
    assert decision.in_review


def test_full_name_with_nickname_accents_and_half_a_double_surname(roster: Roster) -> None:
    for text in ("Kate Nunez-Garcia did great on the quiz", "Katie Garcia was upset in class today", "katherine nuñez garcía has improved a lot"):
        decision = decide(roster, facts(text, P(None, "+16175550000")))
        assert linked(decision) == ["S3"], text
    zoe = decide(roster, facts("Zoe de la Cruz has been doing well in math", P(None, "+16175550000")))
    assert linked(zoe) == ["S5"]
    by_preferred = decide(roster, facts("Zo Cruz forgot her homework again", P(None, "+16175550000")))
    assert linked(by_preferred) == ["S5"]


def test_a_first_name_alone_is_not_enough_without_context(roster: Roster) -> None:
    decision = decide(roster, facts("Leo did a nice job on the test today", P(None, "+16175550000")))
    assert decision.links == []
    assert [c.student_id for c in decision.student_question] == ["S2"]  # a question, not a link
    two_mayas = match_students(facts("Maya was late again", P(None, "+16175550000")), roster)
    assert all(c.confidence < 0.4 for c in two_mayas.candidates)


def test_two_students_with_one_first_name_told_apart_by_the_guardian(roster: Roster) -> None:
    decision = decide(roster, facts("Maya forgot her lunch, can she call me", P("Li Wong", "li.wong@example.com")))
    assert linked(decision) == ["S4"]


def test_staff_are_never_students(roster: Roster) -> None:
    # Elena Okafor is a student; Elena Marsh is the teacher writing.
    decision = decide(roster, facts("Elena Marsh here: the staff meeting moved to 3pm", P("Paul Grant", "pgrant@schools.example.org"), ME, fmt="email"))
    assert decision.links == [] and decision.roles == ["staff", "staff"]


def test_a_relative_sharing_a_students_first_name_is_not_that_student(roster: Roster) -> None:
    niece = P("Maya Thompson", "+16175558888")
    decision = decide(roster, facts("Happy birthday Maya! Love you, see you at grandma's for dinner. Maya, bring the cake", niece, ME))
    assert decision.links == [] and not decision.student_question
    assert decision.series.code == "NON-RECORD"


def test_ocr_damaged_names_need_support(roster: Roster) -> None:
    supported = decide(roster, facts("Katherlne Nunez-Garcla progress report, homework missing", P("Jorge Nunez", "+16175550199"), fmt="printout-scan", ocr=True))
    assert linked(supported) == ["S3"] and "name-fuzzy" in kinds(supported, "S3")
    alone = decide(roster, facts("Kathrine Nunez-Garcia progress report", fmt="printout-scan", owner=None, ocr=True))
    assert alone.links == [] and [c.student_id for c in alone.student_question] == ["S3"]
    not_ocr = match_students(facts("Kathrine Nunez-Garcia progress report", fmt="email"), roster)
    assert not not_ocr.candidates


# --- series ---------------------------------------------------------------------------


def test_a_logistics_chat_with_students_is_linked_and_transitory(roster: Roster) -> None:
    text = (
        "Reminder: the bus for the field trip leaves at 7:45 tomorrow. Maya Chen, Leo Rivera and Kate Nunez-Garcia "
        "need their permission slip and a bagged lunch. We will be back at 3pm. Don't forget water bottles and sunscreen."
    )
    decision = decide(roster, facts(text, P(None, "+16175550000"), fmt="email"))
    assert linked(decision) == ["S2", "S3", "S4"]
    assert decision.series.code == "CORR-TRANSITORY"


def test_progress_about_a_student_is_temporary_even_with_a_bus_mentioned(roster: Roster) -> None:
    text = (
        "Leo has been struggling with his assignments this quarter. He has three missing assignments and his focus in class "
        "has slipped. Could we set up a conference? I am concerned. He can stay for extra help after school and take the late bus."
    )
    decision = decide(roster, facts(text, ANA, ME))
    assert linked(decision) == ["S2"] and decision.series.code == "STU-TEMPORARY"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Maya Chen's IEP team meeting is scheduled; we will review her accommodations and the speech therapy services.", "STU-SPED"),
        ("Please send Maya Chen's official transcript; her final grades and credits for the year are attached.", "STU-TRANSCRIPT"),
    ],
)
def test_student_series_follow_the_words(roster: Roster, text: str, code: str) -> None:
    decision = decide(roster, facts(text, P(None, "registrar@college.example.edu"), fmt="email"))
    assert linked(decision) == ["S4"] and decision.series.code == code


def test_one_clear_special_education_phrase_about_a_linked_student_decides_the_series(roster: Roster) -> None:
    """Being about a student lifts all three student series alike: between them the words decide."""
    decision = decide(roster, facts("Hi, this is Ana Rivera. Leo's new accommodations for tests came home today, thank you.", ANA, ME))
    assert linked(decision) == ["S2"]
    assert decision.series.code == "STU-SPED" and not decision.series_question


def test_a_single_weak_special_education_word_leaves_a_question(roster: Roster) -> None:
    decision = decide(roster, facts("Hi, this is Ana Rivera. Leo asked whether he could sit near the para in math.", ANA, ME))
    assert linked(decision) == ["S2"]
    assert decision.series_question, "one weak phrase must not decide between STU-TEMPORARY and STU-SPED"
    assert {c.code for c in decision.series_question} >= {"STU-SPED", "STU-TEMPORARY"}



def test_special_education_as_weighty_as_the_student_words_binds_over_the_default(roster: Roster) -> None:
    """"STU-TEMPORARY unless it is special education": on equal words the exception wins."""
    text = (
        "Hi, this is Ana Rivera. Leo came home upset about being pulled out for reading group in front of everyone. "
        "Can that be done more quietly? Is the IEP meeting still Monday?"
    )
    decision = decide(roster, facts(text, ANA, ME))
    assert linked(decision) == ["S2"]
    assert decision.series.code == "STU-SPED" and not decision.series_question
    assert any(e.kind == "rule" and "exception" in e.detail for e in decision.series.evidence)


def test_tomorrow_counts_once_toward_logistics(roster: Roster) -> None:
    """A day word is in the logistics lexicon; the timing rule must not count it a second time."""
    text = (
        "Hi, this is Ana Rivera. Leo was really upset after school, some kids were teasing him. Can you keep an eye? "
        "I will check in with Leo tomorrow and let the counselor know."
    )
    decision = decide(roster, facts(text, ANA, ME))
    assert linked(decision) == ["S2"]
    assert decision.series.code == "STU-TEMPORARY"
    assert timing_score(text) == (0.0, 0)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Under the public records law, M.G.L. c. 66, I request copies of all emails about the budget. Please reply within 10 business days.", "PUBLIC-RECORDS-REQUEST"),
        ("I would like to request a leave of absence under FMLA starting in March; HR has my paperwork and my contract.", "PERSONNEL"),
        ("The staff meeting agenda: next year's budget, the curriculum committee and professional development days.", "CORR-ADMIN"),
    ],
)
def test_school_business_without_a_student(roster: Roster, text: str, code: str) -> None:
    decision = decide(roster, facts(text, P(None, "someone@example.com"), fmt="email"))
    assert decision.links == [] and decision.series.code == code


def test_non_record_only_for_private_life_in_a_staff_export(roster: Roster) -> None:
    personal = "Dinner at mom's on Sunday? Bring the wine. Love you sis"
    assert decide(roster, facts(personal, P("Jen", "+16175551234"), ME)).series.code == "NON-RECORD"
    # Not from a staff member's own account: a person decides.
    printout = decide(roster, facts(personal, fmt="printout-pdf", owner=None))
    assert printout.series.code != "NON-RECORD"
    # School business or a student in it: never NON-RECORD.
    for text, who in (
        ("Love you sis! Also the staff meeting and the budget are tomorrow", P("Jen", "+16175551234")),
        ("Dinner sunday? love you", ANA),
        ("Dinner sunday with Leo Rivera? love you", P("Jen", "+16175551234")),
    ):
        assert decide(roster, facts(text, who, ME)).series.code != "NON-RECORD", text



def test_a_staff_conversation_showing_neither_private_life_nor_school_goes_to_a_person(roster: Roster) -> None:
    """NON-RECORD rests on what the conversation shows, not on school words being absent:
    business in words the lexicon does not know must never be purged as private life."""
    unknown = "Did the thing from Tuesday go through? Still says the old number. I sent it over, should show by the end of the week"
    decision = decide(roster, facts(unknown, P(None, "+16175558888"), ME))
    assert decision.series.code != "NON-RECORD"
    assert decision.series_question, "a person places what shows neither private life nor school business"
    private = "I finally booked the flights!! So jealous. You deserve it"
    assert decide(roster, facts(private, P(None, "+16175558888"), ME)).series.code == "NON-RECORD"

def test_a_private_reason_does_not_make_school_logistics_private_life(roster: Roster) -> None:
    """Staff give private reasons for school arrangements; a school word or a duty of the
    school day keeps the conversation school business, never an automatic NON-RECORD."""
    for text in (
        "Yes, I can drive to the district training Tuesday. I'll pick you up at 7:45 at your house, my car is a mess because of the kids' soccer gear lol",
        "Are you still doing the setup for field day Tuesday? My husband has the car that morning so I'll be 10 minutes late. lifesaver, thanks",
        "Can you cover my lunch duty Tuesday? My mom has a doctor appointment and I'm driving her. You're the best, love you for this",
    ):
        decision = decide(roster, facts(text, P(None, "+16175558888"), ME))
        assert decision.series.code != "NON-RECORD", text
    # The same private life without the school in it still is private life.
    private = "Can you pick up the kids from soccer at 5? I'm stuck at work. lifesaver, love you"
    assert decide(roster, facts(private, P(None, "+16175558888"), ME)).series.code == "NON-RECORD"


def test_arranging_to_talk_about_a_student_is_not_logistics(roster: Roster) -> None:
    """"Come to room 215 at lunch tomorrow" in a talk about a student's project is about the
    student: only distinctive logistics (bus, dismissal, field trip) weigh in full then."""
    text = (
        "I'm really stressed about the history project, I don't think I can finish it\n"
        "Let's make a plan. Come to room 215 at lunch tomorrow and we'll break it into steps. You can have until Thursday.\n"
        "ok. thank you for understanding"
    )
    decision = decide(roster, facts(text, P("Maya", "maya.chen@students.example.org"), ME, fmt="instagram-thread"))
    assert linked(decision) == ["S4"]
    assert decision.series.code == "STU-TEMPORARY"


def test_a_phrase_weighs_at_least_as_much_as_the_words_inside_it(roster: Roster) -> None:
    """Longest match first must not hide "IEP" inside "IEP goals"."""
    from records.retention.series import lexicon, stems

    groups = lexicon().groups
    assert groups["STU-SPED"][tuple(stems(["iep", "goals"]))] >= groups["STU-SPED"][("iep",)]
    text = (
        "Hi, this is Ana Rivera. Attached is Leo's progress report on the IEP goals for this term. "
        "Leo has met the math fluency goal and is making steady progress on written expression."
    )
    decision = decide(roster, facts(text, ANA, ME))
    assert linked(decision) == ["S2"] and decision.series.code == "STU-SPED"


def test_a_series_in_doubt_shows_the_doubtful_students_with_it(roster: Roster) -> None:
    """A person looks at the record anyway, and the student decides its series."""
    decision = decide(roster, facts("Leo, great job in the debate today. You convinced half the class!", P(None, "x:1051842501848622416"), fmt="x-dm-thread"))
    assert decision.links == [] and decision.series_question
    assert [c.student_id for c in decision.student_question] == ["S2"]


def test_a_student_series_without_a_student_asks_which_student(roster: Roster) -> None:
    """An X account the roster cannot know writes about their own transcript: the engine
    does not file it as school business without a student, it asks who the student is."""
    text = (
        "did the grade change for my lab go through? portal still says C\n"
        "I submitted it Friday, the registrar has to approve. Should show B- on the transcript this week"
    )
    decision = decide(roster, facts(text, P(None, "x:8585358776563036985"), ME, fmt="x-dm-thread"))
    assert decision.links == [] and decision.series.code == "STU-TRANSCRIPT"
    assert decision.student_unknown and decision.in_review
    # Between colleagues the same words stay staff business: nobody there is a student.
    staff = decide(roster, facts("I'm submitting the injury report: I slipped on the stairs and hurt my wrist, light duty for two weeks.", P("Paul Grant", "pgrant@schools.example.org"), ME, fmt="email"))
    assert staff.series.code == "PERSONNEL" and not staff.student_unknown


def test_what_fits_nothing_is_unscheduled_and_in_review(roster: Roster) -> None:
    decision = decide(roster, facts("ok", fmt="printout-pdf", owner=None))
    assert decision.series.code == "UNSCHEDULED" and decision.series_question and decision.in_review


def test_the_learned_model_moves_a_doubtful_series(roster: Roster) -> None:
    text = "Quick note about the robotics club sign up sheet and the new club dues"
    before = decide(roster, facts(text, P(None, "someone@example.com"), fmt="email"))
    examples = [("CORR-TRANSITORY", tokens("robotics club sign up sheet dues reminder")) for _ in range(4)]
    examples += [("CORR-ADMIN", tokens("curriculum committee budget report")) for _ in range(4)]
    after = decide(roster, facts(text, P(None, "someone@example.com"), fmt="email"), LearnedModel(examples))
    assert after.series.code == "CORR-TRANSITORY"
    assert after.series.confidence > (before.series.confidence if before.series.code == "CORR-TRANSITORY" else 0)
    assert any(e.kind == "learned-model" for e in after.series.evidence)


def test_attachments_share_the_parents_decision_unless_their_own_evidence_differs(roster: Roster) -> None:
    parent = decide(roster, facts("Leo is doing well in math", ANA, ME))
    child = classify(facts("photo", fmt="attachment"), roster, Thresholds(), parent=parent)
    assert linked(child) == ["S2"] and child.series.code == parent.series.code
    sped = classify(facts("Leo Rivera IEP team meeting notes: accommodations, speech therapy, related services", fmt="attachment"), roster, Thresholds(), parent=parent)
    assert sped.series.code == "STU-SPED"


def test_evidence_names_rules_never_the_matched_words(roster: Roster) -> None:
    decision = decide(roster, facts("Kate Nunez-Garcia was absent, homework missing", P(None, "+16175550000")))
    details = " ".join(e.detail for link in decision.links for e in link.evidence) + " ".join(e.detail for e in decision.series.evidence)
    for word in ("Kate", "Nunez", "absent", "homework"):
        assert word.lower() not in details.lower()
