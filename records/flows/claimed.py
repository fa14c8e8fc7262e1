"""Claimed intake: any number of workers drain the intake queue, none ingests a file twice.

The inbox and on-demand ingest deployments submit files as jobs (``storage/intake_queue``)
and then work through the queue, as does every other flow run of them on any worker of
the pool: each *lane* claims a batch in the catalog, holds it under a lease its heartbeat
renews, ingests it with the same ``process_batch`` as ``records ingest``, marks its jobs
done, and claims the next, until nothing waits. A flow run that submitted files then
waits until each of its jobs is done by whichever worker claimed it, taking over leases
that expire (a dead worker) on the way.

Lanes run on the flow's task runner: two threads by default (one batch read while another
commits), or Dask workers (``RECORDS_TASK_RUNNER=dask``, or ``[scale] task_runner`` in
records.toml) for OCR-heavy batches spread over processes or hosts. prefect-notes.md:
on two cores Dask only adds start-up and per-task cost; it pays across machines.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from records.flows.ingest import classify_reported, process_batch, split_parts, summarize
from records.intake.collect import collect_files
from records.storage import ingest as store
from records.storage import intake_queue as queue
from records.storage.installation import Installation, open_installation

BATCH_SIZE = 25  # jobs per claim: small enough that two workers finish close together
IDLE_POLL_SECONDS = 1.0
MAX_BATCH_FAILURES = 3  # a lane whose batches keep failing (the database is gone) stops


def worker_name() -> str:
    """Who holds a claim: host and process (and lane), as the queue and the audit chain show it."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"  # the OS thread id: unique on the host while it runs


def lanes_in_flight(runner_kind: str, dask_workers: int) -> int:
    """How many lanes a flow run keeps busy (``RECORDS_LANES``; Dask: one per Dask worker)."""
    configured = os.environ.get("RECORDS_LANES")
    if configured:
        return max(1, int(configured))
    return dask_workers if runner_kind == "dask" else 2


def runner_kind(installation: Installation) -> str:
    return (os.environ.get("RECORDS_TASK_RUNNER") or installation.settings.task_runner or "threads").lower()


def task_runner(installation: Installation) -> tuple[Any, int]:
    """The task runner for lanes, and how many lanes to run on it."""
    kind = runner_kind(installation)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        address = os.environ.get("RECORDS_DASK_ADDRESS") or installation.settings.dask_address
        workers = int(os.environ.get("RECORDS_DASK_WORKERS") or installation.settings.dask_workers)
        if address:
            return DaskTaskRunner(address=address), lanes_in_flight(kind, workers)
        # Each Dask worker process reads its batch's files one at a time itself (a process
        # pool inside a Dask worker would fight it for the cores).
        os.environ["RECORDS_EXTRACT_WORKERS"] = "1"
        local_dask_settings()
        cluster = {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None, "memory_limit": 0}
        return DaskTaskRunner(cluster_kwargs=cluster), lanes_in_flight(kind, workers)
    if kind not in ("threads", "thread"):
        from records.errors import ConfigurationError

        raise ConfigurationError(f"task runner {kind!r} is not known: use threads or dask (RECORDS_TASK_RUNNER or [scale] in records.toml)")
    lanes = lanes_in_flight(kind, 0)
    return ThreadPoolTaskRunner(max_workers=lanes), lanes


# Dask's defaults suit many short tasks; a lane is one long task that runs OCR. Measured on
# one page image in a Dask worker against a plain process (2 cores): the statistical
# profiler (a stack sample of every thread each 10 ms) and MALLOC_TRIM_THRESHOLD_=65536
# (set before spawning, inherited by Tesseract too: every large buffer becomes an mmap and
# a page-fault storm) made a page's Python work about twice as slow and Tesseract slower.
# The worker stays daemonic, so ``ocr.ocr_images`` reads a file's pages one at a time in
# the worker instead of starting a pool of its own: one OCR process per Dask worker.
LOCAL_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.daemon": True,
}


def local_dask_settings() -> None:
    """Apply ``LOCAL_DASK_CONFIG`` in this process, before the local cluster starts.

    ``memory_limit=0`` in the cluster (no memory manager) belongs with it: Dask restarts a
    worker that nears its share of memory, which kills a lane in mid-batch and leaves its
    claim waiting for the lease to expire; the readers bound their own memory.
    """
    import dask

    dask.config.set(LOCAL_DASK_CONFIG)


class Heartbeat:
    """Renews the leases of the claims a lane holds, from a thread, while it works.

    With a ``worker`` it also keeps the lane's own row fresh (``intake_queue.lane_seen``)
    while the lane waits for work, so that its presence is visible in the catalog.
    """

    def __init__(self, installation: Installation, worker: str | None = None) -> None:
        self.installation = installation
        self.worker = worker
        self.tokens: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="records-lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(0.5, queue.lease_seconds() / 3)
        while not self._stop.wait(interval):
            tokens = sorted(self.tokens)
            if not tokens and not self.worker:
                continue
            try:
                with self.installation.catalog.writing() as session:
                    queue.heartbeat(session, tokens)
                    queue.lane_seen(session, [self.worker] if self.worker else [])
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has slack for two
                continue


