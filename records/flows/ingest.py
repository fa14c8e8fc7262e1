"""The ingest flow: files in, sources and records out.

Stages per batch (design.md, "The pipeline"): receive (hash, dedupe), detect and extract
(intake, over the cores), store (encrypted, a key per record), commit (catalog rows and
audit events together). Ordinary files of a batch commit in one transaction; a bad file
becomes a quarantined source, never a failed batch. A failure of the batch itself (the
database went away, the disk filled) rolls it back, removes what it stored, and Prefect
retries it. A streaming source (an mbox, a large export) commits in chunks so memory
stays flat; it shows as ``ingesting`` until its last chunk, and a rerun resumes it.
"""

from __future__ import annotations

import records.flows  # noqa: F401 - quiets telemetry before Prefect is imported

import contextlib
import datetime as dt
import gc
import itertools
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from records import logs
from records.flows import progress
from records.flows.classify import classify_records
from records.flows.extraction_pool import extract_many
from records.flows.stream_process import StreamStopped
from records.intake.collect import batches, collect_files, group_companions
from records.intake.model import Quarantine, ReadOptions
from records.intake.pipeline import FileDigest, FileExtraction, digest, extract
from records.storage import durability
from records.storage import ingest as store
from records.storage.installation import Installation, open_installation

BATCH_SIZE = 50
# Items of a stream committed together at most. Every chunk costs a commit, a sync of the
# new key and blob packs and a look-up of its duplicates: at 200 a 256 MB mbox made 515
# of each, and 500 stored it about a tenth faster, for a few megabytes more held at once.
STREAM_CHUNK = 500
# ... and at most about this many bytes of them (content and text): a chunk of 500 large
# messages or media-heavy thread parts must not hold hundreds of megabytes.
STREAM_CHUNK_BYTES = 32 * 1024 * 1024
# What one message of a conversation holds in memory besides its words (the Message
# object, its time, its sender's strings): measured at about 750 bytes on a Facebook
# export. Left out, a chunk of 200 thread parts held three times the bound above, and a
# large export's chunks (always full) peaked well above a small export's single chunk.
MESSAGE_BYTES = 768
STATUSES = ("ingested", "partial", "duplicate", "quarantined")


def read_options(installation: Installation, password: str | None) -> ReadOptions:
    scratch = installation.paths.home / "tmp"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    return ReadOptions(password=password, scratch=scratch, timezone=installation.settings.timezone)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _commit_files(
    installation: Installation,
    files: list[tuple[Path, FileDigest, FileExtraction]],
    duplicates: list[tuple[Path, FileDigest, str | None, int | None]],
    *,
    actor: str,
    owner_staff_id: str | None,
) -> tuple[list[store.PreparedSource], list[store.SourceReport]]:
    """Store ordinary files and record duplicates, all in one transaction."""
    content = installation.content
    prepared: list[tuple[store.PreparedSource, list[store.PreparedRecord]]] = []
    cleanup = store.Cleanup()
    post = store.Cleanup()
    try:
        with durability.batched():  # one flush for the batch, before its transaction commits
            sources = store.prepare_sources(content, files)  # their keys in one key pack
            for source in sources:
                cleanup.extend(source.source_cleanup())
            for source in sources:
                file = source.file
                items = file.extraction.items if file.extraction else []
                records = store.prepare_records(content, source, items, reuse_source_key=True)
                cleanup.extend(source.cleanup_for(records))
                prepared.append((source, records))
        duplicate_reports = []
        with installation.catalog.writing() as session:
            now = _now()
            events = []
            rows = store.PendingRows(session)  # the batch's new records go in together
            # Another worker may have committed the same bytes since this batch looked:
            # its source wins, ours becomes a duplicate and our copy is dropped.
            late = store.lock_new_sources(session, [source.digest.sha256 for source, _ in prepared])
            for source, records in prepared:
                if source.digest.sha256 in late:
                    lost = source.source_cleanup()
                    lost.extend(source.cleanup_for(records))
                    post.after_commit_keys += lost.on_failure_keys
                    post.after_commit_blobs += lost.on_failure_blobs
                    report, event = store.commit_duplicate(source.path, source.digest, *late[source.digest.sha256], actor)
                    duplicate_reports.append(report)
                    events.append(event)
                    continue
                events += store.commit_source(session, source, actor=actor, owner_staff_id=owner_staff_id, status=source.file.status, now=now)
                record_events, after = store.commit_records(
                    session, content, source, records, actor=actor, owner_staff_id=owner_staff_id, now=now, rows=rows
                )
                source.records = records  # their texts go on to classification with the report
                events += record_events
                post.extend(after)
                events += store.finish_source(session, source, actor=actor, now=now)
            rows.flush()
            held = store.known_sources(session, sorted({d.sha256 for _, d, _, _ in duplicates}))
            for path, file_digest, source_id, index in duplicates:
                if source_id is None:  # the same bytes twice in one call
                    first = prepared[index][0]  # type: ignore[index]
                    source_id = late[first.digest.sha256][0] if first.digest.sha256 in late else first.source_id
                records = held.get(file_digest.sha256, (source_id, []))[1]
                report, event = store.commit_duplicate(path, file_digest, source_id, records, actor)
                duplicate_reports.append(report)
                events.append(event)
            store.append_events(session, events, now)
    except BaseException:
        cleanup.failed(content, installation.catalog)
        raise
    post.committed(content)
    return [s for s, _ in prepared if s.digest.sha256 not in late], duplicate_reports


