"""The image reader: scanned or photographed printouts (PNG, JPEG, TIFF, HEIC, ...).

A staff member who saves a conversation by printing it and scanning or photographing the
paper hands us one image per page, or one multi-page TIFF from an office scanner. The
whole file is one record (design.md, "Record units"): one ``Item`` whose text is the pages'
OCR text separated by form feeds, with each page's confidence, turn and skew kept so the
clerk can see which page was hard to read. Participants and dates are found later, by the
module that reads the text, not here.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError, features

from records.intake.model import Extraction, Item, Page, Quarantine, ReadOptions
from records.intake.ocr import TIMED_OUT, OcrResult, ocr_images, pixel_refusal
from records.intake.registry import Reader, Sniff, register

pillow_heif.register_heif_opener()  # iPhone photos arrive as HEIC

# Formats whose frames are pages. A GIF's or WebP's frames are an animation and an HEIC's
# extra images are thumbnails or bursts: for those only the primary image is the page.
PAGED_FORMATS = frozenset({"TIFF"})

# Pages decoded and OCR'd together: enough to keep every core busy, few enough that a
# 500-page TIFF never sits decoded in memory all at once.
CHUNK_PAGES = 16

_NAMES = {
    "JPEG": "JPEG",
    "MPO": "JPEG",  # a camera JPEG with a second (preview or depth) image
    "PNG": "PNG",
    "TIFF": "TIFF",
    "HEIF": "HEIF/HEIC",
    "WEBP": "WebP",
    "BMP": "BMP",
    "GIF": "GIF",
}


def _supported_mimes() -> frozenset[str]:
    """libmagic's names for the image types this Pillow build can open."""
    mimes = {"image/png", "image/jpeg", "image/tiff", "image/heic", "image/heif", "image/gif"}
    mimes |= {"image/bmp", "image/x-ms-bmp"}  # libmagic's older and newer names
    if features.check("webp"):
        mimes.add("image/webp")
    return frozenset(mimes)


class ImageReader(Reader):
    """Reads raster images of printed pages with OCR."""

    name = "image"
    mimes = _supported_mimes()

    def score(self, sniff: Sniff) -> float:
        return 0.9 if sniff.mime in self.mimes else 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        if sniff.size > options.max_bytes:
            raise Quarantine(
                "too_large", f"image file is {sniff.size / 1e6:.0f} MB, over the limit of {options.max_bytes / 1e6:.0f} MB"
            )
        with _open(sniff) as image:
            kind = _NAMES.get(image.format or "", image.format or "image")
            count = _page_count(image)
            if count > options.max_pages:
                raise Quarantine(
                    "too_large",
                    f"{kind} image has {count} pages, more than the limit of {options.max_pages}; "
                    "split it into smaller files",
                )
            results = _ocr_all(image, count, options)
        pages, problems = _pages(results)
        if all(result.error for result in results):
            raise _unreadable(results)
        text = "\f".join(page.text for page in pages)
        detected = f"{kind} image, {count} page{'s' if count != 1 else ''}"
        item = Item(format="printout-scan", locator=None, text=text, pages=pages)
        return Extraction(reader=self.name, detected=detected, items=[item], problems=problems)


# What Pillow's plugins raise on a damaged file while counting, seeking or decoding pages
# (found by fuzzing: a TIFF page without dimensions raises TypeError, one with an unknown
# compression KeyError); each means the page cannot be read, not a bug of ours.
DAMAGED_IMAGE = (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError, ZeroDivisionError, struct.error)