def _missing(job: queue.ClaimedJob) -> dict[str, Any]:
    return {"id": None, "path": job.path, "sha256": None, "status": "missing",
            "reason": "the file is no longer where it was submitted: submit it again", "records": []}


def ingest_jobs(installation: Installation, jobs: list[queue.ClaimedJob]) -> dict[str, dict[str, Any]]:
    """Ingest claimed jobs (grouped by who submitted them); job id → its ``records ingest`` line."""
    results: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[str, str | None], list[queue.ClaimedJob]] = defaultdict(list)
    for job in jobs:
        if Path(job.path).is_file():
            groups[(job.submitted_by, job.owner_staff_id)].append(job)
        else:
            results[job.id] = _missing(job)
    for (actor, owner), group in groups.items():
        paths = list(dict.fromkeys(str(Path(j.path)) for j in group))  # one path submitted twice is read once
        companions = {str(Path(j.path)): tuple(Path(c) for c in j.companions) for j in group if j.companions}
        reports = process_batch(installation, [Path(p) for p in paths], actor=actor, owner_staff_id=owner, companions=companions)
        classify_reported(installation, reports)
        by_path = {r.path: r.to_json() for r in reports}
        lead_of = {c: j.path for j in group for c in j.companions if Path(c).is_file()}
        part_reports = store.receive_parts(installation, [Path(p) for p in sorted(lead_of)], lead_of, actor=actor) if lead_of else []
        for job in group:
            line = dict(by_path[str(Path(job.path))])
            parts = [r.to_json() for r in part_reports if lead_of.get(r.path) == job.path]
            if parts:
                line["parts"] = parts
            results[job.id] = line
    return results


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}-{n}{dot}{suffix}"
        n += 1
    return target


def move_out_of_inbox(installation: Installation, results: list[dict[str, Any]]) -> dict[str, int]:
    """Move each read file out of the inbox: ``processed/DAY/`` or, quarantined, ``quarantine/DAY/``.

    Nothing is deleted; a name already taken gets a suffix. A file that is gone already
    (another worker moved it) is skipped.
    """
    today = dt.date.today().isoformat()
    moved = {"processed": 0, "quarantine": 0}
    for result in results:
        for path in [Path(result["path"]), *(Path(p["path"]) for p in result.get("parts", []))]:
            if not path.exists() or result["status"] == "missing":
                continue
            bucket = "quarantine" if result["status"] == "quarantined" else "processed"
            folder = installation.paths.home / bucket / today
            folder.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), _free_name(folder, path.name))
            moved[bucket] += 1
    return moved


def work_one_claim(installation: Installation, beat: Heartbeat, worker: str, batch_size: int) -> int:
    """Claim a batch, ingest it, mark it done, move inbox files; how many jobs were claimed."""
    with installation.catalog.writing() as session:
        claim = queue.claim(session, worker, batch_size)
    if not claim.jobs:
        return 0
    beat.tokens.add(claim.token)
    try:
        results = ingest_jobs(installation, claim.jobs)
    except Exception as exc:
        with installation.catalog.writing() as session:
            queue.release(session, claim.token, f"the batch failed ({type(exc).__name__}); it is retried")
        raise
    finally:
        beat.tokens.discard(claim.token)
    with installation.catalog.writing() as session:
        done = set(queue.complete(session, claim.token, results))
    inbox = [results[j.id] for j in claim.jobs if j.id in done and j.origin == "inbox"]
    if inbox:
        move_out_of_inbox(installation, inbox)
    return len(claim.jobs)


@task(name="intake-lane")
def intake_lane(home: str | None, batch_size: int = BATCH_SIZE, linger: float = 0.0) -> int:
    """Claim and ingest batches until none waits (for ``linger`` seconds); how many jobs it claimed.

    The lane's row in ``intake_lanes`` says it polls the queue, from before its first claim
    until it returns (see ``intake_queue.lane_started``).
    """
    installation = open_installation(home)
    worker = worker_name()
    with installation.catalog.writing() as session:
        queue.lane_started(session, worker)
    try:
        return _poll(installation, worker, batch_size, linger)
    finally:
        try:
            with installation.catalog.writing() as session:
                queue.lane_stopped(session, worker)
        except Exception:  # noqa: BLE001 - the database is gone: the row goes stale, lanes_polling ignores it
            pass


