"""The PDF reader: born-digital, scanned, mixed, encrypted, damaged and hostile printouts.

Fixtures are made here with reportlab and Pillow. Tests that need no real OCR replace
``records.intake.readers.pdf.ocr_images`` with a stub (and tests of born-digital files make
it fail if called); the scanned and mixed files go through Tesseract for real.

The corpus test runs every file of three public PDF test corpora (when
``/work/shared/corpus`` exists) through detection and this reader: each must end with an
``Extraction`` or a ``Quarantine`` with a specific reason, never another exception or a hang.
"""

from __future__ import annotations

import io
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

import records.intake.readers.pdf as pdf_module
from records.intake import registry
from records.intake.model import Extraction, Quarantine, ReadOptions
from records.intake.readers.pdf import PdfReader, is_garbage, pdf_dates
from records.intake.registry import sniff
from records.intake.tesseract_engine import TesseractMissing

READER = PdfReader()

PAGE_TEXTS = [
    "Dear parent, this note is about the science homework of Jordan Alvarez.",
    "The field trip to the aquarium leaves on Monday at eight in the morning.",
    "Please sign the permission slip and return it to Room 114 by Friday.",
]
SCAN_LINES = ["Dear parent, your son", "missed the field trip", "to the aquarium today."]


# --------------------------------------------------------------------------- fixtures


def _font_path() -> Path:
    for candidate in (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        *sorted(Path("/usr/share/fonts").rglob("DejaVuSans.ttf")),
        Path(__import__("reportlab").__file__).parent / "fonts" / "Vera.ttf",
    ):
        if candidate.is_file():
            return candidate
    pytest.skip("no TrueType font found for drawing scanned pages")


def _write_born_digital(path: Path, texts: list[str], **canvas_options: object) -> Path:
    c = canvas.Canvas(str(path), pagesize=letter, **canvas_options)
    for text in texts:
        c.setFont("Helvetica", 12)
        c.drawString(72, 720, text)
        c.drawString(72, 700, "Saved as PDF from the district laptop.")
        c.showPage()
    c.save()
    return path


def _scan_image(lines: list[str]) -> Image.Image:
    """A letter page at 300 dpi with large black text, like a clean scan."""
    image = Image.new("L", (2550, 3300), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(_font_path()), 64)
    y = 300
    for line in lines:
        draw.text((250, y), line, fill=0, font=font)
        y += 110
    return image


def _draw_scan_page(c: canvas.Canvas, lines: list[str]) -> None:
    buffer = io.BytesIO()
    _scan_image(lines).save(buffer, format="PNG")
    buffer.seek(0)
    width, height = letter
    c.drawImage(ImageReader(buffer), 0, 0, width=width, height=height)


def _write_scanned(path: Path, pages: list[list[str]]) -> Path:
    c = canvas.Canvas(str(path), pagesize=letter)
    for lines in pages:
        _draw_scan_page(c, lines)
        c.showPage()
    c.save()
    return path


def _write_blank(path: Path, pages: int) -> Path:
    c = canvas.Canvas(str(path), pagesize=letter)
    for _ in range(pages):
        c.showPage()
    c.save()
    return path


def _corrupt_page_stream(source: Path, target: Path, page_index: int) -> Path:
    """Flip bytes inside one page's compressed content stream, keeping every offset valid."""
    data = source.read_bytes()
    reader = pypdf.PdfReader(source)
    contents = reader.pages[page_index].get("/Contents")
    assert isinstance(contents, pypdf.generic.IndirectObject)
    offset = reader.xref[contents.generation][contents.idnum]
    start = data.index(b"stream", offset) + len(b"stream\n")
    damaged = bytearray(data)
    for position in range(start + 10, start + 40):
        damaged[position] = (damaged[position] * 7 + 13) % 256
    target.write_bytes(bytes(damaged))
    return target


@dataclass(frozen=True)
class FakeOcr:
    text: str
    confidence: float = 0.9
    rotation: int = 0
    skew: float = 0.0
    error: str | None = None


