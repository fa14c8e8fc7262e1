"""Spreading extraction over the cores: one process per core, kept for the process's life.

Files of a batch are read in parallel, each worker doing one OCR page at a time with
``OMP_THREAD_LIMIT=1`` (prefect-notes.md: OpenMP threads fighting over two cores made
a page seven times slower). Workers are spawned, not forked, because the parent runs
Prefect's threads and a fork would copy their locks. Streaming readers (an mbox, an
export) never go to the pool: their items are consumed here, chunk by chunk (a large
mbox is read by a process of its own meanwhile: ``stream_process``).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from records.flows.stream_process import read_stream
from records.intake.model import Quarantine, ReadOptions
from records.intake.pipeline import FileExtraction, Plan, plan, read, read_sniffed
from records.intake.registry import Sniff
from records.intake.tesseract_engine import engines_cpu_seconds

_pool: ProcessPoolExecutor | None = None


def workers() -> int:
    configured = os.environ.get("RECORDS_EXTRACT_WORKERS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


def _initialise() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


_pool_lock = threading.Lock()
# One batch at a time hands its files to the pool. Two batches in flight (the ingest flow's
# two task threads) otherwise start together, read together (the pool full, this process
# idle) and then commit together (the pool idle, both threads taking turns at the GIL),
# and stay in that lockstep: about 1.2 of 2 cores were used. Taking turns at the pool
# turns the pair into a pipeline: one batch is read while the other commits.
_reading = threading.Lock()


def pool() -> Executor:
    """The process's one extraction pool (two batches in flight share it)."""
    global _pool
    with _pool_lock:
        if _pool is not None and getattr(_pool, "_broken", False):
            # A worker died (killed for memory, or a crash inside a C library): the pool
            # then refuses all work, and a long-running inbox worker would quarantine
            # every later file. Its batch already failed with "reading stopped the
            # reader"; a new pool reads the next one.
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=multiprocessing.get_context("spawn"), initializer=_initialise)
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def extract_many(paths: list[Path], options: list[ReadOptions], timezone: str) -> list[FileExtraction]:
    """Extract every file. Streaming files come back with lazy items, read in this process.

    One non-streaming file alone is read here too, so its own OCR pages use every core.
    Callers in other threads wait while a batch is being read (``_reading``): the cores
    are busy with it either way.
    """
    with _reading:
        return _extract_many(paths, options, timezone)


def _extract_many(paths: list[Path], options: list[ReadOptions], timezone: str) -> list[FileExtraction]:
    plans: list[Plan | FileExtraction] = [plan(p, o) for p, o in zip(paths, options, strict=True)]
    pooled = [i for i, planned in enumerate(plans) if isinstance(planned, Plan) and not planned.streams]
    results: list[FileExtraction | None] = [None] * len(paths)
    for i, planned in enumerate(plans):
        if isinstance(planned, FileExtraction):
            results[i] = planned
        elif planned.streams:
            results[i] = read_stream(planned, options[i], timezone=timezone)
    if len(pooled) == 1 or workers() == 1:
        for i in pooled:
            planned = plans[i]
            assert isinstance(planned, Plan)
            results[i] = read(planned, options[i], timezone=timezone)
    elif pooled:
        futures = []
        for chunk in _chunks(pooled, plans):
            calls = []
            for i in chunk:
                planned = plans[i]
                assert isinstance(planned, Plan)
                calls.append((planned.sniff, planned.reader.name, replace(options[i], ocr_workers=1)))
            futures.append((chunk, pool().submit(read_several, calls, timezone)))
        for chunk, future in futures:
            try:
                read_here = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker must not sink the batch
                failed = FileExtraction(None, None, Quarantine("damaged", f"reading stopped the reader ({type(exc).__name__}); ask for a new copy"))
                read_here = [(failed, None)] * len(chunk)
            for i, (result, seconds) in zip(chunk, read_here, strict=True):
                results[i] = result
                if seconds is not None and _small(plans[i]):
                    _note_cost(seconds)
    return [r if r is not None else FileExtraction(None, None, Quarantine("damaged", "not read")) for r in results]


# Small files that read quickly go to a worker several at a time. Handing over one file
# cost the ingesting process about 0.45 ms (the call, its future, the result's trip
# back), a sixth of what the same process then spends storing and classifying a
# born-digital printout, and that process is what the pipeline waits for; in chunks it
# cost 0.25 ms. How quick "quickly" is comes from what the workers timed on this
# process's earlier small files: a small PDF may still be a scan for OCR, and a chunk
# of those would leave one worker busy while the other idles, so slow reading sends
# one file at a time again.
SMALL_FILE_BYTES = 256 * 1024
QUICK_READ_SECONDS = 0.02  # CPU seconds per file below which small files are chunked
CHUNK_SECONDS = 0.04  # a chunk holds about this much reading
MAX_CHUNK = 8
_recent_cost: float | None = None  # CPU seconds per small file in a worker, moving average


def _small(planned: Plan | FileExtraction) -> bool:
    return isinstance(planned, Plan) and planned.reader.name != "image" and planned.sniff.size <= SMALL_FILE_BYTES


def _note_cost(seconds: float) -> None:
    global _recent_cost
    _recent_cost = seconds if _recent_cost is None else 0.75 * _recent_cost + 0.25 * seconds


def _chunks(pooled: list[int], plans: list[Plan | FileExtraction]) -> list[list[int]]:
    """The pooled files in the calls that hand them over: one file per call, or a few
    small ones together when small files have been quick to read (at least four calls
    per worker either way, so the workers finish the batch together)."""
    cost = _recent_cost
    size = 1 if cost is None or cost >= QUICK_READ_SECONDS else int(min(MAX_CHUNK, CHUNK_SECONDS / max(cost, 1e-4)))
    size = max(1, min(size, len(pooled) // (4 * workers())))
    if size == 1:
        return [[i] for i in pooled]
    out: list[list[int]] = []
    run: list[int] = []
    for i in pooled:
        if not _small(plans[i]):
            out.append([i])
            continue
        run.append(i)
        if len(run) == size:
            out.append(run)
            run = []
    if run:
        out.append(run)
    return out


def read_several(calls: list[tuple[Sniff, str, ReadOptions]], timezone: str) -> list[tuple[FileExtraction, float]]:
    """``read_sniffed`` for each file, in a pool worker, with the CPU seconds each took,
    its Tesseract's included (the worker's resident OCR engine, a child process). CPU,
    not wall time: the same file costs the same on a busy machine, so the chunks do not
    shrink with load."""
    done = []
    for found, reader_name, options in calls:
        started = _cpu_seconds()
        result = read_sniffed(found, reader_name, options, timezone=timezone)
        done.append((result, _cpu_seconds() - started))
    return done


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime + engines_cpu_seconds()
