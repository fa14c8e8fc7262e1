"""The nightly flow (02:00 district time) and the weekly audit check, as Prefect flows.

Nightly: classify anything still waiting (records a killed ingest committed but never
classified), recompute retention, plan and propose disposal batches (``system:nightly``
proposes; it never approves), count due-soon and overdue records, write exit notices,
and sweep the store of content no row needs (``storage/sweep.py``, a day's grace). Thin on purpose: every step is a storage service or a
plain function of ``records.flows.disposal``; each step is one task (a batch of work).
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

import datetime as dt
from typing import Any

from prefect import flow, task

from records.flows.classify import classify_records
from records.flows.disposal import propose_batches, send_exit_notices
from records.storage import audit, disposal, facts, retention
from records.storage.installation import open_installation

ACTOR = "system:nightly"


@task(name="classify-waiting")
def classify_waiting(home: str | None) -> int:
    return classify_records(open_installation(home), None, actor="engine").classified


@task(name="recompute-retention")
def recompute(home: str | None) -> int:
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        return retention.recompute(session, installation.settings, actor=ACTOR)


@task(name="propose-disposal")
def propose(home: str | None, as_of: dt.date) -> list[str]:
    installation = open_installation(home)
    today = dt.datetime.now(installation.settings.zone).date()
    return [b["batch_id"] for b in propose_batches(installation, min(as_of, today), actor=ACTOR)]


@task(name="count-due")
def count_due(home: str | None, as_of: dt.date) -> tuple[int, int]:
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        due_soon = overdue = 0
        for _, _, state in disposal.plan_rows(session, installation.settings, as_of):
            due_soon += state == "due_soon"
            overdue += state == "overdue"
    return due_soon, overdue


@task(name="sweep-store")
def sweep_store(home: str | None) -> int:
    """Keys and blobs a killed ingest left, older than a day (another batch may be in flight)."""
    from records.storage.sweep import sweep

    installation = open_installation(home)
    with installation.catalog.writing() as session:
        report = sweep(session, installation.content, actor=ACTOR)
    return len(report.orphan_keys) + len(report.orphan_blobs) + report.temporaries


@task(name="exit-notices")
def notices(home: str | None) -> list[str]:
    return send_exit_notices(open_installation(home), actor=ACTOR)


def run_nightly(home: str | None = None, as_of: dt.date | None = None, *, in_flow: bool = False) -> dict[str, Any]:
    """The nightly work once, in order: as Prefect tasks in the flow, plainly for cron."""
    installation = open_installation(home)
    day = as_of or dt.datetime.now(installation.settings.zone).date()

    def step(work: Any, *args: Any) -> Any:
        return work(*args) if in_flow else work.fn(*args)

    step(classify_waiting, home)
    recomputed = step(recompute, home)
    batches = step(propose, home, day)
    due_soon, overdue = step(count_due, home, day)
    written = step(notices, home)
    swept = step(sweep_store, home)
    with installation.catalog.writing() as session:
        facts.put(session, facts.LAST_NIGHTLY, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        audit.append(session, ACTOR, "nightly.completed", "installation", "nightly", {"as_of": day.isoformat(), "recomputed": recomputed, "batches": batches, "due_soon": due_soon, "overdue": overdue, "notices": written, "swept": swept})
    from records import logs

    logs.get("nightly").info("nightly.completed", as_of=day.isoformat(), recomputed=recomputed, batches=len(batches), due_soon=due_soon, overdue=overdue, notices=len(written), swept=swept)
    return {"as_of": day, "recomputed": recomputed, "batches": batches, "due_soon": due_soon, "overdue": overdue, "notices": written, "swept": swept}


@flow(name="nightly", validate_parameters=False)
def nightly_flow(home: str | None = None, as_of: str | None = None) -> dict[str, Any]:
    return run_nightly(home, dt.date.fromisoformat(as_of) if as_of else None, in_flow=True)


@flow(name="weekly-audit-check", validate_parameters=False)
def weekly_audit_flow(home: str | None = None) -> dict[str, Any]:
    """Verify the whole audit chain; a break fails the flow run (and shows in Prefect)."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        verification = audit.verify(session)
    with installation.catalog.writing() as session:
        facts.put(session, facts.LAST_AUDIT_CHECK, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        audit.append(session, "system:weekly", "audit.verified", "installation", "audit", {"ok": verification.ok, "events": verification.events, "first_bad_seq": verification.first_bad_seq})
    if not verification.ok:
        raise RuntimeError(f"audit chain broken at event {verification.first_bad_seq}: {verification.reason}")
    return verification.to_json()