class OcrSpy:
    """Stands in for ``ocr_images`` (or wraps the real one) and records each call."""

    def __init__(self, answer: object = None) -> None:
        self.calls: list[int] = []
        self.answer = answer

    def __call__(self, images: list[Image.Image], options: ReadOptions) -> list[object]:
        self.calls.append(len(images))
        if callable(self.answer):
            return self.answer(images, options)
        return [FakeOcr(text="") for _ in images]


@pytest.fixture
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(images: list[Image.Image], options: ReadOptions) -> list[object]:
        raise AssertionError(f"OCR called for {len(images)} page(s) of a born-digital file")

    monkeypatch.setattr(pdf_module, "ocr_images", refuse)


@pytest.fixture
def real_ocr_spy(monkeypatch: pytest.MonkeyPatch) -> OcrSpy:
    spy = OcrSpy(pdf_module.ocr_images)
    monkeypatch.setattr(pdf_module, "ocr_images", spy)
    return spy


def _read(path: Path, **options: object) -> Extraction:
    found = sniff(path)
    assert READER.score(found) == 1.0
    return READER.read(found, ReadOptions(**options))  # type: ignore[arg-type]


def _quarantine(path: Path, **options: object) -> Quarantine:
    with pytest.raises(Quarantine) as caught:
        _read(path, **options)
    return caught.value


# --------------------------------------------------------------------------- detection


def test_scores_pdf_by_content_not_name(tmp_path: Path) -> None:
    pdf = _write_born_digital(tmp_path / "note.txt", PAGE_TEXTS[:1])
    assert READER.score(sniff(pdf)) == 1.0
    late_header = tmp_path / "late.bin"
    late_header.write_bytes(b"\x00" * 500 + pdf.read_bytes())
    assert READER.score(sniff(late_header)) == 1.0
    text = tmp_path / "letter.pdf"
    text.write_text("Dear parent, this is not a PDF.\n")
    assert READER.score(sniff(text)) == 0.0
    assert PdfReader.name == "pdf"
    _builtin_readers()
    assert [r.name for r in registry.readers()].count("pdf") == 1


# --------------------------------------------------------------------------- born-digital


def test_born_digital_text_per_page_without_ocr(tmp_path: Path, no_ocr: None) -> None:
    path = _write_born_digital(tmp_path / "note.pdf", PAGE_TEXTS)
    extraction = _read(path)

    assert extraction.reader == "pdf"
    assert extraction.detected == "PDF, 3 pages (born-digital)"
    assert extraction.problems == []
    [item] = extraction.items
    assert item.format == "printout-pdf"
    assert [p.number for p in item.pages] == [1, 2, 3]
    for page, expected in zip(item.pages, PAGE_TEXTS, strict=True):
        assert expected in page.text
        assert page.ocr is False
        assert page.confidence is None
    assert item.text.split("\f") == [p.text for p in item.pages]
    assert item.participants == [] and item.sent_at_first is None and item.sent_at_last is None


def test_creation_date_is_an_evidence_reference_only(tmp_path: Path, no_ocr: None) -> None:
    path = _write_born_digital(tmp_path / "note.pdf", PAGE_TEXTS[:1])
    [item] = _read(path).items
    kinds = {(e.kind, e.detail, e.weight) for e in item.evidence}
    assert ("file_date", "pdf CreationDate", 0.3) in kinds
    assert all(e.kind == "file_date" for e in item.evidence)
    assert "CreationDate" in pdf_dates(path)


# --------------------------------------------------------------------------- scanned and mixed


def test_scanned_pages_are_ocrd_in_one_batch(tmp_path: Path, real_ocr_spy: OcrSpy) -> None:
    path = _write_scanned(tmp_path / "scan.pdf", [SCAN_LINES, ["Second page of the scan", "about the field trip."]])
    extraction = _read(path)

    assert real_ocr_spy.calls == [2]  # both pages in one call, so they spread over the cores
    assert extraction.detected == "PDF, 2 pages (scanned)"
    assert extraction.problems == []
    [item] = extraction.items
    assert item.format == "printout-scan"
    first, second = item.pages
    assert first.ocr and second.ocr
    assert first.confidence is not None and first.confidence > 0.8
    words = first.text.lower()
    for word in ("parent", "missed", "field", "trip", "aquarium"):
        assert word in words
    assert "second" in second.text.lower()


