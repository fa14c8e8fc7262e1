"""Failed intake jobs, handed back by a person: ``records intake jobs`` and ``records intake retry``.

A job is given up after three workers stopped while reading it (``intake_queue``), so
that one bad file cannot loop a pool forever. Once IT has dealt with the cause, the job
goes back to the queue and is worked here and now, in this process, like the inbox
works its own files; any worker of the pool may take part of it.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

from typing import Any

from records.flows.claimed import BATCH_SIZE, drain, summarize_jobs
from records.storage import intake_queue
from records.storage.installation import Installation
from records.storage.users import authorize


def retry_failed(installation: Installation, job_ids: list[str] | None, *, actor: str | None, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Requeue these failed jobs (or every failed one) and ingest them; ``records ingest --json``'s shape plus ``requeued``."""
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "ingest", required=False)
        ids = intake_queue.requeue(session, job_ids, actor=who)
    if not ids:
        return {"requeued": [], **summarize_jobs([])}
    return {"requeued": ids, **summarize_jobs(drain(installation, ids, batch_size))}


__all__ = ["retry_failed"]
