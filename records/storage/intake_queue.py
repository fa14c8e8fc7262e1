"""The intake queue: files become jobs; workers claim them so no file is ingested twice at once.

Several process workers (one machine or several) pull from one work pool; each flow run
claims a batch of waiting jobs in the catalog, not in memory (design.md, "Scale"):

- On PostgreSQL the claim is ``SELECT ... FOR UPDATE SKIP LOCKED``: two workers claiming
  at the same instant lock different rows and never wait for each other.
- On SQLite every write transaction is ``BEGIN IMMEDIATE`` (``db.py``), so claims simply
  run one after the other: the single-writer path.

A claim is a lease (``lease_until``) that the worker's heartbeat extends while it works.
A worker that dies stops renewing it; once it expires another worker takes the job over,
and that takeover is a decision the audit chain records (``intake.lease_taken_over``).
A job claimed ``MAX_ATTEMPTS`` times without finishing (a file that kills every worker
that reads it) is given up (``intake.job_failed``) instead of being retried forever.

Every claim has its own token: a worker that lost its lease (it stalled, and another took
over) cannot mark done a job that someone else now holds. The same bytes under two paths
are not this module's concern: ``ingest.lock_new_sources`` makes exactly one source win.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from records.storage import audit
from records.storage.audit import PendingEvent
from records.storage.ids import new_id
from records.storage.models import IntakeJob, IntakeLane

DEFAULT_LEASE_SECONDS = 120
MAX_ATTEMPTS = 3
OPEN_STATES = ("waiting", "claimed")
QUEUE_ACTOR = "system:intake"


def lease_seconds() -> int:
    """How long a claim lasts without a heartbeat (``RECORDS_LEASE_SECONDS``; tests shorten it)."""
    configured = os.environ.get("RECORDS_LEASE_SECONDS")
    return max(1, int(configured)) if configured else DEFAULT_LEASE_SECONDS


@dataclass(frozen=True)
class NewJob:
    """A file to submit: its path and, for a multi-zip export, its other zips."""

    path: str
    companions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    path: str
    companions: tuple[str, ...]
    origin: str
    submitted_by: str
    owner_staff_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "companions": list(self.companions), "origin": self.origin,
                "submitted_by": self.submitted_by, "owner_staff_id": self.owner_staff_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimedJob:
        return cls(data["id"], data["path"], tuple(data["companions"]), data["origin"], data["submitted_by"], data["owner_staff_id"])


@dataclass
class Claim:
    """One worker's claim on a batch of jobs, named by its token."""

    token: str
    worker: str
    jobs: list[ClaimedJob] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)  # ids of jobs whose lease had expired
    given_up: list[str] = field(default_factory=list)  # ids of jobs failed for too many attempts


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def enqueue(
    session: Session, files: list[NewJob], *, origin: str, actor: str, owner_staff_id: str | None, skip_known: bool = False, now: dt.datetime | None = None
) -> list[str]:
    """Add a job per file and return the job ids, in order.

    With ``skip_known`` (the inbox, which looks at the same folder every few minutes) a
    file that already has a job waiting, being worked on or given up gets no second
    one; its open job's id is returned (a given-up one's is not: nothing to wait for).
    """
    now = now or _now()
    known: dict[str, tuple[str, str]] = {}
    if skip_known and files:
        paths = sorted({f.path for f in files})
        for chunk in (paths[i : i + 500] for i in range(0, len(paths), 500)):
            rows = session.execute(
                select(IntakeJob.path, IntakeJob.id, IntakeJob.state).where(IntakeJob.path.in_(chunk), IntakeJob.state.in_((*OPEN_STATES, "failed")))
            )
            known.update({path: (job_id, state) for path, job_id, state in rows})
    ids: list[str] = []
    rows_to_add = []
    for file in files:
        if file.path in known:
            job_id, state = known[file.path]
            if state in OPEN_STATES:
                ids.append(job_id)
            continue
        job_id = new_id("J")
        ids.append(job_id)
        rows_to_add.append(
            # a microsecond apart, so that the queue is first in, first out within one submission
            IntakeJob(id=job_id, path=file.path, companions=list(file.companions), origin=origin, submitted_by=actor,
                      submitted_at=now + dt.timedelta(microseconds=len(rows_to_add)),
                      owner_staff_id=owner_staff_id, state="waiting", attempts=0)
        )
    session.add_all(rows_to_add)
    return ids


