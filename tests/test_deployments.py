"""The deployments of prefect.yaml load, are scheduled as the README says, and run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _deployments() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_every_entrypoint_loads_as_a_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(ROOT)
    for name, deployment in _deployments().items():
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow.name, name


def test_nightly_at_two_new_york_time_and_weekly_audit() -> None:
    deployments = _deployments()
    nightly = deployments["nightly"]["schedules"][0]
    assert nightly == {"cron": "0 2 * * *", "timezone": "America/New_York"}
    assert deployments["nightly"]["concurrency_limit"] == 1
    weekly = deployments["weekly-audit-check"]["schedules"][0]
    assert weekly["timezone"] == "America/New_York" and weekly["cron"].endswith("0")


@pytest.mark.usefixtures("prefect_server")
def test_the_nightly_and_weekly_flows_run(installation) -> None:
    from records.flows.nightly import nightly_flow, weekly_audit_flow
    from tests.cli_helpers import run, setup_users

    setup_users()
    report = nightly_flow(home=str(installation.paths.home))
    assert set(report) == {"as_of", "recomputed", "batches", "due_soon", "overdue", "notices", "swept"}
    verified = weekly_audit_flow(home=str(installation.paths.home))
    assert verified["ok"] is True
    actions = {e["action"] for e in run("audit", "log", "--json").json()}
    assert {"nightly.completed", "audit.verified"} <= actions
