"""The inbox watcher: files dropped in ``RECORDS_HOME/inbox`` are ingested, then moved.

Each run submits what waits in the inbox to the intake queue (a file that has a job
already gets no second one) and works the queue with any other worker of the pool
(``claimed.py``). A file that was read (ingested, partial or duplicate) moves to
``processed/YYYY-MM-DD/``; a quarantined one to ``quarantine/YYYY-MM-DD/``, where the
clerk finds it next to ``records quarantine list``. Nothing is ever deleted; a name
already taken gets a suffix.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

from typing import Any

from prefect import flow

from records import logs
from records.flows.claimed import BATCH_SIZE, drain, submit, summarize_jobs
from records.flows.ingest import split_parts
from records.intake.collect import collect_files
from records.storage.installation import open_installation
from records.storage.intake_queue import NewJob

INBOX_ACTOR = "system:inbox"


@flow(name="inbox", validate_parameters=False)
def inbox_flow(home: str | None = None, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Ingest what waits in the inbox; safe to run often (concurrency limit 1)."""
    installation = open_installation(home)
    inbox = installation.paths.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    lead, _parts, companions = split_parts(collect_files([inbox]))
    jobs = [NewJob(str(p), tuple(str(c) for c in companions.get(str(p), ()))) for p in lead]
    ids = submit(installation, jobs, origin="inbox", actor=INBOX_ACTOR, owner_staff_id=None, skip_known=True)
    result = summarize_jobs(drain(installation, ids, batch_size))
    counts = result["counts"]
    result["moved"] = {"processed": counts["ingested"] + counts["partial"] + counts["duplicate"], "quarantine": counts["quarantined"]}
    logs.get("inbox").info("inbox.completed", waiting=len(lead), submitted=len(ids), **{f"moved_{k}": v for k, v in result["moved"].items()}, **counts)
    return result