def claim(session: Session, worker: str, limit: int, *, now: dt.datetime | None = None, lease: int | None = None) -> Claim:
    """Claim up to ``limit`` jobs, oldest first: waiting ones, and claimed ones whose lease expired.

    Taking over an expired lease, and giving up a job after ``MAX_ATTEMPTS``, are
    appended to the audit chain in the same transaction as the claim.
    """
    now = now or _now()
    lease = lease or lease_seconds()
    result = Claim(token=new_id("C"), worker=worker)
    query = (
        select(IntakeJob)
        .where(or_(IntakeJob.state == "waiting", (IntakeJob.state == "claimed") & (IntakeJob.lease_until < now)))
        .order_by(IntakeJob.submitted_at, IntakeJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
    )
    events: list[PendingEvent] = []
    for job in session.execute(query).scalars():
        if job.state == "claimed":
            result.taken_over.append(job.id)
            events.append(
                PendingEvent(QUEUE_ACTOR, "intake.lease_taken_over", "intake_job", job.id, {
                    "previous_worker": job.worker, "worker": worker, "lease_until": audit.format_instant(job.lease_until) if job.lease_until else None,
                    "attempts": job.attempts,
                })
            )
        if job.attempts >= MAX_ATTEMPTS:
            why = job.error if job.state == "waiting" and job.error else "the worker stopped while ingesting it"
            job.state, job.error, job.finished_at = "failed", f"given up after {job.attempts} attempts: {why}", now
            job.worker = job.claim_token = job.lease_until = None
            result.given_up.append(job.id)
            events.append(PendingEvent(QUEUE_ACTOR, "intake.job_failed", "intake_job", job.id, {"attempts": job.attempts, "reason": job.error}))
            continue
        job.state, job.worker, job.claim_token = "claimed", worker, result.token
        job.claimed_at, job.lease_until = now, now + dt.timedelta(seconds=lease)
        job.attempts += 1
        result.jobs.append(ClaimedJob(job.id, job.path, tuple(job.companions or ()), job.origin, job.submitted_by, job.owner_staff_id))
    if events:
        audit.append_many(session, events, now=now)
    return result


def heartbeat(session: Session, tokens: list[str], *, now: dt.datetime | None = None, lease: int | None = None) -> int:
    """Extend the leases of the jobs still held under these claims; how many were extended."""
    if not tokens:
        return 0
    now = now or _now()
    until = now + dt.timedelta(seconds=lease or lease_seconds())
    done = session.execute(
        update(IntakeJob).where(IntakeJob.claim_token.in_(tokens), IntakeJob.state == "claimed").values(lease_until=until)
    )
    return int(done.rowcount or 0)


def complete(session: Session, token: str, results: dict[str, dict[str, Any]], *, now: dt.datetime | None = None) -> list[str]:
    """Mark done the jobs this claim still holds, each with its ``records ingest --json`` line.

    Returns the ids marked; a job missing from them was taken over by another worker
    (this one stalled past its lease) and is that worker's to finish.
    """
    now = now or _now()
    held = set(
        session.execute(
            select(IntakeJob.id).where(IntakeJob.claim_token == token, IntakeJob.state == "claimed", IntakeJob.id.in_(list(results))).with_for_update()
        ).scalars()
    )
    for job_id in sorted(held):
        result = results[job_id]
        failed = result.get("status") == "missing"
        session.execute(
            update(IntakeJob).where(IntakeJob.id == job_id).values(
                state="failed" if failed else "done", result=result, finished_at=now, lease_until=None,
                error=result.get("reason") if failed else None,
            )
        )
    return sorted(held)


def release(session: Session, token: str, error: str, *, now: dt.datetime | None = None) -> list[str]:
    """Hand a claim's jobs back to the queue after the batch itself failed (the next claim retries them)."""
    now = now or _now()
    ids = list(session.execute(select(IntakeJob.id).where(IntakeJob.claim_token == token, IntakeJob.state == "claimed").with_for_update()).scalars())
    if ids:
        session.execute(
            update(IntakeJob).where(IntakeJob.id.in_(ids)).values(state="waiting", worker=None, claim_token=None, lease_until=None, error=error[:2000])
        )
    return ids


def job_states(session: Session, ids: list[str]) -> dict[str, tuple[str, dict[str, Any] | None, str | None]]:
    """job id → (state, result, error)."""
    found: dict[str, tuple[str, dict[str, Any] | None, str | None]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for job_id, state, result, error in session.execute(
            select(IntakeJob.id, IntakeJob.state, IntakeJob.result, IntakeJob.error).where(IntakeJob.id.in_(chunk))
        ):
            found[job_id] = (state, result, error)
    return found


def counts(session: Session) -> dict[str, int]:
    """Jobs by state (``records doctor`` and the stack script show them)."""
    rows = session.execute(select(IntakeJob.state, func.count()).group_by(IntakeJob.state)).all()
    return {state: 0 for state in (*OPEN_STATES, "done", "failed")} | {state: int(n) for state, n in rows}


def list_jobs(session: Session, states: tuple[str, ...] | None = None, *, limit: int = 500) -> list[dict[str, Any]]:
    """The queue's jobs, newest first: what IT looks at when ``stack.sh status`` counts failures."""
    query = select(IntakeJob).order_by(IntakeJob.submitted_at.desc(), IntakeJob.id.desc()).limit(limit)
    if states:
        query = query.where(IntakeJob.state.in_(states))
    return [
        {
            "id": job.id,
            "state": job.state,
            "path": job.path,
            "origin": job.origin,
            "submitted_by": job.submitted_by,
            "submitted_at": audit.format_instant(job.submitted_at),
            "attempts": job.attempts,
            "worker": job.worker,
            "finished_at": audit.format_instant(job.finished_at) if job.finished_at else None,
            "error": job.error,
            "status": (job.result or {}).get("status"),
        }
        for job in session.execute(query).scalars()
    ]


def requeue(session: Session, job_ids: list[str] | None, *, actor: str, now: dt.datetime | None = None) -> list[str]:
    """Give failed jobs (these, or all of them with ``None``) back to the queue, attempts reset.

    A job is given up after ``MAX_ATTEMPTS`` so that a file that kills every worker does
    not loop forever; once IT has fixed the cause (memory, a worker's disk, a file put
    back), a person hands it back. Only failed jobs move: a waiting, claimed or done job
    is left as it is. Each requeue is an ``intake.job_requeued`` event.
    """
    now = now or _now()
    query = select(IntakeJob).where(IntakeJob.state == "failed").order_by(IntakeJob.submitted_at, IntakeJob.id).with_for_update()
    if job_ids is not None:
        query = query.where(IntakeJob.id.in_(job_ids))
    moved: list[str] = []
    events: list[PendingEvent] = []
    for job in session.execute(query).scalars():
        events.append(PendingEvent(actor, "intake.job_requeued", "intake_job", job.id, {"attempts": job.attempts}))
        job.state, job.attempts, job.error, job.result, job.finished_at = "waiting", 0, None, None, None
        job.worker = job.claim_token = job.lease_until = None
        moved.append(job.id)
    if events:
        audit.append_many(session, events, now=now)
    return moved


# -- lanes ----------------------------------------------------------------------------------
# A lane announces itself before its first claim and removes itself when it stops, so that
# whoever adds work (the stack script, a benchmark) can see how many hands are ready from
# the catalog alone: Prefect's task-run states lag behind, or never arrive, for tasks that
# run in Dask worker processes or on other hosts.


def lane_started(session: Session, worker: str, *, now: dt.datetime | None = None) -> None:
    """Record that ``worker`` (one lane) polls the queue from now on."""
    now = now or _now()
    row = session.get(IntakeLane, worker)
    if row is None:
        session.add(IntakeLane(worker=worker, started_at=now, seen_at=now))
    else:
        row.started_at = row.seen_at = now


def lane_seen(session: Session, workers: list[str], *, now: dt.datetime | None = None) -> None:
    """Refresh the lanes' ``seen_at`` (their heartbeat)."""
    if workers:
        session.execute(update(IntakeLane).where(IntakeLane.worker.in_(workers)).values(seen_at=now or _now()))


def lane_stopped(session: Session, worker: str) -> None:
    session.execute(delete(IntakeLane).where(IntakeLane.worker == worker))


def lanes_polling(session: Session, *, now: dt.datetime | None = None) -> int:
    """How many lanes poll the queue now (seen within two leases: a dead lane's row goes stale)."""
    since = (now or _now()) - dt.timedelta(seconds=2 * lease_seconds())
    return int(session.execute(select(func.count()).select_from(IntakeLane).where(IntakeLane.seen_at >= since)).scalar_one())
