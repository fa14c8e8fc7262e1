"""Classification in the catalog and on the command line: decisions, review, learning, purge."""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import json
from pathlib import Path

from sqlalchemy import select

from records.flows.classify import classify_records
from records.flows.ingest import process_batch
from records.storage.models import AuditEventRow, Record, Source
from tests.cli_helpers import run, setup_users
from tests.test_reader_sms import backup, ms, sms

ROSTER = (
    "student_id,first_name,last_name,preferred_name,date_of_birth,grade,entry_date,exit_date,exit_reason,"
    "guardian_names,guardian_emails,guardian_phones,student_emails,student_handles\n"
    "S1,Maya,Rivera,,2012-03-04,6,2018-09-01,,,Ana Rivera,ana.rivera@example.net,(617) 555-0142,,\n"
    "S2,Leo,Rivera,,2014-05-06,4,2020-09-01,,,Ana Rivera,ana.rivera@example.net,(617) 555-0142,,\n"
    "S3,William,Park,Will,2011-01-02,7,2017-09-01,,,Grace Kim,grace.kim@example.com,617-555-0777,,\n"
    "S4,Zoë,Okafor,,2011-07-08,7,2017-09-01,,,Ada Okafor,ada.okafor@example.com,+16175550555,,\n"
)
STAFF = (
    "staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles\n"
    "T1,Elena,Marsh,teacher,emarsh@schools.example.org,elena.marsh@gmail.com,+16175550100,\n"
)
JAN = dt.datetime(2024, 1, 10, 15, 0, tzinfo=dt.UTC)


