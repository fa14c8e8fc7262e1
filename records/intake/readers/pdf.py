"""Printouts saved as PDF: born-digital "print to PDF" files and scanned pages.

One file is one record unit (design.md, "Record units"): the reader returns one ``Item``
whose ``pages`` say, page by page, whether the text came from the PDF's own text layer or
from OCR. A page is OCR'd only when its text layer is too thin (fewer than
``options.min_text_chars`` non-space characters) or is garbage (mostly characters that are
neither letters, digits, spaces nor punctuation, e.g. U+FFFD or private-use glyphs left by
a poor earlier OCR or a font without a Unicode map). All pages of a file that need OCR go
to ``ocr_images`` together so the OCR module can spread them over the cores.

Text comes from pypdf; pages are drawn with pypdfium2, which also stands in for pypdf when
pypdf cannot parse a damaged file at all. Hostile input is bounded: per-page work is
guarded, ``options.max_pages``, ``max_bytes``, ``max_pixels``, ``max_ocr_pages`` and
``file_timeout_seconds`` are honoured, and what could not be read is named in
``Extraction.problems`` (a partial source) or in a ``Quarantine`` reason.

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf
import pypdfium2 as pdfium
from PIL import Image
from pypdf import DocumentInformation, PasswordType
from pypdf.generic import ByteStringObject, TextStringObject

from records.intake.model import Evidence, Extraction, Item, Page, Quarantine, ReadOptions
from records.intake.ocr import ocr_images
from records.intake.registry import Reader, Sniff, register
from records.intake.tesseract_engine import TesseractMissing

OCR_DPI = 300
# Pages drawn for OCR are handed to ``ocr_images`` in one call as long as their pixels fit
# this budget (about 400 MB of grayscale): a normal file is one call, a 500-page scan is a
# few, and memory stays bounded.
OCR_BATCH_PIXELS = 400_000_000
GOOD_TEXT_RATIO = 0.7  # below this share of letters/digits/spaces/punctuation, a text layer is garbage

ENCRYPTED_REASON = (
    "encrypted PDF: run `records quarantine retry SOURCE_ID --password ...` with the document's password"
)
WRONG_PASSWORD_REASON = (
    "encrypted PDF: the password given did not open it; check the password and run "
    "`records quarantine retry SOURCE_ID --password ...` again"
)

# pypdfium2 (PDFium) is not thread-safe, not even across documents: every call goes through this lock.
_PDFIUM_LOCK = threading.RLock()
PDFIUM_LOCK = _PDFIUM_LOCK  # for other code that draws pages (page previews)


class PdfReader(Reader):
    """Reads PDF printouts (born-digital or scanned) into one ``Item`` per file."""

    name = "pdf"

    def score(self, sniff: Sniff) -> float:
        try:
            if sniff.mime == "application/pdf":
                return 1.0
            # Some producers put junk before the header (readers accept up to 1 KB), but a
            # zip or another container holding a PDF is not a PDF.
            if b"%PDF-" in sniff.head[:1024] and not sniff.zip_members and not sniff.head.startswith(b"PK\x03\x04"):
                return 1.0
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0
        return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        with _quiet():
            return _read(sniff, options)


# --------------------------------------------------------------------------- the read


@dataclass
class _PageWork:
    number: int  # 1-based, as printed
    layer: str = ""  # the text layer's text ("" when none or unreadable)
    broken: str | None = None  # why the text layer could not be read, when it could not
    needs_ocr: bool = False  # thin or garbage text layer: draw and OCR it
    image: bool = False  # an image page (a scan); a short text page that OCR adds nothing to is not
    garbage: bool = False
    text: str = ""
    ocr: bool = False
    confidence: float | None = None
    rotation: int = 0
    skew: float = 0.0
    unreadable: bool = False
    not_ocrd: str | None = None  # why a page needing OCR was not OCR'd


def _read(sniff: Sniff, options: ReadOptions) -> Extraction:
    started = time.monotonic()
    deadline = started + max(0, options.file_timeout_seconds)
    if sniff.size > options.max_bytes:
        raise Quarantine(
            "too_large",
            f"PDF is {_size(sniff.size)}, more than the limit of {_size(options.max_bytes)}: split it or raise the limit",
        )
    source = _open(Path(sniff.path), options)
    try:
        count = source.page_count
        if count == 0:
            raise Quarantine("empty", "PDF has no pages")
        if count > options.max_pages:
            raise Quarantine(
                "too_large",
                f"PDF has {count} pages, more than the limit of {options.max_pages}: split it or raise the limit",
            )

        work: list[_PageWork] = []
        stopped_after: int | None = None
        for index in range(count):
            if time.monotonic() > deadline:
                stopped_after = index
                break
            work.append(_examine(source, index, options))

        _ocr_pages(source, [w for w in work if w.needs_ocr], options, deadline)
        evidence = _date_evidence(source)
    finally:
        source.close()

    for w in work:
        if not w.needs_ocr and not w.unreadable:
            w.text = w.layer
    kept = [w for w in work if not w.unreadable]
    unreadable = [w for w in work if w.unreadable]

    if not kept:
        if stopped_after is not None and not work:
            raise Quarantine(
                "timeout",
                f"PDF took longer than the time limit of {options.file_timeout_seconds} seconds before any page "
                "was read: raise the limit or ask for a simpler copy",
            )
        cause = next((w.broken for w in unreadable if w.broken), None) or "no page could be read"
        raise Quarantine("damaged", f"PDF damaged: {cause}; ask for a new copy or rescan")

    problems: list[str] = []
    if unreadable:
        problems.append(
            f"PDF damaged: {_pages_phrase([w.number for w in unreadable])} unreadable; "
            f"{_pages_phrase([w.number for w in kept])} kept"
        )
    by_reason: dict[str, list[int]] = {}
    for w in kept:
        if w.not_ocrd:
            by_reason.setdefault(w.not_ocrd, []).append(w.number)
    for reason, numbers in by_reason.items():
        problems.append(f"{_pages_phrase(numbers)} not OCR'd: {reason}")
    if stopped_after is not None:
        problems.append(f"stopped after {stopped_after} pages: the file took longer than the time limit")

    image_pages = sum(1 for w in kept if w.image)
    ocr_pages = sum(1 for w in kept if w.ocr)
    scan = ocr_pages > 0 and image_pages * 2 > len(kept)
    pages = [
        Page(
            number=w.number,
            text=w.text,
            ocr=w.ocr,
            confidence=w.confidence,
            rotation=w.rotation,
            skew=w.skew,
        )
        for w in kept
    ]
    item = Item(
        format="printout-scan" if scan else "printout-pdf",
        locator=None,
        text="\f".join(p.text for p in pages),
        pages=pages,
        evidence=evidence,
    )
    return Extraction(
        reader=PdfReader.name,
        detected=_detected(count, sum(1 for w in work if w.image), len(work)),
        items=[item],
        problems=problems,
    )


def _examine(source: _Source, index: int, options: ReadOptions) -> _PageWork:
    """Read one page's text layer and decide whether the page needs OCR."""
    w = _PageWork(number=index + 1)
    text, error = source.layer_text(index)
    if error is not None:
        w.broken = error
        text = ""
    w.layer = _clean(text)
    solid = _solid(w.layer)
    w.garbage = solid > 0 and is_garbage(w.layer)
    w.needs_ocr = w.broken is not None or solid < options.min_text_chars or w.garbage
    w.image = w.needs_ocr
    return w


