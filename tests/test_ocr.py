"""OCR accuracy on printouts as staff really save them, and the image reader's contract.

The fixtures are rendered here: three realistic printouts (a printed email, a printed
Messenger thread, a printed text conversation) drawn with a TrueType font at 150, 200 and
300 dpi, then degraded the way scanners and phones degrade paper (tilt, 1-bit, JPEG at
quality 50, speckle, an unevenly lit blurred phone photo, a page fed sideways or upside
down) and saved as PNG, JPEG, TIFF (one of them multi-page), HEIC and image-only PDF.
Every cell of that grid must come back with word accuracy of at least 0.95:
1 - word-level Levenshtein distance / reference words, case-sensitive, after
normalising whitespace. The grid is a handful of representative combinations rather than
the full cross product (about a minute for the whole file on two cores); every
degradation and every file format appears at least once. Each cell is its own test so
``pytest -n 2`` spreads them; ``pytest -s`` prints a table row per cell.
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from records.intake.model import Extraction, Item, Page, Quarantine, ReadOptions
from records.intake.ocr import OcrResult, layout_text, ocr_image, ocr_images, pronoun_i
from records.intake.readers import image as image_reader
from records.intake.readers.image import ImageReader
from records.intake.registry import Sniff, sniff

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
LINN = CORPUS / "OCRmyPDF" / "tests" / "resources" / "linn.png"
MIN_ACCURACY = 0.95
OPTIONS = ReadOptions(ocr_workers=2)

# -- the printouts -----------------------------------------------------------------------

EMAIL = [
    "From: Elena Marsh <emarsh@schools.example.org>",
    "Sent: Tuesday, March 5, 2024 3:14 PM",
    "To: Daniel Okafor <dokafor@gmail.com>",
    "Subject: Re: Maya's reading group and the field trip form",
    "",
    "Hi Daniel, thank you for getting back to me so quickly about the reading group.",
    "Maya has been doing very well this term, and she is now reading two levels above",
    "where she started in September. I would like to move her into the Thursday group,",
    "which meets during the second half of lunch in the library. The group is small,",
    "only five students, and they are working through a novel together this month.",
    "Before the trip to the science museum on March 22, we still need the signed",
    "permission form and the medical information sheet. You can drop both at the",
    "front office or send them back in her folder. Please let me know if the bus",
    "time of 8:15 works for your family, or if you would prefer to bring her yourself.",
    "Best regards, Ms. Marsh, Grade 4, Lincoln Elementary School",
]

MESSENGER = [
    "Messenger conversation with Jordan Reyes",
    "Printed on Wednesday, April 17, 2024 by Elena Marsh",
    "",
    "Jordan Reyes, Apr 16, 2024, 7:42 PM",
    "Hi Ms. Marsh, sorry to message you here but my mom said it was okay.",
    "I left my science notebook in the art room and the lab report is due Friday.",
    "Is there any way I could pick it up before school tomorrow morning?",
    "",
    "Elena Marsh, Apr 16, 2024, 8:05 PM",
    "Hi Jordan, the art room opens at 7:30, so come by the front office first",
    "and Mr. Patel will walk you over. Please remember to use your school email",
    "for questions about assignments from now on, so I can keep a record of them.",
    "",
    "Jordan Reyes, Apr 16, 2024, 8:11 PM",
    "Thank you so much! I will be there at 7:30 with my brother.",
]

TEXTS = [
    "Text messages with Priya Natarajan (617) 555-0142",
    "Exported March 28, 2024 from the phone of Elena Marsh",
    "",
    "Mon, Mar 25, 2024 at 6:58 AM",
    "Priya Natarajan: Good morning, Arjun has a fever of 101 and will stay home today.",
    "Could you send the math homework so he does not fall behind this week?",
    "",
    "Mon, Mar 25, 2024 at 7:20 AM",
    "Elena Marsh: Thank you for letting me know, I hope he feels better soon.",
    "The homework is pages 48 and 49 in the workbook, and the quiz moves to Monday.",
    "The school nurse asks for a note from the doctor if he is out three days.",
    "",
    "Mon, Mar 25, 2024 at 7:31 AM",
    "Priya Natarajan: Will do, thanks again. He was worried about the quiz.",
]

PRINTOUTS = {"email": EMAIL, "messenger": MESSENGER, "texts": TEXTS}


def find_font() -> Path:
    """A TrueType sans from the system, else the Vera font that ships with reportlab."""
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts")):
        for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"):
            found = next(folder.rglob(name), None) if folder.is_dir() else None
            if found:
                return found
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"


FONT = find_font()


def render(lines: list[str], dpi: int, points: float = 11.0) -> Image.Image:
    """A letter-size page as a laser printer would put the lines on paper."""
    page = Image.new("L", (round(8.5 * dpi), round(11 * dpi)), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), round(points * dpi / 72))
    step = round(points * 1.5 * dpi / 72)
    for row, line in enumerate(lines):
        draw.text((dpi, dpi + row * step), line, font=font, fill=0)
    return page


# -- degradations ------------------------------------------------------------------------


def tilt(degrees: float) -> Callable[[Image.Image], Image.Image]:
    """A page laid slightly crooked on the scanner glass (counter-clockwise positive)."""
    return lambda page: page.convert("L").rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255
    )


def turn(degrees: int) -> Callable[[Image.Image], Image.Image]:
    """A page fed sideways (90) or upside down (180), counter-clockwise."""
    return lambda page: page.rotate(degrees, expand=True)


def bilevel(page: Image.Image) -> Image.Image:
    """A 1-bit scan: a fixed threshold, as office scanners and fax drivers do."""
    return page.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1", dither=Image.Dither.NONE)


def jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def degrade(page: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        page.convert("L").save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).copy()

    return degrade


def speckle(amount: float, seed: int = 1) -> Callable[[Image.Image], Image.Image]:
    """Salt-and-pepper dust: ``amount`` of the pixels flipped black or white."""

    def degrade(page: Image.Image) -> Image.Image:
        was_bilevel = page.mode == "1"
        pixels = np.asarray(page.convert("L")).copy()
        draw = np.random.default_rng(seed).random(pixels.shape)
        pixels[draw < amount / 2] = 0
        pixels[draw > 1 - amount / 2] = 255
        dusty = Image.fromarray(pixels, "L")
        return dusty.convert("1", dither=Image.Dither.NONE) if was_bilevel else dusty

    return degrade


def phone_photo(page: Image.Image) -> Image.Image:
    """A phone photo by a window: light falling off to ~45% across the page, grey paper,
    grey ink, sensor noise and a slight focus blur."""
    pixels = np.asarray(page.convert("L"), dtype=np.float32) / 255.0
    height, width = pixels.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.0 - 0.33 * xs / width - 0.22 * ys / height
    paper, ink = 235.0 * light, 45.0
    photo = ink + (paper - ink) * pixels
    photo += np.random.default_rng(2).normal(0, 4, photo.shape)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "L")
    return image.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")


# -- file formats ------------------------------------------------------------------------


def save_png(page: Image.Image, path: Path) -> Path:
    page.save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def save_jpeg(page: Image.Image, path: Path, quality: int = 85) -> Path:
    page.convert("RGB" if page.mode == "RGB" else "L").save(path.with_suffix(".jpg"), quality=quality)
    return path.with_suffix(".jpg")


def save_tiff(pages: list[Image.Image], path: Path) -> Path:
    """Group 4 for 1-bit pages (what scanners write), LZW otherwise."""
    target = path.with_suffix(".tif")
    compression = "group4" if all(p.mode == "1" for p in pages) else "tiff_lzw"
    pages[0].save(target, compression=compression, save_all=True, append_images=pages[1:])
    return target


def save_heic(page: Image.Image, path: Path) -> Path:
    """HEIC as an iPhone writes it; x265's ultrafast preset (phones encode in hardware)
    keeps encoding under a second instead of 5 to 40 s on a busy two-core machine."""
    pillow_heif.register_heif_opener()
    page.convert("RGB").save(path.with_suffix(".heic"), format="HEIF", quality=80, enc_params={"preset": "ultrafast"})
    return path.with_suffix(".heic")


def save_pdf_reportlab(page: Image.Image, path: Path, dpi: int) -> Path:
    """An image-only PDF as scanning software writes it: one image filling each page."""
    from reportlab.lib.utils import ImageReader as RLImage
    from reportlab.pdfgen import canvas

    target = path.with_suffix(".pdf")
    width, height = page.width * 72 / dpi, page.height * 72 / dpi
    pdf = canvas.Canvas(str(target), pagesize=(width, height))
    pdf.drawImage(RLImage(page.convert("L")), 0, 0, width=width, height=height)
    pdf.showPage()
    pdf.save()
    return target


def save_pdf_pillow(page: Image.Image, path: Path, dpi: int) -> Path:
    target = path.with_suffix(".pdf")
    page.convert("L").save(target, "PDF", resolution=dpi)
    return target


def render_pdf(path: Path) -> Image.Image:
    """Render the PDF page back at 300 dpi (what the PDF reader does before OCR)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        return document[0].render(scale=300 / 72).to_pil()
    finally:
        document.close()