def test_mixed_pdf_ocrs_only_the_image_page(tmp_path: Path, real_ocr_spy: OcrSpy) -> None:
    path = tmp_path / "mixed.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.drawString(72, 720, PAGE_TEXTS[0])
    c.showPage()
    _draw_scan_page(c, SCAN_LINES)
    c.showPage()
    c.save()

    extraction = _read(path)
    assert real_ocr_spy.calls == [1]
    assert extraction.detected == "PDF, 2 pages (mixed: 1 of 2 scanned)"
    [item] = extraction.items
    assert item.format == "printout-pdf"  # one of two pages is an image: not a majority
    text_page, image_page = item.pages
    assert not text_page.ocr and PAGE_TEXTS[0] in text_page.text
    assert image_page.ocr and "aquarium" in image_page.text.lower()


def test_garbage_text_layer_is_ocrd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_garbage("\ufffd" * 50 + "ab")
    assert is_garbage("\ue000\ue001\ue002 " * 20)
    assert not is_garbage("Dear parent, the trip is on Monday (9:00). Thanks!")
    assert not is_garbage("مرحبا بكم في المدرسة")  # letters of any script are letters

    pdfmetrics.registerFont(TTFont("TestSans", str(_font_path())))
    path = tmp_path / "garbage.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("TestSans", 12)
    c.drawString(72, 720, "\ufffd" * 60)
    c.showPage()
    c.save()
    spy = OcrSpy(lambda images, options: [FakeOcr(text="Recovered by OCR", confidence=0.7) for _ in images])
    monkeypatch.setattr(pdf_module, "ocr_images", spy)

    [page] = _read(path).items[0].pages
    assert spy.calls == [1]
    assert page.ocr and page.text == "Recovered by OCR" and page.confidence == 0.7


def test_short_text_page_keeps_its_own_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "short.pdf"
    c = canvas.Canvas(str(path), pagesize=letter)
    c.drawString(72, 720, "Thanks, see you Monday.")  # under min_text_chars: OCR'd to be sure
    c.showPage()
    c.save()
    spy = OcrSpy(lambda images, options: [FakeOcr(text="Thanks, see you Mondav.") for _ in images])
    monkeypatch.setattr(pdf_module, "ocr_images", spy)

    extraction = _read(path)
    assert spy.calls == [1]
    assert extraction.detected == "PDF, 1 page (born-digital)"
    [item] = extraction.items
    assert item.format == "printout-pdf"
    [page] = item.pages
    assert (page.text, page.ocr, page.confidence) == ("Thanks, see you Monday.", False, None)


def test_ocr_page_limit_reports_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_blank(tmp_path / "blank.pdf", 3)
    spy = OcrSpy(lambda images, options: [FakeOcr(text="words on the page") for _ in images])
    monkeypatch.setattr(pdf_module, "ocr_images", spy)

    extraction = _read(path, max_ocr_pages=1)
    assert spy.calls == [1]
    assert extraction.problems == ["pages 2\u20133 not OCR'd: limit of 1 OCR pages per file"]
    assert [(p.number, p.ocr) for p in extraction.items[0].pages] == [(1, True), (2, False), (3, False)]


def test_ocr_error_is_a_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_blank(tmp_path / "blank.pdf", 2)
    answers = [FakeOcr(text="kept"), FakeOcr(text="", confidence=0.0, error="tesseract exited with status 1")]
    monkeypatch.setattr(pdf_module, "ocr_images", OcrSpy(lambda images, options: answers))

    extraction = _read(path)
    assert extraction.problems == ["page 2 not OCR'd: OCR failed (tesseract exited with status 1)"]
    assert [(p.number, p.ocr, p.text) for p in extraction.items[0].pages] == [(1, True, "kept"), (2, False, "")]

    # The OCR module's own reasons already say what happened: they are not wrapped twice.
    answers[1] = FakeOcr(text="", confidence=0.0, error="OCR timed out after 60 s")
    assert _read(path).problems == ["page 2 not OCR'd: OCR timed out after 60 s"]