def _item_bytes(item: Any) -> int:
    """About how much memory an item holds: its own bytes, text and messages, and its children's."""
    size = len(item.content) if isinstance(item.content, bytes) else 0
    size += len(item.text) + MESSAGE_BYTES * len(item.messages)
    return size + sum(_item_bytes(child) for child in item.children)


def _take(items: Any, count: int, problems: list[str], done: int, max_bytes: int | None = None) -> tuple[list[Any], bool]:
    """The next items, up to ``count`` of them and about ``max_bytes`` (``STREAM_CHUNK_BYTES``);
    and whether the stream ended. A reader that fails mid-way keeps what came before
    (``None`` last)."""
    max_bytes = STREAM_CHUNK_BYTES if max_bytes is None else max_bytes
    chunk = []
    held = 0
    try:
        while len(chunk) < count and (not chunk or held < max_bytes):
            item = next(items, None)
            if item is None:
                return chunk, True
            chunk.append(item)
            held += _item_bytes(item)
    except Quarantine as stop:
        problems.append(f"stopped after {done + len(chunk)} records: {stop.reason}")
        return chunk + [None], True
    except Exception as exc:  # noqa: BLE001 - keep what was read, say where it stopped
        kind = exc.kind if isinstance(exc, StreamStopped) else type(exc).__name__  # read in another process: its own error
        problems.append(f"stopped after {done + len(chunk)} records: the file could not be read further ({kind})")
        return chunk + [None], True
    return chunk, False


def ingest_stream(
    installation: Installation,
    path: Path,
    file_digest: FileDigest,
    file: FileExtraction,
    *,
    actor: str,
    owner_staff_id: str | None,
) -> store.SourceReport:
    """Store a streaming source chunk by chunk (memory stays flat whatever its size).

    One worker at a time streams given bytes (``streaming_lock``); a worker that waited
    for another looks again: a finished source makes this file a duplicate of it, an
    unfinished one (its worker died) is resumed.
    """
    with store.streaming_lock(installation.catalog.engine, file_digest.sha256):
        with installation.catalog.reading() as session:
            held = store.known_sources(session, [file_digest.sha256])
            unfinished = store.unfinished_sources(session, [file_digest.sha256])
        if held and not unfinished:
            report, event = store.commit_duplicate(path, file_digest, *held[file_digest.sha256], actor)
            with installation.catalog.writing() as session:
                store.append_events(session, [event], _now())
            return report
        resume = unfinished.get(file_digest.sha256)
        return _stream(installation, path, file_digest, file, actor=actor, owner_staff_id=owner_staff_id, resume=resume)


