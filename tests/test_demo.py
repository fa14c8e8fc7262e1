"""``records demo``: the main job end to end, twice, on a fresh home."""

from __future__ import annotations

from tests.cli_helpers import run


def test_demo_runs_end_to_end_and_again(prefect_server, paths):
    first = run("demo")
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "30 added" in first.stdout and "8 added" in first.stdout
    records_after_first = {r["id"] for r in run("list", "--json").json()}
    second = run("demo")
    assert second.exit_code == 0
    assert "30 unchanged" in second.stdout
    # The samples are the same bytes again: a second run keeps what exists, adds nothing.
    assert {r["id"] for r in run("list", "--json").json()} == records_after_first
    formats = {r["format"] for r in run("list", "--json").json()}
    assert {"printout-pdf", "printout-scan", "email", "mbox-message", "sms-thread", "facebook-thread"} <= formats
    assert [q["kind"] for q in run("quarantine", "list", "--json").json()] == ["unsupported"]
    doctor = run("doctor", "--json").json()
    assert doctor["ok"] is True
    users = {u["name"]: u["role"] for u in run("user", "list", "--json").json()}
    assert users == {"admin": "admin", "casey.clerk": "clerk", "olivia.officer": "officer", "omar.officer": "officer", "avery.auditor": "auditor"}
    checkpoints = sorted((paths.home / "reports").glob("checkpoint-*.json"))
    assert checkpoints
    verified = run("audit", "verify", "--checkpoint", str(checkpoints[-1]), "--json")
    assert verified.exit_code == 0 and verified.json()["ok"] is True