def test_ocr_call_that_raises_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_blank(tmp_path / "blank.pdf", 1)

    def explode(images: list[Image.Image], options: ReadOptions) -> list[object]:
        raise RuntimeError("Tesseract process timeout")

    monkeypatch.setattr(pdf_module, "ocr_images", explode)
    extraction = _read(path)
    assert extraction.problems == ["page 1 not OCR'd: OCR failed (RuntimeError: Tesseract process timeout)"]


def test_large_pages_are_drawn_within_the_pixel_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_blank(tmp_path / "blank.pdf", 1)
    sizes: list[tuple[int, int]] = []

    def measure(images: list[Image.Image], options: ReadOptions) -> list[object]:
        sizes.extend(image.size for image in images)
        return [FakeOcr(text="") for _ in images]

    monkeypatch.setattr(pdf_module, "ocr_images", measure)
    _read(path)
    [(width, height)] = sizes
    assert abs(width - 2550) <= 1 and abs(height - 3300) <= 1  # letter at 300 dpi
    _read(path, max_pixels=1_000_000)
    [(width, height)] = sizes[1:]
    assert width * height <= 1_000_000 and width > 800


# --------------------------------------------------------------------------- encrypted


def test_encrypted_pdf_needs_its_password(tmp_path: Path, no_ocr: None) -> None:
    path = _write_born_digital(tmp_path / "locked.pdf", PAGE_TEXTS[:2], encrypt="secret")

    refused = _quarantine(path)
    assert refused.kind == "encrypted"
    assert refused.reason == (
        "encrypted PDF: run `records quarantine retry SOURCE_ID --password ...` with the document's password"
    )

    extraction = _read(path, password="secret")
    assert [PAGE_TEXTS[0] in extraction.items[0].pages[0].text, PAGE_TEXTS[1] in extraction.items[0].pages[1].text] == [
        True,
        True,
    ]

    wrong = _quarantine(path, password="not-it")
    assert wrong.kind == "encrypted"
    assert "password given did not open it" in wrong.reason and "SOURCE_ID" in wrong.reason


def test_pdf_with_only_an_owner_password_opens_without_one(tmp_path: Path, no_ocr: None) -> None:
    writer = pypdf.PdfWriter(clone_from=_write_born_digital(tmp_path / "plain.pdf", PAGE_TEXTS[:1]))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-256")
    path = tmp_path / "owner-only.pdf"
    writer.write(path)
    assert PAGE_TEXTS[0] in _read(path).items[0].text


# --------------------------------------------------------------------------- damaged and hostile