def _stream(
    installation: Installation,
    path: Path,
    file_digest: FileDigest,
    file: FileExtraction,
    *,
    actor: str,
    owner_staff_id: str | None,
    resume: tuple[str, str, str] | None,
) -> store.SourceReport:
    content = installation.content
    assert file.extraction is not None
    if resume is None:
        source = store.prepare_source(content, path, file_digest, file)
        try:
            with installation.catalog.writing() as session:
                now = _now()
                held = store.lock_new_sources(session, [file_digest.sha256])
                if held:  # another worker holds these bytes already (maybe still streaming them)
                    report, event = store.commit_duplicate(path, file_digest, *held[file_digest.sha256], actor)
                    store.append_events(session, [event], now)
                else:
                    store.append_events(session, store.commit_source(session, source, actor=actor, owner_staff_id=owner_staff_id, status="ingesting", now=now), now)
        except BaseException:
            source.source_cleanup().failed(content, installation.catalog)
            raise
        if held:
            source.source_cleanup().failed(content)  # our copy was never referenced
            return report
    else:
        source_id, key_id, blob_id = resume
        blob = store.StoredBlob(blob_id=blob_id, sha256=file_digest.sha256, size=file_digest.size)
        source = store.held_source(source_id, key_id, blob, path, file_digest, file)
    items = iter(file.extraction.items)
    problems = file.extraction.problems
    with _settled_objects_frozen():
        done = _store_chunks(installation, source, items, problems, actor=actor, owner_staff_id=owner_staff_id)
    if done == 0 and not source.record_ids:
        reason = "; ".join(problems) if problems else "nothing to keep was found in the file"
        file.quarantine = Quarantine("empty" if not problems else "damaged", reason)
    with installation.catalog.writing() as session:
        now = _now()
        store.append_events(session, store.finish_source(session, source, actor=actor, now=now), now)
    return store.report_for(source)


def _store_chunks(installation: Installation, source: store.PreparedSource, items: Iterator[Any], problems: list[str], *, actor: str, owner_staff_id: str | None) -> int:
    """Store and commit a stream's items chunk by chunk; return how many were stored."""
    content = installation.content
    done = 0
    while True:
        chunk, ended = _take(items, STREAM_CHUNK, problems, done)
        stopped = bool(chunk) and chunk[-1] is None
        chunk = [item for item in chunk if item is not None]
        if chunk:
            with durability.batched():
                records = store.prepare_records(content, source, chunk, reuse_source_key=False)
            try:
                with installation.catalog.writing() as session:
                    now = _now()
                    events, after = store.commit_records(session, content, source, records, actor=actor, owner_staff_id=owner_staff_id, now=now)
                    store.append_events(session, events, now)
            except BaseException:
                source.cleanup_for(records).failed(content, installation.catalog)
                raise
            after.committed(content)
            done += len(chunk)
            logs.get("ingest").debug("ingest.stream_chunk", source_id=source.source_id, records=len(chunk), done=done)
            # Let this chunk go before the next is read: held through ``_take`` they
            # doubled the peak (two chunks of items alive at once).
            chunk = records = events = after = None  # type: ignore[assignment]
        if stopped or ended:
            break
    return done