# -- accuracy ----------------------------------------------------------------------------


def word_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (insertions, deletions, substitutions cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_accuracy(reference: str, hypothesis: str) -> float:
    """1 - word edit distance / reference words; case-sensitive, whitespace normalised."""
    ref_words, hyp_words = reference.split(), hypothesis.split()
    return 1.0 - word_distance(ref_words, hyp_words) / len(ref_words)


def test_word_accuracy_counts_word_edits() -> None:
    assert word_accuracy("a b c d", "a b c d") == 1.0
    assert word_accuracy("a b c d", "a x c d") == 0.75
    assert word_accuracy("a b c d", "a c d") == 0.75
    assert word_accuracy("a b c d", "a b b c d") == 0.75
    assert word_accuracy("A b", "a b") == 0.5  # case-sensitive
    assert word_accuracy("a  b\nc", "a b c") == 1.0


# -- the grid ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One printout, degraded, saved in one format."""

    name: str
    printout: str
    dpi: int
    steps: tuple[Callable[[Image.Image], Image.Image], ...]
    save: str  # png | jpeg | jpeg50 | tiff | heic | pdf-reportlab | pdf-pillow
    turned: int = 0  # counter-clockwise quarter turn applied: expect it undone
    tilted: float = 0.0  # counter-clockwise tilt applied: expect about -tilted corrected


GRID = [
    Cell("png 300dpi gray clean", "email", 300, (), "png"),
    Cell("png 150dpi gray tilt +3", "messenger", 150, (tilt(3),), "png", tilted=3),
    Cell("jpeg q50 150dpi tilt -1", "texts", 150, (tilt(-1), jpeg(50)), "jpeg50", tilted=-1),
    Cell("tiff 300dpi 1-bit tilt -3", "email", 300, (tilt(-3), bilevel), "tiff", tilted=-3),
    Cell("tiff 200dpi 1-bit speckle 1%", "texts", 200, (bilevel, speckle(0.01)), "tiff"),
    Cell("png 200dpi gray speckle 1%", "messenger", 200, (speckle(0.01),), "png"),
    Cell("heic phone photo 200dpi tilt +1.5", "email", 200, (tilt(1.5), phone_photo), "heic", tilted=1.5),
    Cell("jpeg q70 phone photo 300dpi", "texts", 300, (phone_photo,), "jpeg"),
    Cell("png 200dpi turned 90", "email", 200, (turn(90),), "png", turned=90),
    Cell("jpeg q85 200dpi turned 180", "messenger", 200, (turn(180),), "jpeg", turned=180),
    Cell("pdf (reportlab) 300dpi 1-bit tilt +2", "messenger", 300, (tilt(2), bilevel), "pdf-reportlab", tilted=2),
    Cell("pdf (pillow) 200dpi jpeg q50 speckle", "texts", 200, (speckle(0.005), jpeg(50)), "pdf-pillow"),
]

MULTI_PAGE = [  # one office-scanner TIFF, a page of each printout, LZW grayscale
    Cell("tiff 3-page: p1 200dpi clean", "messenger", 200, (), "tiff"),
    Cell("tiff 3-page: p2 150dpi turned 180", "texts", 150, (turn(180),), "tiff", turned=180),
    Cell("tiff 3-page: p3 300dpi tilt +1.5 speckle", "email", 300, (tilt(1.5), speckle(0.005)), "tiff", tilted=1.5),
]


def reference_text(cell: Cell) -> str:
    return "\n".join(PRINTOUTS[cell.printout])


def degraded(cell: Cell) -> Image.Image:
    page = render(PRINTOUTS[cell.printout], cell.dpi)
    for step in cell.steps:
        page = step(page)
    return page


def write(cell: Cell, page: Image.Image, folder: Path) -> Path:
    path = folder / re.sub(r"[^a-z0-9]+", "-", cell.name.lower())
    savers: dict[str, Callable[[], Path]] = {
        "png": lambda: save_png(page, path),
        "jpeg": lambda: save_jpeg(page, path, 70 if "phone" in cell.name else 85),
        "jpeg50": lambda: save_jpeg(page, path, 50),
        "tiff": lambda: save_tiff([page], path),
        "heic": lambda: save_heic(page, path),
        "pdf-reportlab": lambda: save_pdf_reportlab(page, path, cell.dpi),
        "pdf-pillow": lambda: save_pdf_pillow(page, path, cell.dpi),
    }
    return savers[cell.save]()


def read_file(path: Path, options: ReadOptions = OPTIONS) -> Extraction:
    """The real path for image files: libmagic sniff, then the image reader."""
    return ImageReader().read(sniff(path), options)


def as_result(page: Page) -> OcrResult:
    return OcrResult(page.text, page.confidence or 0.0, page.rotation, page.skew)


def check_cell(cell: Cell, result: OcrResult, seconds: float) -> None:
    """Accuracy at least MIN_ACCURACY; a turn of N counter-clockwise undone as N clockwise;
    a tilt of +t corrected by about -t. Prints a table row (``pytest -s`` shows it)."""
    accuracy = word_accuracy(reference_text(cell), result.text)
    print(
        f"\n| {cell.name} | {len(reference_text(cell).split())} | {accuracy:.3f} | {result.confidence:.2f} "
        f"| {result.rotation} | {result.skew:+.2f} | {seconds:.1f} |",
        end="",
    )
    assert result.error is None
    assert accuracy >= MIN_ACCURACY, f"{cell.name}: {accuracy:.3f}\n{result.text}"
    assert result.rotation == cell.turned
    assert result.skew == pytest.approx(-cell.tilted, abs=0.3)


@pytest.mark.parametrize("cell", GRID, ids=[cell.name for cell in GRID])
def test_grid_cell_reads_accurately(cell: Cell, tmp_path: Path) -> None:
    """Render, degrade, save, then read the file back as the engine would."""
    path = write(cell, degraded(cell), tmp_path)
    started = time.monotonic()
    if cell.save.startswith("pdf"):
        # An image-only PDF: render it back as the PDF reader does, then OCR the page.
        result = ocr_images([render_pdf(path)], OPTIONS)[0]
    else:
        extraction = read_file(path)
        assert extraction.problems == []
        result = as_result(extraction.items[0].pages[0])
    check_cell(cell, result, time.monotonic() - started)


def test_multi_page_tiff_gives_one_item_with_its_pages(tmp_path: Path) -> None:
    """An office scanner's TIFF: one record, one item, a page each (read by the pool)."""
    path = save_tiff([degraded(cell) for cell in MULTI_PAGE], tmp_path / "scanner-3-pages")
    started = time.monotonic()
    extraction = read_file(path)
    seconds = time.monotonic() - started
    assert extraction.reader == "image"
    assert extraction.detected == "TIFF image, 3 pages"
    assert extraction.problems == []
    [item] = extraction.items
    assert item.format == "printout-scan"
    assert item.locator is None
    assert [page.number for page in item.pages] == [1, 2, 3]
    assert all(page.ocr for page in item.pages)
    assert item.text.split("\f") == [page.text for page in item.pages]
    assert item.participants == [] and item.sent_at_first is None
    for cell, page in zip(MULTI_PAGE, item.pages, strict=True):
        check_cell(cell, as_result(page), seconds / len(MULTI_PAGE))


def test_every_degradation_and_format_is_in_the_grid() -> None:
    cells = GRID + MULTI_PAGE
    steps = {step.__qualname__.split(".")[0] for cell in cells for step in cell.steps}
    assert {"tilt", "turn", "bilevel", "jpeg", "speckle", "phone_photo"} <= steps
    assert {"png", "jpeg", "jpeg50", "tiff", "heic", "pdf-reportlab", "pdf-pillow"} <= {c.save for c in cells}
    assert {150, 200, 300} <= {c.dpi for c in cells}
    assert {90, 180} <= {c.turned for c in cells}


# -- the image reader --------------------------------------------------------------------


def test_rotated_page_comes_back_upright_with_rotation_reported(tmp_path: Path) -> None:
    """The grid has a page turned 90 degrees one way; this one lies the other way."""
    page = render(EMAIL, 300).rotate(270, expand=True)  # on its side, top to the right
    extraction = read_file(save_png(page, tmp_path / "sideways"))
    [read] = extraction.items[0].pages
    assert read.rotation == 270
    assert read.text.splitlines()[0] == "From: Elena Marsh <emarsh@schools.example.org>"
    assert word_accuracy("\n".join(EMAIL), read.text) >= MIN_ACCURACY


def test_exif_orientation_of_a_phone_jpeg_is_applied(tmp_path: Path) -> None:
    """Phones store the sensor's pixels and an EXIF tag saying how to turn them; the
    reader applies the tag first, so OCR sees an upright page and turns nothing."""
    stored = render(TEXTS, 150).rotate(90, expand=True)  # as the sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=90, exif=exif)
    [page] = read_file(path).items[0].pages
    assert page.rotation == 0
    assert word_accuracy("\n".join(TEXTS), page.text) >= MIN_ACCURACY


def test_short_page_without_enough_text_for_osd_is_still_turned(tmp_path: Path) -> None:
    """OSD gives up on a couple of words; reading both candidate turns decides."""
    page = render(["Ok, see you at 7:30 tomorrow.", "Thanks!"], 200).rotate(180)
    result = ocr_image(page)
    assert result.rotation == 180
    assert result.text.split() == ["Ok,", "see", "you", "at", "7:30", "tomorrow.", "Thanks!"]


def test_truncated_png_is_quarantined_as_damaged(tmp_path: Path) -> None:
    whole = save_png(render(EMAIL, 150), tmp_path / "whole")
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(Quarantine) as caught:
        read_file(cut)
    assert caught.value.kind == "damaged"
    assert caught.value.reason.startswith("image damaged: ")
    assert "truncated" in caught.value.reason
    assert caught.value.reason.endswith("rescan the page")


def test_garbage_with_an_image_header_is_quarantined_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    found = Sniff(path=path, size=path.stat().st_size, mime="image/jpeg", description="JPEG image data", head=path.read_bytes())
    with pytest.raises(Quarantine) as caught:
        ImageReader().read(found, OPTIONS)
    assert caught.value.kind == "damaged"
    assert caught.value.reason.startswith("image damaged: ")


def test_image_over_max_pixels_is_refused_clearly(tmp_path: Path) -> None:
    path = save_png(render(EMAIL, 150), tmp_path / "big")  # 1275 x 1650 = 2.1 megapixels
    small_limit = ReadOptions(max_pixels=1_000_000)
    with pytest.raises(Quarantine) as caught:
        ImageReader().read(sniff(path), small_limit)
    assert caught.value.kind == "too_large"
    assert "1275 x 1650" in caught.value.reason
    assert "over the limit of 1 megapixels" in caught.value.reason
    # ocr_images refuses the page without raising, so a PDF reader keeps its other pages.
    [refused] = ocr_images([Image.open(path)], small_limit)
    assert refused.text == "" and refused.confidence == 0.0
    assert refused.error and "over the limit" in refused.error


def test_more_pages_than_allowed_is_quarantined(tmp_path: Path) -> None:
    pages = [Image.new("1", (200, 200), 1) for _ in range(4)]
    path = save_tiff(pages, tmp_path / "four")
    with pytest.raises(Quarantine) as caught:
        ImageReader().read(sniff(path), ReadOptions(max_pages=3))
    assert caught.value.kind == "too_large"
    assert caught.value.reason.startswith("TIFF image has 4 pages, more than the limit of 3")


def test_a_page_that_fails_is_a_problem_not_a_lost_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [Image.new("L", (300, 300), 255) for _ in range(3)]
    path = save_tiff(pages, tmp_path / "three")

    def second_page_times_out(images: list[Image.Image], options: ReadOptions) -> list[OcrResult]:
        return [
            OcrResult("", 0.0, error="OCR timed out after 180 s") if i == 1 else OcrResult(f"page {i + 1}", 0.9)
            for i in range(len(images))
        ]

    monkeypatch.setattr(image_reader, "ocr_images", second_page_times_out)
    extraction = ImageReader().read(sniff(path), OPTIONS)
    assert extraction.problems == ["page 2: OCR timed out after 180 s"]
    item: Item = extraction.items[0]
    assert item.text == "page 1\f\fpage 3"
    assert [p.confidence for p in item.pages] == [0.9, 0.0, 0.9]


@pytest.mark.parametrize(
    ("error", "kind"),
    [("OCR timed out after 180 s", "timeout"), ("OCR failed: Tesseract exited 1", "damaged")],
)
def test_every_page_failing_quarantines_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, kind: str
) -> None:
    path = save_png(Image.new("L", (300, 300), 255), tmp_path / "one")
    monkeypatch.setattr(image_reader, "ocr_images", lambda images, options: [OcrResult("", 0.0, error=error)] * len(images))
    with pytest.raises(Quarantine) as caught:
        ImageReader().read(sniff(path), OPTIONS)
    assert caught.value.kind == kind
    assert error in caught.value.reason