def test_truncated_pdf_is_quarantined_damaged(tmp_path: Path) -> None:
    whole = _write_born_digital(tmp_path / "whole.pdf", PAGE_TEXTS).read_bytes()
    path = tmp_path / "half.pdf"
    path.write_bytes(whole[: len(whole) // 2])
    refused = _quarantine(path)
    assert refused.kind == "damaged"
    assert refused.reason == (
        "PDF damaged: the file ends early (it may have been cut short while saving or copying); "
        "ask for a new copy or rescan"
    )


def test_one_corrupted_page_keeps_the_others(tmp_path: Path, real_ocr_spy: OcrSpy) -> None:
    source = _write_born_digital(tmp_path / "whole.pdf", PAGE_TEXTS)
    path = _corrupt_page_stream(source, tmp_path / "page3-corrupt.pdf", 2)
    extraction = _read(path)
    # pypdf cannot decode page 3's content and PDFium draws it blank: it is unreadable.
    assert real_ocr_spy.calls == [1]
    assert extraction.problems == ["PDF damaged: page 3 unreadable; pages 1\u20132 kept"]
    [item] = extraction.items
    assert [p.number for p in item.pages] == [1, 2]
    assert PAGE_TEXTS[1] in item.pages[1].text


def test_every_page_unreadable_is_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _write_born_digital(tmp_path / "one.pdf", PAGE_TEXTS[:1])
    path = _corrupt_page_stream(source, tmp_path / "corrupt.pdf", 0)
    monkeypatch.setattr(pdf_module, "ocr_images", OcrSpy())
    refused = _quarantine(path)
    assert refused.kind == "damaged"
    assert refused.reason.startswith("PDF damaged: ") and refused.reason.endswith("; ask for a new copy or rescan")


def test_garbage_bytes_after_pdf_header_are_damaged(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    noise = random.Random(7).randbytes(20_000)
    path.write_bytes(b"%PDF-1.7\n" + noise)
    refused = _quarantine(path)
    assert refused.kind == "damaged"
    assert refused.reason.startswith("PDF damaged: ")


def test_pdf_without_pages_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "nopages.pdf"
    pypdf.PdfWriter().write(path)
    refused = _quarantine(path)
    assert (refused.kind, refused.reason) == ("empty", "PDF has no pages")


def test_page_limit(tmp_path: Path, no_ocr: None) -> None:
    path = _write_born_digital(tmp_path / "three.pdf", PAGE_TEXTS)
    refused = _quarantine(path, max_pages=2)
    assert refused.kind == "too_large"
    assert refused.reason == "PDF has 3 pages, more than the limit of 2: split it or raise the limit"


def test_file_time_limit_keeps_what_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_ocr: None) -> None:
    path = _write_born_digital(tmp_path / "three.pdf", PAGE_TEXTS)

    class Clock:  # every look at the clock is ten seconds later
        now = 0.0

        def monotonic(self) -> float:
            self.now += 10
            return self.now

    monkeypatch.setattr(pdf_module, "time", Clock())
    extraction = _read(path, file_timeout_seconds=25)
    assert extraction.problems == ["stopped after 2 pages: the file took longer than the time limit"]
    assert [p.number for p in extraction.items[0].pages] == [1, 2]


def test_file_time_limit_before_any_page_is_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_ocr: None
) -> None:
    path = _write_born_digital(tmp_path / "three.pdf", PAGE_TEXTS)

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            self.now += 10
            return self.now

    monkeypatch.setattr(pdf_module, "time", Clock())
    refused = _quarantine(path, file_timeout_seconds=5)
    assert refused.kind == "timeout"
    assert "time limit of 5 seconds" in refused.reason


def test_missing_tesseract_is_not_blamed_on_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(images: list[Image.Image], options: ReadOptions) -> list[object]:
        raise TesseractMissing("no English language data for Tesseract")

    monkeypatch.setattr(pdf_module, "ocr_images", missing)
    with pytest.raises(TesseractMissing):
        _read(_write_blank(tmp_path / "blank.pdf", 1))


def test_pypdf_warnings_are_silenced(tmp_path: Path, caplog: pytest.LogCaptureFixture, no_ocr: None) -> None:
    data = _write_born_digital(tmp_path / "whole.pdf", PAGE_TEXTS[:1]).read_bytes()
    path = tmp_path / "no-eof.pdf"
    path.write_bytes(data.replace(b"%%EOF", b"%%XXX"))  # pypdf warns "EOF marker not found", then gives up
    with caplog.at_level("WARNING"):
        extraction = _read(path)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    # PDFium reads what pypdf could not parse.
    assert PAGE_TEXTS[0] in extraction.items[0].text and extraction.problems == []


# --------------------------------------------------------------------------- corpus

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"  # ../shared/corpus beside the checkout
CORPUS_DIRS = (
    CORPUS / "OCRmyPDF" / "tests" / "resources",
    CORPUS / "pypdf-resources",
    CORPUS / "py-pdf-sample-files",
)
CORPUS_OPTIONS = ReadOptions(
    max_pages=50,
    ocr_timeout_seconds=60,
    file_timeout_seconds=120,
    max_ocr_pages=3,  # keeps the run short; the rest are reported as problems
    # Posters and 30-inch test pages are drawn smaller than the 120-megapixel default (a
    # letter page at 300 dpi is 8.4): the capping path is exercised and the run stays short.
    max_pixels=40_000_000,
    # Under pytest-xdist the files are already spread over the cores: one Tesseract each.
    ocr_workers=1 if os.environ.get("PYTEST_XDIST_WORKER") else 0,
)
CORPUS_HANG_SECONDS = 200  # a file still running after this has hung
KNOWN_KINDS = {"encrypted", "unsupported", "damaged", "too_large", "timeout", "empty"}


def _corpus_files() -> list[Path]:
    if not CORPUS.exists():
        return []
    return sorted(p for root in CORPUS_DIRS if root.exists() for p in root.rglob("*") if p.is_file())


_CORPUS_FILES = _corpus_files()


@pytest.fixture(scope="module")
def corpus_summary(request: pytest.FixtureRequest) -> Iterator[list[tuple[str, str, float]]]:
    rows: list[tuple[str, str, float]] = []
    yield rows
    if not rows:
        return
    width = max(len(name) for name, _, _ in rows)
    lines = ["", "PDF reader over the corpus (file | outcome | seconds):"]
    lines += [f"{name:<{width}}  {outcome}  ({seconds:.1f}s)" for name, outcome, seconds in sorted(rows)]
    # Written past output capture so a plain run shows it; under xdist each worker's part is
    # in its captured output (-rA), and every test prints its own row too.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and not os.environ.get("PYTEST_XDIST_WORKER"):
        with capture.global_and_fixture_disabled():
            for line in lines:
                reporter.write_line(line)
    else:
        print("\n".join(lines))


def _builtin_readers() -> None:
    """Load the built-in readers; a sibling reader that is not written yet is no failure here."""
    try:
        registry.readers()
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("records.intake.readers."):
            raise


def _alarm(seconds: int):  # type: ignore[no-untyped-def]
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} seconds: the reader hangs on this file")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    return previous


