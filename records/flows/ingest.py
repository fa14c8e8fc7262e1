"""The ingest flow: files in, sources and records out, one transaction per batch.

Stages per batch (design.md, "The pipeline"): receive (hash, dedupe), detect and extract
(intake, over the cores), store (encrypted, per record key), commit (catalog rows and
audit events together). A bad file becomes a quarantined source; a failure of the batch
itself (the database went away, the disk filled) rolls the batch back, removes what it
stored, and Prefect retries it.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, task

from records.flows import progress
from records.flows.extraction_pool import extract_many
from records.intake.collect import batches, collect_files
from records.intake.model import ReadOptions
from records.intake.pipeline import FileDigest, digest, extract
from records.storage import ingest as store
from records.storage.installation import Installation, open_installation

BATCH_SIZE = 50
STATUSES = ("ingested", "partial", "duplicate", "quarantined")


def read_options(installation: Installation, password: str | None) -> ReadOptions:
    return ReadOptions(password=password)


def process_batch(
    installation: Installation,
    paths: list[Path],
    *,
    actor: str,
    owner_staff_id: str | None = None,
    password: str | None = None,
) -> list[store.SourceReport]:
    """Ingest one batch of files; returns one report per file, in order."""
    digests = [digest(p) for p in paths]
    with installation.catalog.reading() as session:
        held = store.known_sources(session, sorted({d.sha256 for d in digests}))
    fresh: list[tuple[Path, FileDigest]] = []
    duplicates: list[tuple[Path, FileDigest, str | None]] = []
    first_in_batch: dict[str, int] = {}
    for path, file_digest in zip(paths, digests, strict=True):
        if file_digest.sha256 in held:
            duplicates.append((path, file_digest, held[file_digest.sha256][0]))
        elif file_digest.sha256 in first_in_batch:
            duplicates.append((path, file_digest, None))  # the same bytes twice in one call
        else:
            first_in_batch[file_digest.sha256] = len(fresh)
            fresh.append((path, file_digest))
    base = read_options(installation, password)
    options = [replace(base, file_modified=d.modified) for _, d in fresh]
    extractions = extract_many([p for p, _ in fresh], options, installation.settings.timezone)
    prepared: list[store.PreparedSource] = []
    try:
        for (path, file_digest), extraction in zip(fresh, extractions, strict=True):
            prepared.append(store.prepare(installation.content, path, file_digest, extraction))
        resolved = [
            (path, d, source_id or prepared[first_in_batch[d.sha256]].source_id) for path, d, source_id in duplicates
        ]
        with installation.catalog.writing() as session:
            reports = store.commit(session, prepared, resolved, actor=actor, owner_staff_id=owner_staff_id)
    except BaseException:
        for item in prepared:
            store.discard(installation.content, item)
        raise
    order = {str(p): i for i, p in enumerate(paths)}
    reports.sort(key=lambda r: order.get(r.path, len(order)))
    return reports


@task(name="ingest-batch", retries=2, retry_delay_seconds=5)
def ingest_batch(paths: list[str], home: str | None, actor: str, owner_staff_id: str | None, password: str | None) -> list[dict[str, Any]]:
    installation = open_installation(home)
    reports = process_batch(installation, [Path(p) for p in paths], actor=actor, owner_staff_id=owner_staff_id, password=password)
    progress.advance(len(paths))
    return [r.to_json() for r in reports]


def summarize(sources: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(s["status"] for s in sources)
    return {"sources": sources, "counts": {status: counts.get(status, 0) for status in STATUSES}}


@flow(name="ingest", validate_parameters=False)
def ingest_flow(
    paths: list[str],
    home: str | None = None,
    actor: str = "system:ingest",
    owner_staff_id: str | None = None,
    password: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Ingest files and folders (recursively): the shape of ``records ingest --json``."""
    files = collect_files(paths)
    progress.start(len(files))
    sources: list[dict[str, Any]] = []
    for batch in batches(files, batch_size):
        sources.extend(ingest_batch([str(p) for p in batch], home, actor, owner_staff_id, password))
    return summarize(sources)


def retry_source(installation: Installation, source_id: str, *, actor: str, password: str | None) -> store.SourceReport:
    """Read a quarantined source's kept original again (with a password, say)."""
    with installation.catalog.reading() as session:
        source = store.quarantined_source(session, source_id)
        key_id, blob_id, sha, size = source.key_id, source.blob_id, source.sha256, source.size
        path, modified = Path(source.path), source.file_modified or source.received_at
    assert key_id and blob_id
    scratch = installation.paths.home / "tmp"
    scratch.mkdir(mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        plain = Path(folder) / "original"
        with installation.content.open(key_id, blob_id) as reader, plain.open("wb") as out:
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
        options = replace(read_options(installation, password), file_modified=modified)
        extraction = extract(plain, options, timezone=installation.settings.timezone)
        blob = store.StoredBlob(blob_id=blob_id, sha256=sha, size=size)
        prepared = store.prepare(installation.content, path, FileDigest(sha, size, modified), extraction, held=(source_id, key_id, blob))
    try:
        with installation.catalog.writing() as session:
            return store.commit_retry(session, prepared, actor=actor, password_given=password is not None)
    except BaseException:
        store.discard_records(installation.content, prepared)
        raise
