"""Structured logs: ingest, disposal, the nightly flow and the sweep each write a line a log
shipper can parse (``RECORDS_LOG_FORMAT=json``), and none carries record content."""

from __future__ import annotations

import datetime as dt
import json

from records.flows.disposal import execute_batch
from records.flows.nightly import run_nightly
from tests.cli_helpers import run
from tests.test_classification_flow import _email, _ingest
from tests.test_disposal import WHEN, _setup
from tests.test_web import app, sign_in  # noqa: F401 - the web app fixture

SECRET = "Quixotic marmalade incident"  # the fixtures' text: it must never reach a log line


def _lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_ingest_disposal_and_nightly_log_json_lines_without_content(installation, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECORDS_LOG_FORMAT", "json")
    _setup(tmp_path)
    files = [_email(tmp_path / f"leo{i}.eml", "Ana Rivera <ana.rivera@example.net>", f"{SECRET} {i}", f"Leo: {SECRET}, part {i}.", WHEN + dt.timedelta(hours=i)) for i in range(2)]
    capsys.readouterr()
    _ingest(installation, *files)
    batch = next(b for b in run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] if b["series"] == "STU-TEMPORARY")
    assert run("dispose", "approve", batch["batch_id"], "--authorization", "SPR-1", "--actor", "omar").exit_code == 0
    execute_batch(installation, batch["batch_id"], actor="omar")
    run_nightly(str(installation.paths.home))
    captured = capsys.readouterr().err
    lines = _lines(captured)
    events = {line["event"]: line for line in lines}
    assert {"ingest.batch", "disposal.executed", "nightly.completed"} <= events.keys(), captured
    assert events["ingest.batch"]["files"] == 2 and events["ingest.batch"]["ingested"] == 2 and events["ingest.batch"]["level"] == "info"
    assert events["disposal.executed"]["destroyed"] == 2 and events["disposal.executed"]["batch_id"] == batch["batch_id"]
    assert all(line["at"].endswith("Z") and "component" in line for line in lines)
    assert SECRET not in captured and "Rivera" not in captured and "leo0.eml" not in captured


def test_logs_are_quiet_by_default_and_never_take_content_fields(monkeypatch, capsys):
    from records import logs

    monkeypatch.delenv("RECORDS_LOG_FORMAT", raising=False)
    monkeypatch.delenv("RECORDS_LOG_LEVEL", raising=False)
    logs.get("ingest").error("ingest.batch_failed", files=1)
    assert capsys.readouterr().err == ""  # a clerk's terminal shows the command's own error line only
    monkeypatch.setenv("RECORDS_LOG_FORMAT", "json")
    logs.get("ingest").warning("ingest.batch_failed", files=1, text=SECRET, subject=SECRET, path="/home/x/maya.eml", error="DiskFull")
    (line,) = _lines(capsys.readouterr().err)
    assert line["error"] == "DiskFull" and SECRET not in json.dumps(line) and "path" not in line


def test_web_requests_and_the_inbox_log_a_line_each_without_content(installation, app, monkeypatch, capsys):
    """IT reads who asked for which page and how it went; never a query's words or a file's name."""
    from records.flows.inbox import inbox_flow
    from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

    monkeypatch.setenv("RECORDS_LOG_FORMAT", "json")
    born_digital_pdf(installation.paths.inbox / "maya-secret-letter.pdf", [EMAIL_PAGE])
    capsys.readouterr()
    inbox_flow(home=str(installation.paths.home))
    client = sign_in(app, "casey")
    assert client.get("/holds").status_code == 200
    assert client.get(f"/records?text={SECRET.replace(' ', '+')}").status_code in (200, 400)
    assert client.get(f"/no-such-page?q={SECRET.replace(' ', '+')}").status_code == 404
    captured = capsys.readouterr().err
    lines = _lines(captured)
    (inbox,) = [line for line in lines if line["event"] == "inbox.completed"]
    assert inbox["submitted"] == 1 and inbox["ingested"] == 1 and inbox["moved_processed"] == 1 and inbox["component"] == "inbox"
    requests = [line for line in lines if line["event"] == "web.request"]
    assert {(r["method"], r["route"], r["status"]) for r in requests} >= {("POST", "/login", 303), ("GET", "/holds", 200), ("GET", "unmatched", 404)}
    signed_in = next(r for r in requests if r["route"] == "/holds")
    assert signed_in["user"] == "casey" and signed_in["role"] == "clerk" and signed_in["ms"] >= 0
    assert SECRET not in captured and "Quixotic" not in captured and "maya-secret-letter" not in captured