def _ocr_pages(source: _Source, pending: list[_PageWork], options: ReadOptions, deadline: float) -> None:
    """Draw and OCR the image pages; mark what could not be done and why."""
    limit = options.max_ocr_pages
    batch: list[tuple[_PageWork, Image.Image]] = []
    batch_pixels = 0
    for position, w in enumerate(pending):
        if limit and position >= limit:
            _give_up(w, f"limit of {limit} OCR pages per file")
            continue
        if time.monotonic() > deadline:
            _give_up(w, "the file took longer than the time limit")
            continue
        image, error = source.render(w.number - 1, options.max_pixels)
        if image is None:
            _give_up(w, f"the page could not be drawn ({error})")
            continue
        pixels = image.width * image.height
        if batch and batch_pixels + pixels > OCR_BATCH_PIXELS:
            _run_ocr(batch, options, deadline)
            batch, batch_pixels = [], 0
        batch.append((w, image))
        batch_pixels += pixels
    if batch:
        _run_ocr(batch, options, deadline)


def _run_ocr(batch: list[tuple[_PageWork, Image.Image]], options: ReadOptions, deadline: float) -> None:
    if time.monotonic() > deadline:
        for w, _ in batch:
            _give_up(w, "the file took longer than the time limit")
        return
    images = [image for _, image in batch]
    try:
        results = list(ocr_images(images, options))
    except TesseractMissing:
        raise  # the installation is broken, not the file: the flow retries, nothing is quarantined
    except Exception as exc:  # noqa: BLE001 - one failed OCR call must not sink the file
        results = []
        failure: str | None = f"{type(exc).__name__}: {_short(exc)}" if _short(exc) else type(exc).__name__
    else:
        failure = None if len(results) == len(batch) else f"OCR returned {len(results)} results for {len(batch)} pages"
    finally:
        for image in images:
            image.close()
    for position, (w, _) in enumerate(batch):
        if failure is not None:
            _give_up(w, f"OCR failed ({failure})")
            continue
        result = results[position]
        error = getattr(result, "error", None)
        if error:
            error = " ".join(str(error).split())
            _give_up(w, error if error.lower().startswith("ocr") else f"OCR failed ({error})")
            continue
        text = _clean(getattr(result, "text", "") or "")
        if not text.strip() and w.broken is not None:
            w.unreadable = True  # its content could not be parsed, and nothing shows on it when drawn
            continue
        layer_solid = 0 if w.garbage else _solid(w.layer)
        if layer_solid and _solid(text) < 1.5 * layer_solid + 10:
            # OCR found little the text layer did not already hold: a short born-digital page
            # ("Thanks, see you Monday"), whose own text is exact where OCR's is not.
            w.text = w.layer
            w.image = False
            continue
        w.text = text
        w.ocr = True
        w.confidence = float(getattr(result, "confidence", 0.0) or 0.0)
        w.rotation = int(getattr(result, "rotation", 0) or 0)
        w.skew = float(getattr(result, "skew", 0.0) or 0.0)


