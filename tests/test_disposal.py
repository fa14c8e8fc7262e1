"""Disposal end to end: plan, propose, approvals refused and given, holds, execution, proof."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from records.flows.disposal import execute_batch
from records.storage.models import AuditEventRow, Record, Tombstone
from tests.cli_helpers import run, setup_users
from tests.test_classification_flow import STAFF, _email, _ingest

# Leo left in 2018 (his temporary records are overdue); Will left in 2019; Maya is enrolled.
ROSTER = (
    "student_id,first_name,last_name,preferred_name,date_of_birth,grade,entry_date,exit_date,exit_reason,"
    "guardian_names,guardian_emails,guardian_phones,student_emails,student_handles,mailing_address\n"
    "S1,Maya,Rivera,,2012-03-04,6,2018-09-01,,,Ana Rivera,ana.rivera@example.net,(617) 555-0142,,,\n"
    "S2,Leo,Rivera,,2010-05-06,4,2015-09-01,2018-06-15,transferred,Ana Rivera,ana.rivera@example.net,(617) 555-0142,,,\"12 Elm St\nSpringfield, MA 01101\"\n"
    "S3,William,Park,Will,2009-01-02,7,2014-09-01,2019-06-20,graduated,Grace Kim,grace.kim@example.com,617-555-0777,,,\n"
)
WHEN = dt.datetime(2017, 10, 2, 14, 0, tzinfo=dt.UTC)


def _setup(tmp_path: Path) -> None:
    setup_users()
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert run("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert run("staff", "import", str(tmp_path / "staff.csv")).exit_code == 0


def _records(installation, tmp_path: Path) -> dict[str, str]:
    files = _ingest(
        installation,
        _email(tmp_path / "leo1.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments.", WHEN),
        _email(tmp_path / "leo2.eml", "Ana Rivera <ana.rivera@example.net>", "Leo again", "Leo finished the missing homework, thank you for the extra help.", WHEN + dt.timedelta(days=2)),
        _email(tmp_path / "will.eml", "Grace Kim <grace.kim@example.com>", "Will", "Will has been struggling with his essays this quarter.", WHEN),
        _email(tmp_path / "maya.eml", "Ana Rivera <ana.rivera@example.net>", "Maya", "Maya Rivera was absent today with the flu.", WHEN),
        _email(tmp_path / "admin.eml", "Paul Grant <pgrant@schools.example.org>", "Budget", "The staff meeting agenda: next year's budget and the curriculum committee.", WHEN),
    )
    return {name.removesuffix(".eml"): ids[0] for name, ids in files.items()}


def _events(installation, action: str) -> list[AuditEventRow]:
    with installation.catalog.reading() as session:
        return list(session.execute(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)).scalars())


def test_disposal_end_to_end(installation, tmp_path):
    _setup(tmp_path)
    ids = _records(installation, tmp_path)
    assert run("show", ids["leo1"], "--json").json()["series"]["code"] == "STU-TEMPORARY"
    assert run("show", ids["admin"], "--json").json()["series"]["code"] == "CORR-ADMIN"

    # A first hold, placed before anything is planned.
    assert run("hold", "place", "--kind", "litigation", "--reason", "case 24-113", "--record", ids["will"], "--actor", "olivia").exit_code == 0
    plan = run("dispose", "plan", "--as-of", "2025-06-16", "--json").json()
    assert plan["as_of"] == "2025-06-16"
    assert sorted(plan["overdue"]) == sorted([ids["leo1"], ids["leo2"]])
    assert plan["held"] == [ids["will"]]
    assert plan["eligible"] == [ids["admin"]] and plan["unconfirmed_series"] == ["CORR-ADMIN"]
    assert ids["maya"] not in json.dumps(plan)
    assert run("dispose", "propose", "--as-of", "2099-01-01", "--actor", "olivia").exit_code == 2  # never a future date
    assert run("dispose", "propose", "--actor", "casey").exit_code == 1  # clerks may not

    proposed = run("dispose", "propose", "--actor", "olivia", "--json")
    assert proposed.exit_code == 0, proposed.stderr
    batches = {b["series"]: b for b in proposed.json()["batches"]}
    assert set(batches) == {"STU-TEMPORARY", "CORR-ADMIN"}
    temporary, admin = batches["STU-TEMPORARY"], batches["CORR-ADMIN"]
    assert sorted(temporary["records"]) == sorted([ids["leo1"], ids["leo2"]]) and temporary["needs_authorization"] and temporary["confirmed"]
    assert admin["confirmed"] is False
    assert Path(temporary["application_pdf"]).read_bytes().startswith(b"%PDF")
    assert "STU-TEMPORARY" in Path(temporary["application_csv"]).read_text()
    assert run("show", ids["leo1"], "--json").json()["retention"]["state"] == "proposed"
    assert run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] == []  # nothing twice

    t_id, a_id = temporary["batch_id"], admin["batch_id"]
    refused = run("dispose", "approve", t_id, "--authorization", "SPR-2025-0042", "--actor", "olivia")
    assert refused.exit_code == 1 and "another officer" in refused.stderr
    refused = run("dispose", "approve", a_id, "--authorization", "SPR-2025-0043", "--actor", "omar")
    assert refused.exit_code == 1 and "not confirmed" in refused.stderr
    refused = run("dispose", "approve", t_id, "--actor", "omar")
    assert refused.exit_code == 1 and "--authorization" in refused.stderr
    assert run("dispose", "execute", t_id, "--actor", "omar").exit_code == 1  # not approved yet
    assert run("dispose", "approve", t_id, "--authorization", "SPR-2025-0042", "--actor", "omar").exit_code == 0
    assert run("dispose", "reject", a_id, "--reason", "series to confirm first", "--actor", "omar").exit_code == 0
    assert run("show", ids["admin"], "--json").json()["status"] == "active"

    # A second hold after approval covers one of the approved records.
    assert run("hold", "place", "--kind", "inspection-request", "--reason", "parent asked to inspect", "--record", ids["leo2"], "--actor", "olivia").exit_code == 0
    executed = run("dispose", "execute", t_id, "--actor", "omar", "--json")
    assert executed.exit_code == 0, executed.stderr
    result = executed.json()
    assert result["destroyed"] == [ids["leo1"]]
    assert result["skipped"][0]["id"] == ids["leo2"] and "hold" in result["skipped"][0]["reason"]
    assert Path(result["certificate"]).read_bytes().startswith(b"%PDF")
    certificate = json.loads(Path(result["certificate"]).with_suffix(".json").read_text())
    assert certificate["records"] == [ids["leo1"]] and certificate["authorization"] == "SPR-2025-0042"
    assert certificate["chain_head"]["hash"] and certificate["keystore_backup_window_days"] == 35

    # Destroyed: unreadable, a tombstone; held records survive and stay readable.
    gone = run("text", ids["leo1"])
    assert gone.exit_code == 1 and "destroyed" in gone.stderr
    shown = run("show", ids["leo1"], "--json").json()
    assert shown["status"] == "destroyed" and shown["retention"]["state"] == "destroyed" and shown["participants"] == []
    with installation.catalog.reading() as session:
        row = session.get(Record, ids["leo1"])
        tomb = session.get(Tombstone, ids["leo1"])
        assert tomb is not None and tomb.batch_id == t_id and tomb.approval_reference == "SPR-2025-0042"
        assert not installation.keystore.has_key(row.key_id)
    assert "homework" in run("text", ids["leo2"]).stdout
    assert "essays" in run("text", ids["will"]).stdout
    assert run("show", ids["leo2"], "--json").json()["status"] == "active"

    # A rerun destroys nothing twice and reports the same outcome.
    again = run("dispose", "execute", t_id, "--actor", "omar", "--json").json()
    assert again["destroyed"] == [ids["leo1"]]
    assert len([e for e in _events(installation, "record.destroyed") if e.subject_id == ids["leo1"]]) == 1
    listed = {b["batch_id"]: b for b in run("dispose", "list", "--json").json()}
    assert listed[t_id]["status"] == "executed" and listed[t_id]["approved_by"] == "omar" and listed[t_id]["proposed_by"] == "olivia"
    assert listed[a_id]["status"] == "rejected"

    # Leo's access log shows his record's destruction next to its readings.
    log = run("audit", "log", "--student", "S2", "--json").json()
    actions = [e["action"] for e in log]
    assert "record.destroyed" in actions and "record.viewed" in actions
    assert run("audit", "verify").exit_code == 0


def test_nightly_proposes_never_approves_and_sends_exit_notices(installation, tmp_path):
    _setup(tmp_path)
    ids = _records(installation, tmp_path)
    outcome = run("nightly", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json()
    assert len(report["batches"]) >= 1 and report["overdue"] == 0  # proposed records are no longer counted as overdue
    assert len(report["notices"]) == 2  # Leo and Will have exited
    letter = Path(next(p for p in report["notices"] if "S2" in p))
    assert letter.read_bytes().startswith(b"%PDF")
    assert all(b["status"] == "proposed" and b["approved_by"] is None for b in run("dispose", "list", "--json").json())
    assert len(_events(installation, "notice.generated")) == 2
    assert run("nightly", "--json").json()["notices"] == []  # one notice per exit
    assert run("show", ids["leo1"], "--json").json()["retention"]["state"] == "proposed"
    doctor = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert doctor["nightly"]["status"] == "ok"


def test_execution_killed_anywhere_destroys_each_record_exactly_once(installation, tmp_path):
    _setup(tmp_path)
    when = WHEN
    files = [_email(tmp_path / f"leo{i}.eml", "Ana Rivera <ana.rivera@example.net>", f"Leo {i}", f"Leo homework note number {i}.", when + dt.timedelta(hours=i)) for i in range(8)]
    ids = [record for found in _ingest(installation, *files).values() for record in found]
    batch = next(b for b in run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] if b["series"] == "STU-TEMPORARY")
    assert run("dispose", "approve", batch["batch_id"], "--authorization", "SPR-1", "--actor", "omar").exit_code == 0

    class Killed(BaseException):
        pass

    rng = random.Random(7)
    for _ in range(5):
        limit = rng.randint(0, 3)
        seen: list[str] = []

        def crash(record_id: str) -> None:
            seen.append(record_id)
            if len(seen) > limit:
                raise Killed(record_id)

        with pytest.raises(Killed):
            execute_batch(installation, batch["batch_id"], actor="omar", on_record=crash)
        destroyed = run("list", "--status", "destroyed", "--json").json()
        assert len(destroyed) <= len(ids)
    # Killed inside the destroy primitive: the key is shredded, the tombstone not yet written.
    import records.storage.destroy as destroy_module

    real_shred = destroy_module._shred
    for _ in range(3):

        def shred_then_die(content, record):  # type: ignore[no-untyped-def]
            real_shred(content, record)
            raise Killed("after the shred")

        destroy_module._shred = shred_then_die
        try:
            with pytest.raises(Killed):
                execute_batch(installation, batch["batch_id"], actor="omar")
        finally:
            destroy_module._shred = real_shred
    final = execute_batch(installation, batch["batch_id"], actor="omar")
    assert sorted(final["destroyed"]) == sorted(ids)
    per_record = [e.subject_id for e in _events(installation, "record.destroyed")]
    assert sorted(per_record) == sorted(ids)  # exactly once each
    assert run("audit", "verify").exit_code == 0