def _poll(installation: Installation, worker: str, batch_size: int, linger: float) -> int:
    claimed = failures = 0
    idle_since = time.monotonic()
    with Heartbeat(installation, worker) as beat:
        while True:
            try:
                got = work_one_claim(installation, beat, worker, batch_size)
            except Exception:
                failures += 1
                if failures >= MAX_BATCH_FAILURES:
                    raise
                time.sleep(IDLE_POLL_SECONDS * failures)
                continue
            failures = 0
            if got:
                claimed += got
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= linger:
                return claimed
            else:
                time.sleep(IDLE_POLL_SECONDS)


def submit(installation: Installation, files: list[queue.NewJob], *, origin: str, actor: str, owner_staff_id: str | None, skip_known: bool = False) -> list[str]:
    with installation.catalog.writing() as session:
        return queue.enqueue(session, files, origin=origin, actor=actor, owner_staff_id=owner_staff_id, skip_known=skip_known)


def run_lanes(installation: Installation, home: str | None, batch_size: int, lanes: int, linger: float = 0.0) -> int:
    """Run ``lanes`` lanes on the flow's task runner and wait for them."""
    futures = [intake_lane.submit(home, batch_size, linger) for _ in range(lanes)]
    return sum(f.result() for f in futures)


def drain_until_done(installation: Installation, home: str | None, job_ids: list[str], batch_size: int, lanes: int, linger: float = 0.0) -> list[dict[str, Any]]:
    """Work the queue until each of ``job_ids`` is finished (by us or by another worker)."""
    while True:
        run_lanes(installation, home, batch_size, lanes, linger)
        linger = 0.0
        with installation.catalog.reading() as session:
            states = queue.job_states(session, job_ids)
        if all(states.get(j, ("done",))[0] not in queue.OPEN_STATES for j in job_ids):
            return [_line(j, states.get(j)) for j in job_ids]
        time.sleep(IDLE_POLL_SECONDS)  # another worker holds some: wait for it, or for its lease to expire


def _line(job_id: str, state: tuple[str, dict[str, Any] | None, str | None] | None) -> dict[str, Any]:
    if state and state[1]:
        return state[1]
    return {"id": None, "path": None, "sha256": None, "status": "failed", "reason": (state[2] if state else None) or "the job was given up", "records": [], "job": job_id}


def summarize_jobs(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """``records ingest --json``'s shape, plus the files no worker could finish.

    The other zips of a multi-zip export are lines of their own, as ``records ingest`` gives them.
    """
    lines = [part for line in lines for part in ({k: v for k, v in line.items() if k != "parts"}, *line.get("parts", []))]
    result = summarize([line for line in lines if line["status"] not in ("missing", "failed")])
    failed = [line for line in lines if line["status"] in ("missing", "failed")]
    result["sources"] += failed
    result["counts"]["failed"] = len(failed)
    return result


@flow(name="intake-lanes", validate_parameters=False)
def lanes_flow(home: str | None, job_ids: list[str], batch_size: int, lanes: int, linger: float = 0.0) -> list[dict[str, Any]]:
    """The lanes of one flow run, on the task runner the installation chose (see ``drain``)."""
    installation = open_installation(home)
    return drain_until_done(installation, home, job_ids, batch_size, lanes, linger)


def drain(installation: Installation, job_ids: list[str], batch_size: int, linger: float = 0.0) -> list[dict[str, Any]]:
    """Work the queue on the configured task runner; the lines of ``job_ids`` once finished."""
    runner, lanes = task_runner(installation)
    return lanes_flow.with_options(task_runner=runner)(str(installation.paths.home), job_ids, batch_size, lanes, linger)


@flow(name="ingest", validate_parameters=False)
def queued_ingest_flow(
    paths: list[str], home: str | None = None, actor: str = "system:ingest", owner_staff_id: str | None = None, batch_size: int = BATCH_SIZE
) -> dict[str, Any]:
    """Submit files and folders (recursively) to the intake queue and return once every one is
    ingested, by this run or any other worker: the shape of ``records ingest --json``.

    A password-protected PDF is quarantined; ``records quarantine retry --password`` reads
    it (passwords are never written to the queue).
    """
    installation = open_installation(home)
    lead, _parts, companions = split_parts(collect_files(paths))
    jobs = [queue.NewJob(str(p), tuple(str(c) for c in companions.get(str(p), ()))) for p in lead]
    ids = submit(installation, jobs, origin="ingest", actor=actor, owner_staff_id=owner_staff_id)
    return summarize_jobs(drain(installation, ids, batch_size))


@flow(name="intake-worker", validate_parameters=False)
def intake_worker_flow(home: str | None = None, batch_size: int = BATCH_SIZE, linger: float = 0.0) -> dict[str, Any]:
    """Work the intake queue until nothing has waited for ``linger`` seconds: start more runs to add hands."""
    installation = open_installation(home)
    drain(installation, [], batch_size, linger)
    with installation.catalog.reading() as session:
        return {"queue": queue.counts(session)}