def _give_up(w: _PageWork, reason: str) -> None:
    """A page that needed OCR and did not get it: keep its text layer, or call it unreadable."""
    if w.broken is not None:
        w.unreadable = True
        return
    w.text = "" if w.garbage else w.layer
    w.image = not w.text.strip()  # a page with some real text is not counted as a scan unseen
    w.not_ocrd = reason


# --------------------------------------------------------------------------- opening


class _Source:
    """An opened PDF: pypdf for the text layer when it can parse the file, PDFium for drawing
    pages (and for the text layer when pypdf cannot parse the file)."""

    def __init__(
        self, reader: pypdf.PdfReader | None, document: Any, render_error: str | None, opener: Callable[[], tuple[Any, str | None]] | None = None
    ) -> None:
        self.reader = reader
        self._document = document
        self.render_error = render_error
        # When pypdf reads the file, PDFium is opened only if a page must be drawn or
        # pypdf fails on a page: a born-digital printout never needs it, and opening
        # every file twice was a tenth of reading one.
        self._opener = opener
        if reader is not None:
            self.page_count = len(reader.pages)
        else:
            with _PDFIUM_LOCK:
                self.page_count = len(document)

    @property
    def document(self) -> Any:
        if self._opener is not None:
            opener, self._opener = self._opener, None
            self._document, self.render_error = opener()
        return self._document

    @document.setter
    def document(self, value: Any) -> None:
        self._opener = None
        self._document = value

    def layer_text(self, index: int) -> tuple[str, str | None]:
        """The page's text layer, or ("", why not)."""
        if self.reader is not None:
            try:
                return self.reader.pages[index].extract_text() or "", None
            except Exception as exc:  # noqa: BLE001 - a broken page is one unreadable page
                error = _short(exc) or type(exc).__name__
            # pypdf could not read this page: PDFium may.
            text, pdfium_error = self._pdfium_text(index)
            if pdfium_error is None and text.strip():
                return text, None
            return "", error
        return self._pdfium_text(index)

    def _pdfium_text(self, index: int) -> tuple[str, str | None]:
        if self.document is None:
            return "", self.render_error or "the page could not be read"
        with _PDFIUM_LOCK:
            page = textpage = None
            try:
                page = self.document[index]
                textpage = page.get_textpage()
                return textpage.get_text_range() or "", None
            except Exception as exc:  # noqa: BLE001
                return "", _short(exc) or type(exc).__name__
            finally:
                for handle in (textpage, page):
                    if handle is not None:
                        try:
                            handle.close()
                        except Exception:  # noqa: BLE001, S110
                            pass

    def render(self, index: int, max_pixels: int) -> tuple[Image.Image | None, str | None]:
        """The page drawn in grayscale at 300 dpi (less when that would pass ``max_pixels``)."""
        if self.document is None:
            return None, self.render_error or "PDFium could not open the file"
        with _PDFIUM_LOCK:
            page = None
            try:
                if index >= len(self.document):
                    return None, "page not found"
                page = self.document[index]
                width, height = page.get_size()
                if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
                    return None, "the page has no size"
                dpi = float(OCR_DPI)
                if (width * dpi / 72) * (height * dpi / 72) > max_pixels:
                    dpi = 72 * math.sqrt(max_pixels / (width * height))
                    dpi *= 0.99  # keep rounding up of each side under the cap
                if width * dpi / 72 < 1 or height * dpi / 72 < 1:
                    return None, "the page is too large to draw within the pixel limit"
                bitmap = page.render(scale=dpi / 72, grayscale=True)
                try:
                    image = bitmap.to_pil()
                    image = image.copy()  # own the pixels before the bitmap buffer is released
                finally:
                    bitmap.close()
                image.info["dpi"] = (round(dpi), round(dpi))
                return image, None
            except Exception as exc:  # noqa: BLE001 - one page that cannot be drawn is one problem
                return None, _short(exc) or type(exc).__name__
            finally:
                if page is not None:
                    try:
                        page.close()
                    except Exception:  # noqa: BLE001, S110
                        pass

    def close(self) -> None:
        self._opener = None  # never opened: nothing to close
        if self.document is not None:
            with _PDFIUM_LOCK:
                try:
                    self.document.close()
                except Exception:  # noqa: BLE001, S110
                    pass
            self.document = None