def test_timeout_fails_the_page_not_the_batch() -> None:
    """A dense 600 dpi page cannot be read in one second; a blank page can. The pool
    returns one result per page, in order, and raises nothing."""
    dense = render(EMAIL * 3, 600, points=7)
    blank = Image.new("L", (400, 400), 255)
    results = ocr_images([blank, dense], ReadOptions(ocr_workers=2, ocr_timeout_seconds=1))
    assert results[0].error is None and results[0].text == ""
    assert results[1].error == "OCR timed out after 1 s"
    assert results[1].text == "" and results[1].confidence == 0.0


@pytest.mark.parametrize(
    ("mime", "expected"),
    [("image/png", True), ("image/jpeg", True), ("image/tiff", True), ("image/heic", True), ("image/heif", True),
     ("image/webp", True), ("application/pdf", False), ("text/plain", False), ("image/svg+xml", False)],
)
def test_score_follows_libmagic_mime(mime: str, expected: bool, tmp_path: Path) -> None:
    found = Sniff(path=tmp_path / "x", size=10, mime=mime, description="", head=b"")
    assert (ImageReader().score(found) > 0) is expected


def test_heic_is_recognised_from_its_content(tmp_path: Path) -> None:
    """libmagic names pillow_heif's output image/heic, and the reader claims it (the grid
    reads a HEIC phone photo end to end)."""
    path = save_heic(render(["Hello"], 100), tmp_path / "photo")
    found = sniff(path.rename(tmp_path / "photo.bin"))  # the name must not matter
    assert found.mime in {"image/heic", "image/heif"}
    assert ImageReader().score(found) > 0


