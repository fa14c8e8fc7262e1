"""The ingest and inbox flows run under Prefect (test harness), through the command line."""

from __future__ import annotations

import pytest
import yaml

from tests.cli_helpers import run
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, program_file

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_records_ingest_json_over_a_folder(installation, tmp_path):
    folder = tmp_path / "scans"
    (folder / "march").mkdir(parents=True)
    born_digital_pdf(folder / "march" / "one.pdf", [EMAIL_PAGE])
    born_digital_pdf(folder / "two.pdf", [["A second printed note with enough text to be a text layer."]])
    program_file(folder / "tool.bin")
    outcome = run("ingest", str(folder), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    result = outcome.json()
    assert result["counts"] == {"ingested": 2, "partial": 0, "duplicate": 0, "quarantined": 1}
    for source in result["sources"]:
        assert set(source) >= {"id", "path", "sha256", "status", "reason", "records"}
    again = run("ingest", str(folder / "two.pdf"), "--json").json()
    assert again["counts"]["duplicate"] == 1


def test_ingest_refuses_a_missing_path_and_a_wrong_role(installation, tmp_path):
    missing = run("ingest", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    born_digital_pdf(tmp_path / "note.pdf", [EMAIL_PAGE])
    stranger = run("ingest", str(tmp_path / "note.pdf"), "--staff", "T999")
    assert stranger.exit_code == 2 and "no such staff member" in stranger.stderr
    run("user", "add", "admin", "--role", "admin")
    refused = run("ingest", str(tmp_path), "--actor", "admin")
    assert refused.exit_code == 1 and "admin" in refused.stderr


def test_inbox_flow_ingests_and_moves_files(installation, tmp_path):
    from records.flows.inbox import inbox_flow

    inbox = installation.paths.inbox
    born_digital_pdf(inbox / "letter.pdf", [EMAIL_PAGE])
    program_file(inbox / "virus.pdf")
    result = inbox_flow(home=str(installation.paths.home))
    assert result["counts"]["ingested"] == 1 and result["counts"]["quarantined"] == 1
    assert list(inbox.iterdir()) == []
    assert [p.name for p in (installation.paths.home / "processed").rglob("*.pdf")] == ["letter.pdf"]
    assert [p.name for p in (installation.paths.home / "quarantine").rglob("*.pdf")] == ["virus.pdf"]
    log = run("audit", "log", "--json").json()
    assert {e["actor"] for e in log if e["action"] == "source.received"} == {"system:inbox"}


def test_prefect_yaml_schedules_the_inbox():
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    inbox = next(d for d in config["deployments"] if d["name"] == "inbox")
    assert inbox["entrypoint"] == "records/flows/inbox.py:inbox_flow"
    assert inbox["concurrency_limit"] == 1 and inbox["schedules"][0]["interval"] <= 600


def test_many_files_in_concurrent_batches_are_all_read(installation, tmp_path):
    """Two batches run at once: detection must be ready in both (a registry race once
    quarantined a whole batch of PDFs as "not supported")."""
    from records.flows.ingest import ingest_flow

    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(12):
        born_digital_pdf(folder / f"note-{n}.pdf", [[*EMAIL_PAGE, f"Reference {n}"]])
    result = ingest_flow([str(folder)], home=str(installation.paths.home), actor="system:test", batch_size=3)
    assert result["counts"] == {"ingested": 12, "partial": 0, "duplicate": 0, "quarantined": 0}
