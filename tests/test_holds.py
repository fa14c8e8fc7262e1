"""Retention stored on records, states by day, and holds: scope, later records, history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select

from records.storage.models import AuditEventRow
from tests.cli_helpers import run, setup_users
from tests.test_classification_flow import ROSTER, STAFF, _email, _ingest

EXITED = ROSTER.replace("S2,Leo,Rivera,,2014-05-06,4,2020-09-01,,", "S2,Leo,Rivera,,2014-05-06,4,2016-09-01,2018-06-15,transferred")


def _setup(tmp_path: Path, roster: str = EXITED) -> None:
    setup_users()
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert run("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert run("staff", "import", str(tmp_path / "staff.csv")).exit_code == 0


def _events(installation, action: str) -> list[AuditEventRow]:
    with installation.catalog.reading() as session:
        return list(session.execute(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)).scalars())


def test_retention_is_stored_and_the_state_depends_on_the_day(installation, tmp_path):
    _setup(tmp_path)
    when = dt.datetime(2017, 10, 2, 14, 0, tzinfo=dt.UTC)
    files = _ingest(
        installation,
        _email(tmp_path / "leo.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments.", when),
        _email(tmp_path / "maya.eml", "Ana Rivera <ana.rivera@example.net>", "Maya", "Maya Rivera was absent today with the flu, can she get the homework?", when),
    )
    leo = run("show", files["leo.eml"][0], "--as-of", "2025-06-16", "--json").json()
    assert leo["series"]["code"] == "STU-TEMPORARY"
    assert leo["retention"] == {
        "trigger": "student_exit", "trigger_date": "2018-06-15", "eligible_on": "2018-06-15", "destroy_by": "2025-06-15",
        "disposition": "destroy", "needs_approval": True, "schedule_version": 1, "state": "overdue",
    }  # fmt: skip
    assert run("show", files["leo.eml"][0], "--as-of", "2025-04-01", "--json").json()["retention"]["state"] == "due_soon"
    assert run("show", files["leo.eml"][0], "--as-of", "2020-01-01", "--json").json()["retention"]["state"] == "eligible"
    maya = run("show", files["maya.eml"][0], "--json").json()["retention"]
    assert maya["state"] == "retain" and maya["eligible_on"] is None  # Maya is enrolled
    overdue = run("list", "--state", "overdue", "--as-of", "2025-06-16", "--json").json()
    assert [r["id"] for r in overdue] == files["leo.eml"]
    assert run("list", "--state", "someday").exit_code == 2
    events = [e for e in _events(installation, "record.retention") if e.subject_id == files["leo.eml"][0]]
    assert events and json.loads(events[-1].payload)["destroy_by"] == "2025-06-15"

    # A roster import that exits Maya moves her record's dates, with an event.
    (tmp_path / "roster2.csv").write_text(EXITED.replace("S1,Maya,Rivera,,2012-03-04,6,2018-09-01,,", "S1,Maya,Rivera,,2012-03-04,6,2018-09-01,2024-06-20,graduated"), encoding="utf-8")
    imported = run("roster", "import", str(tmp_path / "roster2.csv"), "--json").json()
    assert imported["exited"] == ["S1"] and imported["reclassified"]["retention_changed"] + imported["retention_changed"] >= 1
    moved = run("show", files["maya.eml"][0], "--as-of", "2025-01-01", "--json").json()["retention"]
    assert (moved["eligible_on"], moved["destroy_by"], moved["state"]) == ("2024-06-20", "2031-06-20", "eligible")


def test_holds_scope_cover_later_records_show_on_records_and_keep_history(installation, tmp_path):
    _setup(tmp_path)
    when = dt.datetime(2017, 10, 2, 14, 0, tzinfo=dt.UTC)
    files = _ingest(
        installation,
        _email(tmp_path / "leo.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments.", when),
        _email(tmp_path / "will.eml", "Grace Kim <grace.kim@example.com>", "Will", "Will has been struggling with his essays this quarter.", when),
        _email(tmp_path / "budget.eml", "Paul Grant <pgrant@schools.example.org>", "Budget", "The staff meeting agenda: next year's budget and the curriculum committee.", when),
    )
    leo, will, budget = files["leo.eml"][0], files["will.eml"][0], files["budget.eml"][0]

    assert run("hold", "place", "--kind", "litigation", "--reason", "x", "--student", "S2", "--actor", "casey").exit_code == 1  # clerks may not
    assert run("hold", "place", "--kind", "lawsuit", "--reason", "x", "--student", "S2", "--actor", "olivia").exit_code == 2
    assert run("hold", "place", "--kind", "audit", "--reason", "everything?", "--actor", "olivia").exit_code == 2
    either = run("hold", "place", "--kind", "inspection-request", "--reason", "parents asked to inspect", "--student", "S2", "--student", "S3", "--actor", "olivia", "--json")
    assert either.exit_code == 0, either.stderr
    assert either.json()["covers"] == 2  # OR within one kind
    both = run("hold", "place", "--kind", "litigation", "--reason", "case 24-113", "--student", "S2", "--series", "CORR-ADMIN", "--actor", "olivia", "--json").json()
    assert both["covers"] == 0  # AND across kinds
    dated_out = run("hold", "place", "--kind", "public-records-request", "--reason", "PRR 2017-31", "--series", "CORR-ADMIN", "--from", "2017-10-01", "--to", "2017-10-31", "--actor", "olivia", "--json")
    assert dated_out.exit_code == 0, dated_out.stderr
    dated = dated_out.json()
    assert dated["covers"] == 1
    outside = run("hold", "place", "--kind", "audit", "--reason", "FY19 audit", "--from", "2018-07-01", "--to", "2019-06-30", "--actor", "olivia", "--json").json()
    assert outside["covers"] == 0

    shown = run("show", leo, "--as-of", "2025-06-16", "--json").json()
    assert shown["holds"] == [either.json()["hold_id"]] and shown["retention"]["state"] == "held"
    assert run("show", budget, "--json").json()["holds"] == [dated["hold_id"]]

    # A record ingested after the hold was placed is covered too.
    later = _ingest(installation, _email(tmp_path / "leo2.eml", "Ana Rivera <ana.rivera@example.net>", "Leo again", "Leo finished the missing homework.", when + dt.timedelta(days=3)))
    assert run("show", later["leo2.eml"][0], "--json").json()["holds"] == [either.json()["hold_id"]]

    assert run("hold", "release", either.json()["hold_id"], "--actor", "casey").exit_code == 1
    assert run("hold", "release", either.json()["hold_id"], "--actor", "omar").exit_code == 0
    assert run("hold", "release", either.json()["hold_id"], "--actor", "omar").exit_code == 1  # already released
    assert run("show", leo, "--as-of", "2025-06-16", "--json").json()["retention"]["state"] == "overdue"
    listed = {h["hold_id"]: h for h in run("hold", "list", "--json").json()}
    released = listed[either.json()["hold_id"]]
    assert released["released_at"] and released["placed_by"] == "olivia" and released["criteria"]["students"] == ["S2", "S3"] and released["covers"] == 3
    assert listed[dated["hold_id"]]["released_at"] is None
    placed = [json.loads(e.payload) for e in _events(installation, "hold.placed")]
    assert len(placed) == 4 and placed[0]["criteria"]["students"] == ["S2", "S3"]
    assert len(_events(installation, "hold.released")) == 1
    assert run("audit", "verify").exit_code == 0
