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
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from records.flows.stream_process import read_stream
from records.intake.model import Quarantine, ReadOptions
from records.intake.pipeline import FileExtraction, Plan, plan, read, read_sniffed

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
        futures = {}
        for i in pooled:
            planned = plans[i]
            assert isinstance(planned, Plan)
            futures[i] = pool().submit(read_sniffed, planned.sniff, planned.reader.name, replace(options[i], ocr_workers=1), timezone=timezone)
        for i, future in futures.items():
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker must not sink the batch
                results[i] = FileExtraction(None, None, Quarantine("damaged", f"reading stopped the reader ({type(exc).__name__}); ask for a new copy"))
    return [r if r is not None else FileExtraction(None, None, Quarantine("damaged", "not read")) for r in results]
