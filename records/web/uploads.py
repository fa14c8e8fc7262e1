"""Uploads: files streamed into a private folder under RECORDS_HOME/tmp, then ingested.

The ingest runs the same steps as ``records ingest`` (``process_batch`` then
``classify_reported``) directly, in the request's worker thread, so a web upload does
not wait for a Prefect server to start. The folder is removed afterwards: the catalog
keeps the encrypted original.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from records.storage.installation import Installation

CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+@-]+")


def safe_name(name: str | None, index: int) -> str:
    """A file name that cannot leave its folder, keeping what a clerk will recognise."""
    base = Path((name or "").replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")[:180]
    return base or f"upload-{index + 1}"


def upload_folder(installation: Installation) -> Path:
    scratch = installation.paths.home / "tmp"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))


async def save_uploads(files: list[Any], folder: Path) -> list[Path]:
    """Copy each uploaded file to ``folder`` in chunks (never whole in memory)."""
    saved: list[Path] = []
    used: set[str] = set()
    for index, upload in enumerate(files):
        name = safe_name(getattr(upload, "filename", None), index)
        while name in used:
            name = f"{index + 1}-{name}"
        used.add(name)
        target = folder / name
        with target.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                out.write(chunk)
        await upload.close()
        saved.append(target)
    return saved


def ingest_saved(installation: Installation, paths: list[Path], *, actor: str, owner_staff_id: str | None, password: str | None) -> dict[str, Any]:
    """Ingest saved uploads: the shape of ``records ingest --json``."""
    from records.flows.ingest import BATCH_SIZE, classify_reported, process_batch, summarize
    from records.intake.collect import batches, group_companions
    from records.storage import ingest as store

    files, companions = group_companions(sorted(paths))
    parts = {str(p) for group in companions.values() for p in group}
    lead = [p for p in files if str(p) not in parts]
    reports = []
    for batch in batches(lead, BATCH_SIZE):
        done = process_batch(
            installation, batch, actor=actor, owner_staff_id=owner_staff_id, password=password,
            companions={str(p): companions[str(p)] for p in batch if str(p) in companions},
        )
        classify_reported(installation, done)
        reports += done
    if parts:
        lead_of = {str(p): lead_path for lead_path, group in companions.items() for p in group}
        reports += store.receive_parts(installation, [Path(p) for p in sorted(parts)], lead_of, actor=actor)
    order = {str(p): i for i, p in enumerate(paths)}
    sources = sorted((r.to_json() for r in reports), key=lambda s: order.get(s["path"], len(order)))
    for source in sources:
        source["name"] = Path(source["path"]).name
    return summarize(sources)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
