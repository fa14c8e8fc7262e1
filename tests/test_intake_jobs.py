"""``records intake jobs`` and ``records intake retry``: IT sees what the queue gave up on,
hands it back once the cause is dealt with, and the chain records who did."""

from __future__ import annotations

import datetime as dt

from records.storage import audit
from records.storage import intake_queue as queue
from tests.cli_helpers import run
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

LONG_AGO = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)


def _given_up(installation, path) -> str:  # type: ignore[no-untyped-def]
    """A job three workers died on (their leases expired), given up by the fourth claim."""
    with installation.catalog.writing() as session:
        (job_id,) = queue.enqueue(session, [queue.NewJob(str(path))], origin="ingest", actor="system:test", owner_staff_id=None, now=LONG_AGO)
    moment = LONG_AGO
    for _ in range(queue.MAX_ATTEMPTS + 1):
        with installation.catalog.writing() as session:
            queue.claim(session, "host-a:1", 1, now=moment, lease=10)
        moment += dt.timedelta(seconds=11)
    return job_id


def test_a_given_up_job_is_listed_with_its_reason_and_retried_once_by_a_person(installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "letter.pdf", [EMAIL_PAGE])
    job_id = _given_up(installation, pdf)

    listed = run("intake", "jobs", "--state", "failed", "--json")
    assert listed.exit_code == 0, listed.stderr
    (row,) = listed.json()
    assert row["id"] == job_id and row["state"] == "failed" and row["attempts"] == queue.MAX_ATTEMPTS
    assert row["error"].startswith(f"given up after {queue.MAX_ATTEMPTS} attempts")
    table = run("intake", "jobs")
    assert "failed 1" in table.stdout and job_id in table.stdout and "letter.pdf" in table.stdout

    retried = run("intake", "retry", "--failed", "--json")
    assert retried.exit_code == 0, retried.stderr
    result = retried.json()
    assert result["requeued"] == [job_id] and result["counts"]["ingested"] == 1 and result["counts"]["failed"] == 0
    assert run("intake", "jobs", "--state", "done", "--json").json()[0]["status"] == "ingested"
    assert len(run("list", "--json").json()) == 1

    with installation.catalog.reading() as session:
        requeued = [e for e in audit.iter_events(session) if e.action == "intake.job_requeued"]
    assert [e.subject_id for e in requeued] == [job_id] and requeued[0].payload == {"attempts": queue.MAX_ATTEMPTS}
    again = run("intake", "retry", job_id)
    assert again.exit_code == 0 and "no failed job to retry" in again.stderr
    assert run("audit", "verify").exit_code == 0


def test_retry_needs_jobs_or_failed_and_only_moves_failed_jobs(installation, tmp_path):
    assert run("intake", "retry").exit_code == 2
    assert run("intake", "retry", "J1", "--failed").exit_code == 2
    assert run("intake", "jobs", "--state", "lost").exit_code == 2
    with installation.catalog.writing() as session:
        (waiting,) = queue.enqueue(session, [queue.NewJob(str(tmp_path / "later.pdf"))], origin="inbox", actor="system:inbox", owner_staff_id=None)
        assert queue.requeue(session, [waiting], actor="system:test") == []
    assert run("intake", "jobs", "--json").json()[0]["state"] == "waiting"