def _open(path: Path, options: ReadOptions) -> _Source:
    """Open with pypdf (and PDFium for drawing); PDFium alone when pypdf cannot parse it."""
    reader: pypdf.PdfReader | None = None
    pypdf_error: str | None = None
    password: str | None = None
    try:
        candidate = pypdf.PdfReader(path, strict=False)
        if candidate.is_encrypted:
            password = _unlock(candidate, options)
        if len(candidate.pages) > 0:
            reader = candidate
        else:
            pypdf_error = "no pages found"
    except Quarantine:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure falls back to PDFium
        pypdf_error = _short(exc) or type(exc).__name__

    if reader is not None:
        def opener() -> tuple[Any, str | None]:
            document, pdfium_error, _ = _open_pdfium(path, password, options)
            return document, pdfium_error

        return _Source(reader, None, None, opener)
    document, pdfium_error, err_code = _open_pdfium(path, password, options)
    if document is not None:
        with _PDFIUM_LOCK:
            pages = len(document)
        if pages == 0:
            _close_quietly(document)
            raise Quarantine("empty", "PDF has no pages")
        return _Source(None, document, None)

    # Neither library could open it.
    if err_code == pdfium.raw.FPDF_ERR_PASSWORD:
        raise Quarantine("encrypted", WRONG_PASSWORD_REASON if options.password else ENCRYPTED_REASON)
    if err_code == pdfium.raw.FPDF_ERR_SECURITY:
        raise Quarantine(
            "unsupported",
            "PDF uses a security scheme this engine cannot open: ask for a copy printed to PDF without protection",
        )
    if pypdf_error == "no pages found":
        raise Quarantine("empty", "PDF has no pages")
    raise Quarantine("damaged", f"PDF damaged: {_damage_cause(path, pypdf_error)}; ask for a new copy or rescan")


