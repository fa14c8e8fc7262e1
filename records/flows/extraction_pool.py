"""Spreading extraction over the cores: one process per core, kept for the process's life.

Files of a batch are read in parallel, each worker doing one OCR page at a time with
``OMP_THREAD_LIMIT=1`` (prefect-notes.md: OpenMP threads fighting over two cores made
a page seven times slower). Workers are spawned, not forked, because the parent runs
Prefect's threads and a fork would copy their locks.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from records.intake.model import ReadOptions
from records.intake.pipeline import FileExtraction, extract

_pool: ProcessPoolExecutor | None = None


def workers() -> int:
    configured = os.environ.get("RECORDS_EXTRACT_WORKERS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


def _initialise() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def pool() -> Executor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=multiprocessing.get_context("spawn"), initializer=_initialise)
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def extract_many(paths: list[Path], options: list[ReadOptions], timezone: str) -> list[FileExtraction]:
    """Extract every file; one file alone uses every core for its own OCR pages."""
    if len(paths) == 1 or workers() == 1:
        return [extract(p, o, timezone=timezone) for p, o in zip(paths, options, strict=True)]
    futures = [pool().submit(extract, p, replace(o, ocr_workers=1), timezone=timezone) for p, o in zip(paths, options, strict=True)]
    results = []
    for path, future in zip(paths, futures, strict=True):
        try:
            results.append(future.result())
        except Exception as exc:  # noqa: BLE001 - a dead worker must not sink the batch
            from records.intake.model import Quarantine

            results.append(FileExtraction(None, None, Quarantine("damaged", f"reading {path.name} stopped the reader ({type(exc).__name__}); ask for a new copy")))
    return results