@pytest.mark.parametrize(
    "path",
    _CORPUS_FILES or [None],
    ids=[str(p.relative_to(CORPUS)) for p in _CORPUS_FILES] or ["corpus-absent"],
)
def test_corpus_file_ends_extracted_or_quarantined(
    path: Path | None, corpus_summary: list[tuple[str, str, float]]
) -> None:
    if path is None:
        pytest.skip(f"corpus absent: {CORPUS} does not exist")
    _builtin_readers()
    name = str(path.relative_to(CORPUS))
    started = time.monotonic()
    previous = _alarm(CORPUS_HANG_SECONDS)
    try:
        found = sniff(path)
        try:
            reader = registry.choose(found)
            if reader.name != "pdf":
                outcome = f"other reader: {reader.name} (not run here)"
            else:
                extraction = reader.read(found, CORPUS_OPTIONS)
                assert len(extraction.items) == 1
                assert extraction.detected.startswith("PDF, ")
                for problem in extraction.problems:
                    assert problem.strip()
                state = "partial" if extraction.problems else "extracted"
                outcome = f"{state}: {extraction.items[0].format}, {extraction.detected}"
                if extraction.problems:
                    outcome += " | " + "; ".join(extraction.problems)
        except Quarantine as quarantined:
            assert quarantined.kind in KNOWN_KINDS, quarantined.kind
            assert len(quarantined.reason.strip()) > 15, quarantined.reason
            outcome = f"quarantined {quarantined.kind}: {quarantined.reason}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.monotonic() - started
    corpus_summary.append((name, outcome, seconds))
    print(f"{name} -> {outcome} ({seconds:.1f}s)")
    assert seconds < CORPUS_OPTIONS.file_timeout_seconds + CORPUS_OPTIONS.ocr_timeout_seconds