def _unlock(reader: pypdf.PdfReader, options: ReadOptions) -> str:
    """The password that opens an encrypted PDF (the empty one first), or ``Quarantine``."""
    if reader.decrypt("") != PasswordType.NOT_DECRYPTED:
        return ""
    if not options.password:
        raise Quarantine("encrypted", ENCRYPTED_REASON)
    if reader.decrypt(options.password) != PasswordType.NOT_DECRYPTED:
        return options.password
    raise Quarantine("encrypted", WRONG_PASSWORD_REASON)


def _open_pdfium(path: Path, password: str | None, options: ReadOptions) -> tuple[Any, str | None, int | None]:
    tries: list[str | None] = [password] if password is not None else [None]
    if options.password and options.password not in tries:
        tries.append(options.password)
    error: str | None = None
    err_code: int | None = None
    with _PDFIUM_LOCK:
        for attempt in tries:
            try:
                return pdfium.PdfDocument(str(path), password=attempt or None), None, None
            except Exception as exc:  # noqa: BLE001
                error = _short(exc) or type(exc).__name__
                err_code = getattr(exc, "err_code", None)
    return None, error, err_code


def _close_quietly(document: Any) -> None:
    with _PDFIUM_LOCK:
        try:
            document.close()
        except Exception:  # noqa: BLE001, S110
            pass


def _damage_cause(path: Path, pypdf_error: str | None) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 2048))
            tail = handle.read()
    except OSError as exc:
        return f"the file could not be read ({_short(exc)})"
    if b"%%EOF" not in tail:
        return "the file ends early (it may have been cut short while saving or copying)"
    return f"the file's structure could not be parsed ({pypdf_error})" if pypdf_error else "the file's structure could not be parsed"


# --------------------------------------------------------------------------- dates


def pdf_dates(path: Path, password: str | None = None) -> dict[str, dt.datetime]:
    """The PDF's own ``CreationDate`` and ``ModDate`` (UTC when the file gives a zone).

    The reader records only a reference to these (``Evidence("file_date", "pdf CreationDate")``);
    a later stage that wants the values calls this.
    """
    with _quiet():
        try:
            reader = pypdf.PdfReader(path, strict=False)
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                if not password or reader.decrypt(password) == PasswordType.NOT_DECRYPTED:
                    return {}
            return _metadata_dates(reader)
        except Exception:  # noqa: BLE001
            return {}


def _metadata_dates(reader: pypdf.PdfReader) -> dict[str, dt.datetime]:
    found: dict[str, dt.datetime] = {}
    try:
        metadata = reader.metadata
    except Exception:  # noqa: BLE001
        return found
    if metadata is None:
        return found
    for key, attribute in (("CreationDate", "creation_date"), ("ModDate", "modification_date")):
        try:
            value = _pdf_date(metadata, attribute)
        except Exception:  # noqa: BLE001 - a malformed date is no date
            continue
        if isinstance(value, dt.datetime):
            found[key] = value.astimezone(dt.UTC) if value.tzinfo else value
    return found