def _open(sniff: Sniff) -> Image.Image:
    """Open lazily (header only); a file Pillow cannot make sense of is damaged.

    Pages are held to ``options.max_pixels`` in ``_frames``, before any decoding. Pillow's
    own decompression-bomb guard (a process-wide setting, left as it is) stays behind that
    as a backstop: its warning is silenced, and an image beyond its hard limit (about 179
    megapixels) is refused here as too large whatever ``max_pixels`` says.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(sniff.path)
    except Image.DecompressionBombError as exc:
        raise Quarantine("too_large", f"image too large to open safely: {exc}; rescan at 300 dpi") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Quarantine("damaged", _damaged(exc)) from exc


def _damaged(exc: BaseException) -> str:
    said = " ".join(str(exc).split()) or type(exc).__name__
    return f"image damaged: {said}; rescan the page"


def _page_count(image: Image.Image) -> int:
    """Pages in the file; counting walks a TIFF's chain of page directories, which a
    damaged file may break."""
    if image.format not in PAGED_FORMATS:
        return 1
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except DAMAGED_IMAGE as exc:
        raise Quarantine("damaged", _damaged(exc)) from exc


def _ocr_all(image: Image.Image, count: int, options: ReadOptions) -> list[OcrResult]:
    """Decode and OCR the pages a chunk at a time; a page that does not decode fails alone."""
    results: list[OcrResult] = []
    chunk: list[tuple[int, Image.Image | OcrResult]] = []
    for number, page in _frames(image, count, options):
        chunk.append((number, page))
        if len(chunk) == CHUNK_PAGES:
            results.extend(_ocr_chunk(chunk, options))
            chunk = []
    if chunk:
        results.extend(_ocr_chunk(chunk, options))
    return results


def _frames(image: Image.Image, count: int, options: ReadOptions) -> Iterator[tuple[int, Image.Image | OcrResult]]:
    """Each page, decoded and turned by its EXIF orientation, or a failed result.

    A page over ``max_pixels`` refuses the whole file: it is the limit hostile input meets,
    and a clerk should rescan rather than get a partial record silently missing a page.
    """
    for index in range(count):
        try:
            image.seek(index)
        except DAMAGED_IMAGE as exc:
            yield index + 1, OcrResult("", 0.0, error=_damaged(exc))
            continue
        refusal = pixel_refusal(image, options.max_pixels)
        if refusal:
            where = f"page {index + 1}: " if count > 1 else ""
            raise Quarantine("too_large", where + refusal)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                page = ImageOps.exif_transpose(image.copy())
        except (*DAMAGED_IMAGE, Image.DecompressionBombError) as exc:
            if count == 1:
                raise Quarantine("damaged", _damaged(exc)) from exc
            yield index + 1, OcrResult("", 0.0, error=_damaged(exc))
            continue
        yield index + 1, page


def _ocr_chunk(chunk: list[tuple[int, Image.Image | OcrResult]], options: ReadOptions) -> list[OcrResult]:
    images = [page for _, page in chunk if isinstance(page, Image.Image)]
    read = iter(ocr_images(images, options))
    return [page if isinstance(page, OcrResult) else next(read) for _, page in chunk]


def _pages(results: list[OcrResult]) -> tuple[list[Page], list[str]]:
    pages: list[Page] = []
    problems: list[str] = []
    for number, result in enumerate(results, start=1):
        pages.append(
            Page(
                number=number,
                text=result.text,
                ocr=True,
                confidence=result.confidence,
                rotation=result.rotation,
                skew=result.skew,
            )
        )
        if result.error:
            problems.append(f"page {number}: {result.error}")
    return pages, problems


def _unreadable(results: list[OcrResult]) -> Quarantine:
    """No page could be read. Every page timing out is a ``timeout`` (a retry with more
    time may succeed); anything else is ``damaged``."""
    errors = [result.error or "" for result in results]
    first = errors[0] if len(errors) == 1 else "; ".join(f"page {n}: {e}" for n, e in enumerate(errors[:3], start=1))
    more = f" (and {len(errors) - 3} more pages)" if len(errors) > 3 else ""
    if all(error.startswith(TIMED_OUT) for error in errors):
        return Quarantine(
            "timeout", f"no page could be read: {first}{more}; retry with a longer OCR timeout or rescan at 300 dpi"
        )
    return Quarantine("damaged", f"no page could be read: {first}{more}; rescan the pages")


register(ImageReader())
