"""The resident OCR engine: it reads like the ``tesseract`` command, it is killed at a
page's deadline even where Tesseract's own time limit does not reach, a killed or failed
engine is replaced for the next page, and it never outlives the process that started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from records.intake import tesseract_engine
from records.intake.ocr import layout_text
from records.intake.tesseract_engine import Engine, EngineTimeout, TesseractMissing, engine
from tests.fixtures.printouts import EMAIL_PAGE, page_image


def _noise(side: int = 3000, ink: float = 0.05) -> Image.Image:
    """Scattered ink dots: Tesseract's layout analysis, which its own time limit does not
    cover, spent 30 s on this page with a 2 s limit set."""
    dots = np.random.default_rng(1).random((side, side)) < ink
    return Image.fromarray(np.where(dots, 0, 255).astype(np.uint8))


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts as exited: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in {"Z", "X"}


def test_reads_a_page_with_words_lines_and_confidence() -> None:
    with engine() as tesseract:
        text, confidence = layout_text(tesseract.recognise(page_image(EMAIL_PAGE[:4], 200), 300, 60))
    assert text.splitlines()[0] == EMAIL_PAGE[0]
    assert "Subject: Field trip permission slip" in text
    assert confidence > 0.85


def test_one_engine_serves_page_after_page() -> None:
    """The point of a resident engine: the second page is read by the same process."""
    with engine() as first:
        first.recognise(page_image(["Page one of two."], 200), 300, 60)
        pid = first._process.pid
    with engine() as second:
        text, _ = layout_text(second.recognise(page_image(["Page two of two."], 200), 300, 60))
        assert second._process.pid == pid
    assert text == "Page two of two."


def test_orientation_is_the_clockwise_turn_to_upright() -> None:
    page = page_image(EMAIL_PAGE, 300)
    with engine() as tesseract:
        for counter_clockwise in (90, 180, 270):
            found = tesseract.orientation(page.rotate(counter_clockwise, expand=True), 300, 60)
            assert found is not None
            turn, confidence = found
            assert turn == counter_clockwise and confidence > 5


def test_a_page_past_its_time_in_layout_analysis_is_killed_and_the_next_page_reads() -> None:
    started = time.monotonic()
    with pytest.raises(EngineTimeout), engine() as tesseract:
        child = tesseract._process
        tesseract.recognise(_noise(), 300, 1.0)
    assert time.monotonic() - started < 1.0 + tesseract_engine.REPLY_GRACE + 5
    assert child.poll() is not None, "the overrunning Tesseract was left running"
    with engine() as fresh:
        assert fresh._process.pid != child.pid
        text, _ = layout_text(fresh.recognise(page_image(["Read after a timeout."], 200), 300, 60))
    assert text == "Read after a timeout."


def test_the_engine_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A pool worker killed at its deadline must not leave its Tesseract reading on."""
    script = textwrap.dedent(
        """
        import sys, threading
        from records.intake.tesseract_engine import engine
        from tests.test_tesseract_engine import _noise
        with engine() as tesseract:
            print(tesseract._process.pid, flush=True)
            threading.Thread(target=tesseract.recognise, args=(_noise(), 300, 600.0), daemon=True).start()
            sys.stdin.read()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # the child is now deep in layout analysis
    assert not _gone(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child), "the engine outlived its killed parent"


def test_missing_language_data_is_the_installations_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``tesseract`` command to ask and an empty TESSDATA_PREFIX: the engine says what to
    install, and the error is ``TesseractMissing`` (readers let it through, nothing is
    quarantined)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    with pytest.raises(TesseractMissing, match="tesseract-ocr-eng"):
        Engine()