@contextlib.contextmanager
def _settled_objects_frozen() -> Iterator[None]:
    """Keep the garbage collector off the objects that were alive before a stream began.

    Storing an mbox allocates millions of short-lived objects, and every so often the
    collector's oldest generation walks everything the process holds: Prefect's,
    SQLAlchemy's and pydantic's hundreds of thousands of module-level objects, over and
    over, for nothing: about a sixth of storing an mbox. ``gc.freeze`` sets what exists
    now aside for the stream's duration; ``unfreeze`` hands it back, so a long-running
    process loses nothing (garbage already there is collected later, not never). Two
    streams in one process at once only make this less effective.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def process_batch(
    installation: Installation,
    paths: list[Path],
    *,
    actor: str,
    owner_staff_id: str | None = None,
    password: str | None = None,
    companions: dict[str, tuple[Path, ...]] | None = None,
) -> list[store.SourceReport]:
    """Ingest one batch of files; returns one report per file, in order.

    Logs one ``ingest.batch`` line (counts and time, never names or content), or
    ``ingest.batch_failed`` with the kind of error before it propagates.
    """
    log = logs.get("ingest")
    started = time.monotonic()
    try:
        reports = _process_batch(installation, paths, actor=actor, owner_staff_id=owner_staff_id, password=password, companions=companions)
    except BaseException as exc:
        volume = {"volume": exc.volume} if hasattr(exc, "volume") else {}  # DiskFull: which volume filled
        log.error("ingest.batch_failed", files=len(paths), error=type(exc).__name__, ms=_ms(started), **volume)
        raise
    statuses = Counter(r.status for r in reports)
    log.info("ingest.batch", files=len(paths), records=sum(len(r.records) for r in reports), ms=_ms(started), **{status: statuses.get(status, 0) for status in STATUSES})
    return reports


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _process_batch(
    installation: Installation,
    paths: list[Path],
    *,
    actor: str,
    owner_staff_id: str | None,
    password: str | None,
    companions: dict[str, tuple[Path, ...]] | None,
) -> list[store.SourceReport]:
    digests = [digest(p) for p in paths]
    with installation.catalog.reading() as session:
        held = store.known_sources(session, sorted({d.sha256 for d in digests}))
        resumable = store.unfinished_sources(session, sorted({d.sha256 for d in digests}))
    fresh: list[tuple[Path, FileDigest]] = []
    duplicates: list[tuple[Path, FileDigest, str | None, int | None]] = []
    first_in_batch: dict[str, int] = {}
    for path, file_digest in zip(paths, digests, strict=True):
        if file_digest.sha256 in held and file_digest.sha256 not in resumable:
            duplicates.append((path, file_digest, held[file_digest.sha256][0], None))
        elif file_digest.sha256 in first_in_batch:
            duplicates.append((path, file_digest, None, first_in_batch[file_digest.sha256]))
        else:
            first_in_batch[file_digest.sha256] = len(fresh)
            fresh.append((path, file_digest))
    base = read_options(installation, password)
    companions = companions or {}
    options = [replace(base, file_modified=d.modified, companions=companions.get(str(p), ())) for p, d in fresh]
    extractions = extract_many([p for p, _ in fresh], options, installation.settings.timezone)
    ordinary = []
    streaming = []
    for (path, file_digest), file in zip(fresh, extractions, strict=True):
        resume = resumable.get(file_digest.sha256)
        is_stream = file.extraction is not None and not isinstance(file.extraction.items, list)
        if is_stream or resume:
            if not is_stream and file.extraction is not None:
                file.extraction.items = iter(file.extraction.items)
            streaming.append((path, file_digest, file, resume))
        else:
            ordinary.append((path, file_digest, file))
    # Duplicates of a file in this batch point at its index among the ordinary files.
    ordinary_index = {d.sha256: i for i, (_, d, _) in enumerate(ordinary)}
    remapped = []
    reports: list[store.SourceReport] = []
    streamed_ids: dict[str, str] = {}
    for path, file_digest, file, _resume in streaming:
        if file.extraction is None:  # a resumed source that now fails to read
            ordinary.append((path, file_digest, file))
            continue
        report = ingest_stream(installation, path, file_digest, file, actor=actor, owner_staff_id=owner_staff_id)
        streamed_ids[file_digest.sha256] = report.id
        reports.append(report)
    for path, file_digest, source_id, index in duplicates:
        if source_id is None:
            sha = fresh[index][1].sha256  # type: ignore[index]
            source_id = streamed_ids.get(sha)
            index = ordinary_index.get(sha) if source_id is None else None
        remapped.append((path, file_digest, source_id, index))
    sources, duplicate_reports = _commit_files(installation, ordinary, remapped, actor=actor, owner_staff_id=owner_staff_id)
    reports += [store.report_for(s) for s in sources] + duplicate_reports
    order = {str(p): i for i, p in enumerate(paths)}
    reports.sort(key=lambda r: order.get(r.path, len(order)))
    return reports


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a dropped connection or a busy database, never a full disk: it stays full."""
    from records.errors import DiskFull

    try:
        state.result(raise_on_failure=True)
    except DiskFull:
        return False
    except BaseException:  # noqa: BLE001 - any other failure: Prefect's retries as before
        return True
    return True


