"""Page previews: one page of a stored printout (PDF or image) drawn as a small PNG.

A plain function over the content's bytes (no database): the web app reads the record's
content through ``storage.record_views.read_content`` (an audited view) and draws it here.
The original is never changed; previews are drawn on demand and never stored.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from records.errors import NotFound, UsageError

PREVIEW_WIDTH = 900  # pixels: readable on a screen, small to send
MAX_PIXELS = 60_000_000  # never decode a page bigger than this (a hostile file)


def _png(image: Image.Image, width: int) -> bytes:
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def _pdf_page(data: bytes, number: int, width: int) -> bytes:
    import pypdfium2 as pdfium

    from records.intake.readers.pdf import PDFIUM_LOCK

    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise UsageError(f"the stored PDF cannot be drawn: {exc}") from None
        try:
            if not 1 <= number <= len(document):
                raise NotFound(f"the record has no page {number}")
            page = document[number - 1]
            try:
                page_width, _ = page.get_size()
                scale = min(width / page_width if page_width > 0 else 1.0, 4.0)
                bitmap = page.render(scale=scale)
                try:
                    image = bitmap.to_pil().copy()
                finally:
                    bitmap.close()
            finally:
                page.close()
        finally:
            document.close()
    return _png(image, width)


def _image_page(data: bytes, number: int, width: int) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (OSError, Image.DecompressionBombError) as exc:
            raise UsageError(f"the stored image cannot be drawn: {exc}") from None
        frames = getattr(image, "n_frames", 1)
        if not 1 <= number <= frames:
            raise NotFound(f"the record has no page {number}")
        image.seek(number - 1)
        if image.width * image.height > MAX_PIXELS:
            raise UsageError("the page is too large to preview; read its text instead")
        image.load()
        return _png(image, width)


def page_png(data: bytes, number: int, width: int = PREVIEW_WIDTH) -> bytes:
    """Page ``number`` (from 1) of a PDF or image printout, as PNG bytes ``width`` wide at most."""
    if data[:1024].find(b"%PDF-") >= 0:
        return _pdf_page(data, number, width)
    return _image_page(data, number, width)