def _directories(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert run("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert run("staff", "import", str(tmp_path / "staff.csv")).exit_code == 0


def _email(path: Path, sender: str, subject: str, body: str, when: dt.datetime = JAN) -> Path:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = "Elena Marsh <emarsh@schools.example.org>"
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(when)
    message["Message-ID"] = email.utils.make_msgid(domain="example.net")
    message.set_content(body)
    path.write_bytes(bytes(message))
    return path


def _ingest(installation, *files: Path, staff: str | None = None) -> dict[str, list[str]]:
    reports = process_batch(installation, list(files), actor="system:test", owner_staff_id=staff)
    ids = [record for report in reports for record in report.records]
    classify_records(installation, ids)
    return {Path(report.path).name: report.records for report in reports}


def _events(installation, action: str) -> list[AuditEventRow]:
    with installation.catalog.reading() as session:
        return list(session.execute(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)).scalars())


def _by_counterpart(installation, records: list[str]) -> dict[str, dict]:
    views = [run("show", record_id, "--json").json() for record_id in records]
    return {next(p["address"] for p in v["participants"] if p["address"] and p["address"] != "+16175550100"): v for v in views}


def test_ingested_records_are_linked_and_filed_with_evidence_and_audited(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    files = _ingest(
        installation,
        _email(tmp_path / "a.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Hi, Leo is still missing two homework assignments. Can he get extra help?"),
        _email(tmp_path / "b.eml", "Grace Kim <grace.kim@example.com>", "Field trip", "Will the bus for the field trip leave at 7:45 tomorrow? Do we need a bagged lunch?"),
    )
    leo = run("show", files["a.eml"][0], "--json").json()
    assert [s["student_id"] for s in leo["students"]] == ["S2"]
    assert leo["students"][0]["confidence"] >= 0.85 and leo["students"][0]["evidence"]
    assert leo["series"]["code"] == "STU-TEMPORARY" and leo["series"]["decided_by"] == "engine" and leo["status"] == "active"
    assert {p["role"] for p in leo["participants"]} == {"guardian", "staff"}
    trip = run("show", files["b.eml"][0], "--json").json()
    assert [s["student_id"] for s in trip["students"]] == ["S3"] and trip["series"]["code"] == "CORR-TRANSITORY"
    assert [r["id"] for r in run("list", "--student", "S2", "--json").json()] == files["a.eml"]

    events = _events(installation, "record.classified")
    assert len(events) == 2
    payload = json.loads(events[0].payload)
    assert payload["thresholds"] == {"student": 0.85, "series": 0.75} and payload["version"].startswith("match-")
    assert payload["students"][0]["evidence"] and payload["series"]["code"]
    for event in events:
        for word in ("homework", "missing", "bus", "Leo", "lunch"):
            assert word not in event.payload


def test_doubt_goes_to_review_and_a_clerks_decision_is_kept_and_learned(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    files = _ingest(
        installation,
        _email(tmp_path / "q.eml", "Coach Dan <coach.dan@gmail.com>", "Great game", "Leo did a great job at the game today, he really focused in practice."),
        _email(tmp_path / "n.eml", "Rosa Diaz <rosa.d@gmail.com>", "Quick question", "Is the homework for the unit due Monday? Thanks so much"),
    )
    queue = run("review", "--json").json()
    question = next(q for q in queue if q["record_id"] == files["q.eml"][0])
    assert question["question"] == "students" and question["candidates"][0]["value"] == "S2" and question["candidates"][0]["evidence"]
    assert run("show", files["q.eml"][0], "--json").json()["status"] == "in_review"
    assert run("show", files["q.eml"][0], "--json").json()["students"] == []  # asked, not guessed

    refused = run("classify", files["q.eml"][0], "--student", "S2", "--reason", "coach", "--actor", "avery")
    assert refused.exit_code == 1 and "auditor" in refused.stderr
    assert run("classify", files["q.eml"][0], "--student", "S2", "--actor", "casey").exit_code == 2  # no reason
    decided = run("classify", files["n.eml"][0], "--student", "S4", "--series", "STU-TEMPORARY", "--reason", "Rosa is Zoe's aunt", "--actor", "casey", "--json")
    assert decided.exit_code == 0, decided.stderr
    assert run("classify", files["q.eml"][0], "--student", "S2", "--reason", "the coach writes about Leo Rivera", "--actor", "casey").exit_code == 0
    shown = run("show", files["q.eml"][0], "--json").json()
    assert shown["status"] == "active" and [s["student_id"] for s in shown["students"]] == ["S2"]
    assert all(q["record_id"] != files["q.eml"][0] or q["question"] != "students" for q in run("review", "--json").json())

    # The engine re-evaluates everything (a roster import, say) and keeps the person's word.
    classify_records(installation, [files["q.eml"][0], files["n.eml"][0]])
    again = run("show", files["n.eml"][0], "--json").json()
    assert [s["student_id"] for s in again["students"]] == ["S4"] and again["series"]["decided_by"] == "casey"

    # Learned: the aunt's address now points to Zoë in a later email that names nobody.
    later = _ingest(installation, _email(tmp_path / "later.eml", "Rosa Diaz <rosa.d@gmail.com>", "Thanks", "Thank you for the progress report, we talked about it at home.", JAN + dt.timedelta(days=9)))
    assert [s["student_id"] for s in run("show", later["later.eml"][0], "--json").json()["students"]] == ["S4"]
    identified = [json.loads(e.payload) for e in _events(installation, "student.identified")]
    assert {"kind": "email", "origin": "decision"}.items() <= identified[0].items() and "rosa" not in json.dumps(identified)


def test_a_student_series_with_no_student_found_asks_which_student(installation, tmp_path):
    """Someone the roster does not know writes about their own grades: the clerk is asked
    who the student is (with no candidate to offer), and the answer is kept and learned."""
    setup_users()
    _directories(tmp_path)
    files = _ingest(
        installation,
        _email(tmp_path / "t.eml", "<kid.2011@gmail.com>", "grade change", "Did the grade change for my lab go through? The portal still says C. I need it on my transcript for the application."),
    )
    record_id = files["t.eml"][0]
    shown = run("show", record_id, "--json").json()
    assert shown["status"] == "in_review" and shown["students"] == [] and shown["series"]["code"] == "STU-TRANSCRIPT"
    question = next(q for q in run("review", "--json").json() if q["record_id"] == record_id and q["question"] == "students")
    assert question["candidates"] == []
    assert "none found" in run("review").stdout
    assert run("classify", record_id, "--student", "S3", "--reason", "Will wrote from his own account", "--actor", "casey").exit_code == 0
    assert [s["student_id"] for s in run("show", record_id, "--json").json()["students"]] == ["S3"]
    assert all(q["record_id"] != record_id or q["question"] != "students" for q in run("review", "--json").json())
    decided = [json.loads(e.payload) for e in _events(installation, "record.classified") if e.subject_id == record_id]
    assert decided[-1]["decided_by"] == "casey"
    learned = [json.loads(e.payload) for e in _events(installation, "student.identified")]
    assert any(p["origin"] == "decision" and p["record_id"] == record_id and p["kind"] == "email" for p in learned)


def test_student_identify_teaches_an_x_id(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    files = _ingest(
        installation,
        backup(tmp_path, [sms("+1 617 555 0999", ms(JAN), 1, "hi its me, can i turn in the essay friday?"), sms("+1 617 555 0999", ms(JAN) + 60_000, 2, "Yes, Friday is fine")]),
        staff="T1",
    )
    [record_id] = next(iter(files.values()))
    assert run("show", record_id, "--json").json()["students"] == []
    bad = run("student", "identify", "S3", "--identifier", "fax:123", "--actor", "casey")
    assert bad.exit_code == 2 and "KIND:VALUE" in bad.stderr
    outcome = run("student", "identify", "S3", "--identifier", "phone:(617) 555-0999", "--actor", "casey", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["reevaluated"] == 1 and outcome.json()["changed"] == 1
    shown = run("show", record_id, "--json").json()
    assert [s["student_id"] for s in shown["students"]] == ["S3"]
    assert _events(installation, "record.reclassified")


def test_non_record_is_listed_and_purged_only_when_a_person_confirms(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    path = backup(
        tmp_path,
        [
            sms("+1 617 555 1234", ms(JAN), 1, "Dinner at mom's on Sunday? Bring wine. Love you sis", "Jen"),
            sms("+1 617 555 1234", ms(JAN) + 60_000, 2, "Haha yes, love you too, see you Sunday", "Jen"),
            sms("(617) 555-0142", ms(JAN) + 120_000, 1, "Maya was absent today, she has the flu. Can she get the homework?", "Ana Rivera"),
        ],
    )
    files = _ingest(installation, path, staff="T1")
    views = _by_counterpart(installation, next(iter(files.values())))
    personal, school = views["+16175551234"], views["+16175550142"]
    assert personal["series"]["code"] == "NON-RECORD" and school["series"]["code"] == "STU-TEMPORARY"
    listed = run("nonrecord", "list", "--json").json()
    assert [row["record_id"] for row in listed] == [personal["id"]] and listed[0]["evidence"]
    # Nothing is purged before a person confirms: the content is still there.
    assert "Dinner" in run("text", personal["id"]).stdout
    source_id = personal["source_id"]
    with installation.catalog.reading() as session:
        assert session.get(Source, source_id).key_destroyed_at is None

    refused = run("nonrecord", "confirm", school["id"], "--actor", "casey", "--json")
    assert refused.exit_code == 0 and refused.json()["purged"] == [] and "STU-TEMPORARY" in refused.json()["refused"][0]["reason"]
    assert run("nonrecord", "confirm", "--source", source_id, "--actor", "avery").exit_code == 1
    done = run("nonrecord", "confirm", "--source", source_id, "--actor", "casey", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["purged"] == [personal["id"]] and done.json()["containers_released"] == [source_id]
    gone = run("text", personal["id"])
    assert gone.exit_code == 1 and "destroyed" in gone.stderr
    assert run("show", personal["id"], "--json").json()["status"] == "destroyed"
    assert "absent" in run("text", school["id"]).stdout  # the school record stays
    confirmed = _events(installation, "nonrecord.confirmed")
    assert len(confirmed) == 1 and "Dinner" not in confirmed[0].payload
    assert any(json.loads(e.payload)["reason"] == "nonrecord" for e in _events(installation, "record.destroyed"))
    assert len(_events(installation, "source.key_destroyed")) == 1
    with installation.catalog.reading() as session:
        assert session.get(Source, source_id).key_destroyed_at is not None
    assert run("audit", "verify").exit_code == 0


def test_a_linked_record_cannot_become_non_record(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    files = _ingest(installation, _email(tmp_path / "a.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments."))
    refused = run("classify", files["a.eml"][0], "--series", "NON-RECORD", "--reason", "looks personal", "--actor", "casey")
    assert refused.exit_code == 1 and "never NON-RECORD" in refused.stderr


def test_a_roster_import_reevaluates_links_with_an_event_per_change(installation, tmp_path):
    setup_users()
    _directories(tmp_path)
    files = _ingest(installation, _email(tmp_path / "r.eml", "Nurse Office <nurse@schools.example.org>", "Ravi", "Ravi Patel came to the health office with a headache and went back to class."))
    record_id = files["r.eml"][0]
    assert run("show", record_id, "--json").json()["students"] == []
    (tmp_path / "roster2.csv").write_text(ROSTER + "S9,Ravi,Patel,,2012-02-02,6,2018-09-01,,,Priya Patel,priya@example.com,,,\n", encoding="utf-8")
    outcome = run("roster", "import", str(tmp_path / "roster2.csv"), "--json")
    assert outcome.exit_code == 0 and outcome.json()["added"] == 1 and outcome.json()["reclassified"]["changed"] >= 1
    shown = run("show", record_id, "--json").json()
    assert [s["student_id"] for s in shown["students"]] == ["S9"] and shown["series"]["code"] == "STU-TEMPORARY"
    changes = [json.loads(e.payload) for e in _events(installation, "record.reclassified") if e.subject_id == record_id]
    assert changes and changes[-1]["students_before"] == [] and changes[-1]["students"][0]["student_id"] == "S9"
    with installation.catalog.reading() as session:
        assert session.get(Record, record_id).classifier