@task(name="ingest-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=_worth_retrying)
def ingest_batch(
    paths: list[str], home: str | None, actor: str, owner_staff_id: str | None, password: str | None, companions: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    installation = _batch_installation(home)
    try:
        reports = process_batch(
            installation,
            [Path(p) for p in paths],
            actor=actor,
            owner_staff_id=owner_staff_id,
            password=password,
            companions={k: tuple(Path(v) for v in vs) for k, vs in (companions or {}).items()},
        )
        classify_reported(installation, reports)
    except BaseException:
        _forget_installation(home)  # a retry opens the installation afresh
        raise
    progress.advance(len(paths))
    return [r.to_json() for r in reports]


# The installations a flow run's batch threads hold, one per thread (home, thread id):
# opening one (the catalog's migration check, settings, key store) cost 13 ms of the
# main process per batch. Each thread keeps its own, as when every batch opened one, and
# reuses it for its next batches, as ``ingest_inline`` does for all of its batches. Set
# by ``ingest_run`` for the length of the run; a task run anywhere else opens its own.
_run_installations: ContextVar[dict[tuple[str | None, int], Installation] | None] = ContextVar("run_installations", default=None)


def _batch_installation(home: str | None) -> Installation:
    held = _run_installations.get()
    if held is None:
        return open_installation(home)
    key = (home, threading.get_ident())
    installation = held.get(key)
    if installation is None:
        installation = held[key] = open_installation(home)
    return installation


def _forget_installation(home: str | None) -> None:
    held = _run_installations.get()
    if held is not None:
        held.pop((home, threading.get_ident()), None)


def classify_reported(installation: Installation, reports: list[store.SourceReport]) -> None:
    """Classify what a batch produced or extended (duplicates add nothing new)."""
    ids = sorted({record_id for r in reports if r.status in ("ingested", "partial") for record_id in r.records})
    if ids:
        texts = {blob_id: text for r in reports for blob_id, text in r.texts.items()}
        classify_records(installation, ids, actor="engine", texts=texts)


def summarize(sources: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(s["status"] for s in sources)
    return {"sources": sources, "counts": {status: counts.get(status, 0) for status in STATUSES}}


def ingest_flow(
    paths: list[str],
    home: str | None = None,
    actor: str = "system:ingest",
    owner_staff_id: str | None = None,
    password: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Ingest files and folders (recursively): the shape of ``records ingest --json``.

    Runs the ``ingest`` flow without Prefect's flow-run heartbeat, unless the operator
    set ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (for a zombie-run automation, say). The
    heartbeat thread sleeps in whole seconds and the flow's end waits for it: 0.4 to
    0.7 s per run, a tenth of ingesting a thousand printouts. Nothing in this engine
    reads the heartbeat: a run that dies leaves its batches rolled back or resumable
    in the catalog, which is what a rerun looks at.
    """
    with _heartbeat_off():
        return ingest_run(paths, home, actor, owner_staff_id, password, batch_size)


@contextlib.contextmanager
def _heartbeat_off() -> Iterator[None]:
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ or "PREFECT_RUNNER_HEARTBEAT_FREQUENCY" in os.environ:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@flow(name="ingest", validate_parameters=False, task_runner=ThreadPoolTaskRunner(max_workers=2))
def ingest_run(
    paths: list[str],
    home: str | None = None,
    actor: str = "system:ingest",
    owner_staff_id: str | None = None,
    password: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """The ``ingest`` flow itself (``ingest_flow`` runs it)."""
    held = _run_installations.set({})  # the task threads see it: Prefect copies the context
    try:
        return _ingest_run(paths, home, actor, owner_staff_id, password, batch_size)
    finally:
        _run_installations.reset(held)


def _ingest_run(
    paths: list[str], home: str | None, actor: str, owner_staff_id: str | None, password: str | None, batch_size: int
) -> dict[str, Any]:
    files = collect_files(paths)
    progress.start(len(files))
    lead, parts, companions = split_parts(files)
    sources: list[dict[str, Any]] = []
    # Two batches in flight: one is being read (over the cores) while the other commits.
    futures = []
    for batch in batches(lead, batch_size):
        batch_companions = {str(p): [str(c) for c in companions.get(str(p), ())] for p in batch if str(p) in companions}
        futures.append(ingest_batch.submit([str(p) for p in batch], home, actor, owner_staff_id, password, batch_companions))
    for future in futures:
        sources.extend(future.result())
    if parts:
        sources.extend(ingest_parts(sorted(parts), home, actor, companions))
    return summarize(sources)


def split_parts(files: list[Path]) -> tuple[list[Path], set[str], dict[str, tuple[Path, ...]]]:
    """(files read as sources, the other zips of multi-zip exports, lead → its other zips)."""
    files, companions = group_companions(files)
    parts = {str(p) for group in companions.values() for p in group}
    return [p for p in files if str(p) not in parts], parts, companions


def ingest_inline(installation: Installation, paths: list[Path], *, actor: str, owner_staff_id: str | None, password: str | None) -> dict[str, Any]:
    """The ingest flow's work without Prefect, in the caller's thread (the web's uploads).

    The same batches, classification and multi-zip handling as ``ingest_flow``; a web
    request cannot wait for Prefect's temporary server to start.
    """
    lead, parts, companions = split_parts(sorted(paths))
    reports: list[store.SourceReport] = []
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
    return summarize(sorted((r.to_json() for r in reports), key=lambda s: order.get(s["path"], len(order))))


@task(name="ingest-export-parts")
def ingest_parts(paths: list[str], home: str | None, actor: str, companions: dict[str, tuple[Path, ...]]) -> list[dict[str, Any]]:
    """Receive the other zips of a multi-zip export: kept and audited, records on the lead."""
    installation = open_installation(home)
    lead_of = {str(p): lead for lead, group in companions.items() for p in group}
    reports = store.receive_parts(installation, [Path(p) for p in paths], lead_of, actor=actor)
    progress.advance(len(paths))
    return [r.to_json() for r in reports]


def retry_source(installation: Installation, source_id: str, *, actor: str, password: str | None) -> store.SourceReport:
    """Read a quarantined source's kept original again (with a password, say)."""
    with installation.catalog.reading() as session:
        row = store.quarantined_source(session, source_id)
        key_id, blob_id, sha, size = row.key_id, row.blob_id, row.sha256, row.size
        path, modified, owner = Path(row.path), row.file_modified or row.received_at, row.owner_staff_id
    assert key_id and blob_id
    options = read_options(installation, password)
    with tempfile.TemporaryDirectory(dir=options.scratch) as folder:
        plain = Path(folder) / "original"
        with installation.content.open(key_id, blob_id) as reader, plain.open("wb") as out:
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
        file = extract(plain, replace(options, file_modified=modified), timezone=installation.settings.timezone)
        file_digest = FileDigest(sha, size, modified)
        blob = store.StoredBlob(blob_id=blob_id, sha256=sha, size=size)
        source = store.held_source(source_id, key_id, blob, path, file_digest, file)
        records = store.prepare_records(installation.content, source, file.extraction.items if file.extraction else [], reuse_source_key=True)
    try:
        with installation.catalog.writing() as session:
            now = _now()
            events = [store.retry_events(source, actor=actor, password_given=password is not None)]
            record_events, after = store.commit_records(session, installation.content, source, records, actor=actor, owner_staff_id=owner, now=now)
            events += record_events
            events += store.finish_source(session, source, actor=actor, now=now)
            store.append_events(session, events, now)
    except BaseException:
        source.cleanup_for(records).failed(installation.content, installation.catalog)
        raise
    after.committed(installation.content)
    report = store.report_for(source)
    classify_reported(installation, [report])
    return report
