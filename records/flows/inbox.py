"""The inbox watcher: files dropped in ``RECORDS_HOME/inbox`` are ingested, then moved.

A file that was read (ingested, partial or duplicate) moves to ``processed/YYYY-MM-DD/``;
a quarantined one to ``quarantine/YYYY-MM-DD/``, where the clerk finds it next to
``records quarantine list``. Nothing is ever deleted; a name already taken gets a suffix.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from prefect import flow, task

from records.flows.ingest import ingest_flow
from records.intake.collect import collect_files
from records.storage.installation import open_installation

INBOX_ACTOR = "system:inbox"


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}-{n}{dot}{suffix}"
        n += 1
    return target


@task(name="inbox-move")
def move_processed(home: str, sources: list[dict[str, Any]]) -> dict[str, int]:
    """Move each file out of the inbox according to its outcome."""
    installation = open_installation(home)
    today = dt.date.today().isoformat()
    moved = {"processed": 0, "quarantine": 0}
    for source in sources:
        path = Path(source["path"])
        if not path.exists():
            continue
        bucket = "quarantine" if source["status"] == "quarantined" else "processed"
        folder = installation.paths.home / bucket / today
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), _free_name(folder, path.name))
        moved[bucket] += 1
    return moved


@flow(name="inbox", validate_parameters=False)
def inbox_flow(home: str | None = None) -> dict[str, Any]:
    """Ingest what waits in the inbox; safe to run often (concurrency limit 1)."""
    installation = open_installation(home)
    inbox = installation.paths.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    files = collect_files([inbox])
    if not files:
        return {"sources": [], "counts": {s: 0 for s in ("ingested", "partial", "duplicate", "quarantined")}, "moved": {"processed": 0, "quarantine": 0}}
    result = ingest_flow([str(f) for f in files], home=str(installation.paths.home), actor=INBOX_ACTOR)
    result["moved"] = move_processed(str(installation.paths.home), result["sources"])
    return result
