"""The extraction pool: files read in worker processes, and what happens when one dies."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from records.flows import extraction_pool
from records.flows.extraction_pool import extract_many, read_several
from records.intake.model import ReadOptions
from records.intake.registry import readers, sniff
from records.intake.tesseract_engine import engines_cpu_seconds
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, png_scan

TIMEZONE = "America/New_York"


def _texts(path: Path, extraction: object) -> str:
    assert extraction is not None
    return "\n".join(page.text for item in extraction.items for page in item.pages)  # type: ignore[attr-defined]


def test_after_a_worker_dies_the_next_batch_is_read(tmp_path: Path) -> None:
    """A worker killed (for memory, or by a crash in a C library) breaks the pool it was
    in; the files after it must not all be quarantined "reading stopped the reader"."""
    notes = [born_digital_pdf(tmp_path / f"note-{n}.pdf", [[f"Printed note number {n}.", *EMAIL_PAGE[:3]]]) for n in range(4)]
    options = [ReadOptions()] * len(notes)
    before = extract_many(notes, options, TIMEZONE)
    assert [r.status for r in before] == ["ingested"] * 4
    with pytest.raises(BrokenProcessPool):
        extraction_pool.pool().submit(os._exit, 1).result()
    after = extract_many(notes, options, TIMEZONE)
    assert [r.status for r in after] == ["ingested"] * 4
    assert "Printed note number 2." in _texts(notes[2], after[2].extraction)


def test_a_files_reading_cost_includes_its_tesseract(tmp_path: Path) -> None:
    """The cost that decides whether small files travel to the workers several at a time
    must count the OCR, which runs in the engine process, or a stack of small scans
    would be taken for quick files and one worker would get them all."""
    scan = png_scan(tmp_path / "scan.png", EMAIL_PAGE)
    found = sniff(scan)
    reader = max(readers(), key=lambda candidate: candidate.score(found))
    engines_before = engines_cpu_seconds()
    [(result, seconds)] = read_several([(found, reader.name, ReadOptions(ocr_workers=1))], TIMEZONE)
    assert result.status == "ingested"
    assert "Field trip permission slip" in _texts(scan, result.extraction)
    tesseract = engines_cpu_seconds() - engines_before
    assert tesseract > 0.05, "the page was not read by a resident engine of this process"
    assert seconds >= tesseract