def test_alpha_and_dark_mode_screenshots_read() -> None:
    """A transparent PNG is paper-white, and a dark-mode screenshot is inverted first."""
    page = render(MESSENGER[:8], 200)
    transparent = Image.new("RGBA", page.size, (0, 0, 0, 0))
    transparent.putalpha(Image.eval(page, lambda v: 255 - v))
    dark = Image.eval(page, lambda v: 255 - v).convert("RGB")
    for image in (transparent, dark):
        assert word_accuracy("\n".join(MESSENGER[:8]), ocr_image(image).text) >= MIN_ACCURACY


def test_bar_is_put_back_as_pronoun_i_only_before_a_lowercase_word() -> None:
    assert pronoun_i(["|", "would", "like", "to"]) == ["I", "would", "like", "to"]
    assert pronoun_i(["|'m", "sure"]) == ["I'm", "sure"]
    assert pronoun_i(["Reply", "|", "Forward"]) == ["Reply", "|", "Forward"]
    assert pronoun_i(["a", "|"]) == ["a", "|"]


def test_layout_text_keeps_tesseracts_lines_and_blocks() -> None:
    rows = [  # (level, block, par, line, text, conf) as image_to_data gives them
        (1, 0, 0, 0, "", -1), (2, 1, 0, 0, "", -1),
        (5, 1, 1, 1, "From:", 96), (5, 1, 1, 1, "Elena", 94),
        (5, 1, 1, 2, "Sent:", 90),
        (5, 1, 2, 1, "To:", 92),
        (5, 2, 1, 1, "Hi", 88), (5, 2, 1, 1, " ", 95),
    ]
    data = {key: [row[i] for row in rows] for i, key in enumerate(("level", "block_num", "par_num", "line_num", "text", "conf"))}
    text, confidence = layout_text(data)
    assert text == "From: Elena\nSent:\nTo:\n\nHi"
    assert confidence == pytest.approx((96 + 94 + 90 + 92 + 88) / 5 / 100)