def _pdf_date(metadata: DocumentInformation, attribute: str) -> dt.datetime | None:
    """pypdf's ``metadata.creation_date`` (or ``modification_date``): the same value or
    the same ``ValueError``, sooner for the usual dated-with-zone form.

    pypdf tries seven ``strptime`` formats in turn, ending with the one with a zone; a
    date written with its zone ("D:20240305151400-05'00'") failed the six others first,
    raising each time: 0.3 ms of the 4 ms it takes to read a born-digital printout. Only
    ``%z`` reads a sign, so a text with one (after pypdf's own clean-up, repeated here)
    can only match that last format: it is tried alone. Anything else goes to pypdf.
    """
    raw = getattr(metadata, f"{attribute}_raw")
    if isinstance(raw, TextStringObject):
        text: str | None = raw
    elif isinstance(raw, ByteStringObject):
        text = str(raw)
    else:
        text = None
    if not text:
        return getattr(metadata, attribute)
    cleaned = "D:" + text if text[0].isdigit() else text
    if cleaned.endswith(("Z", "z")):
        cleaned += "0000"
    cleaned = cleaned.replace("z", "+").replace("Z", "+").replace("'", "")
    sign = max(cleaned.find("+"), cleaned.find("-"))
    if sign <= 0:
        return getattr(metadata, attribute)
    if sign != len(cleaned) - 5:
        cleaned += "00"
    try:
        value = dt.datetime.strptime(cleaned, "D:%Y%m%d%H%M%S%z")
    except ValueError:
        return getattr(metadata, attribute)  # pypdf's own error (or its reading, if it finds one)
    return value.replace(tzinfo=dt.UTC) if cleaned.endswith("+0000") else value


def _date_evidence(source: _Source) -> list[Evidence]:
    if source.reader is None:
        return []
    return [Evidence("file_date", f"pdf {key}", 0.3) for key in _metadata_dates(source.reader)]


# --------------------------------------------------------------------------- helpers


def is_garbage(text: str) -> bool:
    """A text layer that is mostly not letters, digits, spaces or punctuation (U+FFFD,
    private-use glyphs, symbols left by a font with no Unicode map or a poor earlier OCR)."""
    if not text:
        return False
    good = 0
    for char in text:
        if char.isalnum() or char.isspace():
            good += 1
        elif unicodedata.category(char).startswith("P"):
            good += 1
    return good / len(text) < GOOD_TEXT_RATIO


def _solid(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _clean(text: str) -> str:
    """Page text without form feeds (they separate pages in ``Item.text``) or NULs."""
    return text.replace("\f", "\n").replace("\x00", "").rstrip()


def _pages_phrase(numbers: list[int]) -> str:
    """[3] → "page 3"; [1, 2, 4] → "pages 1–2, 4" (en dash for ranges)."""
    numbers = sorted(set(numbers))
    runs: list[str] = []
    start = previous = numbers[0]
    for number in numbers[1:] + [None]:  # type: ignore[list-item]
        if number is not None and number == previous + 1:
            previous = number
            continue
        runs.append(str(start) if start == previous else f"{start}\u2013{previous}")
        if number is not None:
            start = previous = number
    word = "page" if len(numbers) == 1 else "pages"
    return f"{word} {', '.join(runs)}"


def _detected(count: int, image_pages: int, examined: int) -> str:
    noun = "page" if count == 1 else "pages"
    if image_pages == 0:
        kind = "born-digital"
    elif image_pages == examined:
        kind = "scanned"
    else:
        kind = f"mixed: {image_pages} of {examined} scanned"
    return f"PDF, {count} {noun} ({kind})"


def _short(exc: BaseException, limit: int = 120) -> str:
    text = " ".join(str(exc).split()).rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved_level = logging.NOTSET


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence pypdf's logger (its warnings about every flaw it repairs) and library warnings
    for the duration of a read. Counted, so overlapping reads in threads restore it once."""
    global _quiet_depth, _quiet_saved_level
    logger = logging.getLogger("pypdf")
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved_level = logger.level
            logger.setLevel(logging.CRITICAL)
        _quiet_depth += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                logger.setLevel(_quiet_saved_level)


register(PdfReader())