def test_no_pages_no_results() -> None:
    assert ocr_images([], OPTIONS) == []


# -- a real scan -------------------------------------------------------------------------


def fair(text: str) -> str:
    """Normalise what differs between two OCRs of linn.png without either being wrong.

    linn.txt is itself an OCR transcript of a 1980s brochure. Normalised, in both texts:
    Unicode compatibility forms (NFKC: the "ﬁ" ligature becomes "fi"); every dash (em,
    en, hyphen variants) becomes "-" and curly quotes become straight; and the bullet
    glyph at the start of a line, which linn.txt transcribes as "0" and Tesseract 5 as
    "¢", "e", "®" or "*", is dropped. Nothing else: the transcript's own slips ("0r",
    "FOOTSWIT CH", "PLAY/ STOP", "EDI]" for the logo) count against us.
    """
    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\u2010\u2011\u2012\u2013\u2014\u2015]", "-", text)
    text = re.sub("[\u2018\u2019]", "'", text)
    text = re.sub("[\u201c\u201d]", '"', text)
    lines = []
    for line in text.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in {"0", "o", "e", "¢", "®", "*", "•", "°", "«", "©"}:
            words = words[1:]
        lines.append(" ".join(words))
    return "\n".join(lines)


def test_linn_brochure_scan_from_the_corpus() -> None:
    if not LINN.exists():
        pytest.skip(f"corpus absent: {LINN} not found (the OCRmyPDF test resources are not checked out)")
    reference = LINN.with_suffix(".txt").read_text(encoding="utf-8")
    with Image.open(LINN) as scan:
        result = ocr_image(scan)
    accuracy = word_accuracy(fair(reference), fair(result.text))
    print(f"\nlinn.png: word accuracy {accuracy:.3f} (fair), {word_accuracy(reference, result.text):.3f} (raw)")
    assert result.rotation == 0
    assert accuracy >= MIN_ACCURACY, result.text
