"""OCR of printout images with Tesseract: clean the page up, turn it upright, read it.

Staff save conversations by printing them and scanning or photographing the paper, so the
images arrive at any resolution, lit unevenly, a little crooked, sometimes sideways or
upside down, as 1-bit fax-like scans or as lossy JPEGs. Tesseract reads clean, upright,
~300 dpi text very well and everything else much worse, so each page goes through:

1. grayscale (alpha flattened onto white paper, 16-bit scaled down);
2. even lighting: divide by a heavily blurred estimate of the paper, so the shadow of a
   phone photo does not turn into black blobs when Tesseract binarises (a dark-mode
   screenshot is inverted first); then a 3x3 median only if the page is speckled;
3. orientation: Tesseract's OSD says 0/90/180/270; where it cannot decide (too little
   text), the direction of the text lines picks 0/180 or 90/270, both are read and the
   more confident reading wins;
4. skew and text size, measured together on a small binarised copy with a projection
   profile (numpy only): the angle at which the rows of ink line up best is the skew,
   and the height of the dense band of each row is the x-height;
5. one upscale that brings small text to a ~300 dpi x-height, then one rotation that
   removes the skew (white fill);
6. Tesseract's words and their confidences (LSTM engine, automatic page segmentation,
   which keeps columns and message bubbles apart), from an engine kept loaded in a child
   process (``tesseract_engine``: no model load per page, killed at the page's deadline);
   the text is rebuilt line by line from Tesseract's block/paragraph/line numbers, and a
   lone "|" before a lowercase word is put back as the pronoun "I" (sans-serif print
   makes them the same stroke).

A blank page (a separator sheet, the back of a duplex scan) skips Tesseract altogether.

``ocr_images`` spreads pages over processes (one Tesseract per core with
``OMP_THREAD_LIMIT=1``: OpenMP threads fighting over two cores made a page 7x slower, see
prefect-notes.md) and turns each page's failure into a result with ``error`` set, so one
bad page never sinks its file. Nothing here touches the catalog or Prefect (design.md,
"Layers").
"""

from __future__ import annotations

import io
import logging
import math
import multiprocessing
import os
import re
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from records.intake.model import ReadOptions
from records.intake.tesseract_engine import EngineFailed, EngineTimeout, TesseractMissing, engine

_log = logging.getLogger(__name__)

TIMED_OUT = "OCR timed out"  # start of ``OcrResult.error`` when a page ran out of time

TARGET_X_HEIGHT = 22.0  # px; Tesseract reads printed text well from here up (11 pt at ~250 dpi)
MIN_X_HEIGHT = 16.0  # below this the page is upscaled to TARGET_X_HEIGHT
MAX_UPSCALE = 4.0  # beyond this an upscaled image only adds blur and time
MAX_WORKING_PIXELS = 60_000_000  # an upscaled page never grows past this (~ letter at 800 dpi)
SKEW_RANGE = 5.0  # degrees searched either way; larger tilts are not scanner skew
SPECKLE_LIMIT = 0.0005  # lone ink pixels per page pixel above which the page is despeckled
EVEN_PAPER = 240  # paper estimate this bright everywhere: lighting is even, no division
BLANK_INK_PIXELS = 30  # dark pixels (of a 1600 px copy) below which a page is blank
MIN_SKEW = 0.1  # degrees; smaller corrections cost a resampling and gain nothing
OSD_MIN_CONFIDENCE = 5.0  # Tesseract's orientation_conf below which OSD is checked by reading
SURE_UPRIGHT = 0.80  # when OSD failed, a reading this confident is upright (turned: 0.35-0.6)
# The resolution Tesseract is told for every page: after the upscale, text has the x-height
# of a ~300 dpi scan whatever the file's own dpi says (or fails to say).
RESOLUTION = 300


@dataclass(frozen=True)
class OcrResult:
    """What OCR made of one page.

    ``rotation`` is the clockwise turn (0/90/180/270) that made the page upright and
    ``skew`` the small correction in degrees (counter-clockwise positive) applied after it,
    so a reviewer can reproduce the image Tesseract saw. ``error`` is a short reason when
    the page could not be read; the text is then empty and the confidence 0.
    """

    text: str
    confidence: float  # mean word confidence, 0 to 1
    rotation: int = 0
    skew: float = 0.0
    error: str | None = None


class _Deadline:
    """One time budget shared by every Tesseract call for a page.

    A page may need OSD and up to two readings; the caller's ``timeout`` is for the page,
    not for each call, so each call gets what is left.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return max(remaining, 0.5)  # a call always gets a moment, never "no limit"


# -- the single page --------------------------------------------------------------------


def ocr_image(image: Image.Image, timeout: int = 180) -> OcrResult:
    """OCR one page image, returning an ``OcrResult`` with ``error`` set on timeout or a
    Tesseract failure (a missing Tesseract installation still raises: that is not the
    page's fault and must not quarantine it)."""
    deadline = _Deadline(timeout)
    try:
        return _read_page(image, deadline)
    except TimeoutError:  # EngineTimeout included
        return _failed(f"{TIMED_OUT} after {timeout} s")
    except EngineFailed as exc:
        return _failed(f"OCR failed: {_short(str(exc))}")


def _read_page(image: Image.Image, deadline: _Deadline) -> OcrResult:
    """Clean the page, then read it upright: at OSD's turn when OSD is sure, else at up to
    two candidate turns, keeping the more confident reading."""
    gray = despeckle(even_lighting(to_gray(image)))
    glance = _Glance.of(gray)  # one small binarised copy serves every measurement below
    if glance.blank:
        return OcrResult("", 0.0)  # a separator sheet or the back of a duplex scan
    # Most pages arrive upright: read them as they are first, and pay for orientation
    # detection (a whole extra Tesseract pass) only when that reading is not confident.
    best = _read_turned(gray, 0, deadline, glance) if not lines_run_vertically(gray, glance) else None
    if best is not None and best.confidence >= SURE_UPRIGHT:
        return best
    turn, sure = _orientation(gray, deadline)
    for candidate in [turn] if sure else _fallback_turns(gray, turn, glance):
        if candidate == 0 and best is not None:
            continue
        result = _read_turned(gray, candidate, deadline)
        if best is None or result.confidence > best.confidence:
            best = result
        if best.confidence >= SURE_UPRIGHT:
            break  # a reading this confident is upright; the other turn only reads mirror-garbage
    assert best is not None
    return best


def _read_turned(gray: Image.Image, turn: int, deadline: _Deadline, glance: _Glance | None = None) -> OcrResult:
    """Turn, deskew and upscale as measured, then recognise.

    ``glance`` is the unturned page's small copy, reused at turn 0 (measuring it again
    cost as much as the measurement itself); a turned page is measured afresh.
    """
    upright = _turn(gray, turn)
    skew, x_height = measure_skew_and_x_height(upright, glance if turn == 0 else None)
    ready = _straighten(upright, skew, _upscale_factor(x_height, upright.size))
    text, confidence = _recognise(ready, deadline)
    return OcrResult(text, confidence, turn, skew if abs(skew) >= MIN_SKEW else 0.0)


def _fallback_turns(gray: Image.Image, osd_guess: int, glance: _Glance | None = None) -> list[int]:
    """The two turns worth reading when OSD could not decide, OSD's guess first.

    Which pair is decided by the direction of the text lines (a cheap projection test):
    lines across the page mean upright or upside down (0/180), lines along it mean
    sideways (90/270). An upside-down reading comes back as low-confidence nonsense, so
    comparing confidences settles the pair.
    """
    pair = [90, 270] if lines_run_vertically(gray, glance) else [0, 180]
    return sorted(pair, key=lambda turn: turn != osd_guess)


def _failed(reason: str) -> OcrResult:
    return OcrResult(text="", confidence=0.0, error=reason)


def _short(message: str, limit: int = 160) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- pixels -----------------------------------------------------------------------------


def to_gray(image: Image.Image) -> Image.Image:
    """8-bit grayscale: transparency becomes white paper, 16-bit depth is scaled down.

    Pillow's ``convert("L")`` drops alpha (transparent text on a screenshot turns black on
    black) and clips 16-bit scans to white, so those modes are handled first.
    """
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.full_like(values, 255.0)
        return Image.fromarray(scaled.astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image if image.mode == "L" else image.convert("L")


def even_lighting(gray: Image.Image) -> Image.Image:
    """Divide the page by an estimate of the bare paper.

    A phone photo is bright near the window and dark at the far edge; Tesseract's global
    threshold then loses the dark half. The paper is estimated on a copy shrunk 16 times:
    a max filter removes the text (dark on light), a blur smooths what is left, and the
    division makes paper white everywhere while ink keeps its contrast. Pages that are
    mostly dark (a dark-mode screenshot) are inverted first so the same rule holds.

    The estimate costs next to nothing; the full-size division is most of the step's time
    and changes nothing on a scanner's evenly lit page (paper is white everywhere, so
    every pixel is divided by about 255), so it runs only where some of the paper is
    darker than ``EVEN_PAPER``: a phone photo's shadow is 100 to 130.
    """
    if float(np.median(np.asarray(gray.reduce(4) if min(gray.size) >= 8 else gray))) < 96:
        gray = ImageOps.invert(gray)
    factor = 16
    small_size = (max(1, gray.width // factor), max(1, gray.height // factor))
    small = gray.resize(small_size, Image.Resampling.BOX)
    paper = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(3))
    if paper.getextrema()[0] >= EVEN_PAPER:
        return gray
    background = np.asarray(paper.resize(gray.size, Image.Resampling.BILINEAR), dtype=np.uint16)
    # Integer arithmetic (255 * 255 fits in 16 bits) keeps a 120-megapixel page under 1 GB.
    even = np.asarray(gray, dtype=np.uint16) * np.uint16(255)
    even //= np.maximum(background, np.uint16(1))
    np.minimum(even, 255, out=even)
    return Image.fromarray(even.astype(np.uint8), "L")


def despeckle(gray: Image.Image) -> Image.Image:
    """Remove salt-and-pepper specks, but only from a page that has them.

    Tesseract reads scattered dots as punctuation and splits words around them. A 3x3
    median filter removes them, and also thins strokes a little, so it runs only when
    lone ink pixels (at most one inked neighbour) are more than ``SPECKLE_LIMIT`` of the
    page: a clean scan, even at 150 dpi, has next to none. Dust falls evenly over the
    sheet, so the count is taken on every fourth band of 32 rows (a quarter of the page,
    a quarter of the time).
    """
    pixels = np.asarray(gray, dtype=np.uint8)
    height = pixels.shape[0]
    if height >= 256:
        bands = height // 32
        pixels = pixels[: bands * 32].reshape(bands, 32, -1)[::4].reshape(-1, pixels.shape[1])
    ink = pixels < otsu_threshold(gray)
    if lone_ink_fraction(ink) <= SPECKLE_LIMIT:
        return gray
    return gray.filter(ImageFilter.MedianFilter(3))


def is_blank(gray: Image.Image) -> bool:
    """No ink at all on an evenly lit page: skip Tesseract (three calls for nothing)."""
    return _Glance.of(gray).blank


class _Glance:
    """The page shrunk to at most 1600 px, binarised: what every measurement looks at.

    Blankness, line direction, skew and x-height all used to shrink and binarise the page
    on their own, which together cost as much as the measurements; one copy serves them.
    Shrinking with a box filter averages isolated speckles away before Otsu's threshold.
    ``blank`` is counted on the shrunk copy, where a single printed "I" is still ~40 dark
    pixels; Otsu is not used for it because on bare paper it splits the paper's own grain.
    """

    def __init__(self, small: Image.Image, shrink: float) -> None:
        pixels = np.asarray(small, dtype=np.uint8)
        self.shrink = shrink
        self.blank = int(np.count_nonzero(pixels < 128)) < BLANK_INK_PIXELS
        self.ink = pixels < otsu_threshold(small)
        self._coordinates: tuple[np.ndarray, np.ndarray] | None = None

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the ink pixels (found once: both searches use them).

        The same arrays as ``np.nonzero``, from the flat indices: ``np.nonzero`` of a 2-D
        mask took 4.5 ms a page, the flat search and a division 0.5 ms.
        """
        if self._coordinates is None:
            rows, cols = np.divmod(np.flatnonzero(self.ink), self.ink.shape[1])
            self._coordinates = (rows, cols)
        return self._coordinates

    @classmethod
    def of(cls, gray: Image.Image) -> _Glance:
        return cls(*_shrunk(gray))


def lone_ink_fraction(ink: np.ndarray) -> float:
    """Share of the page's pixels that are ink with at most one inked neighbour.

    The 3x3 neighbourhood sum is taken as a row sum then a column sum (four additions
    over the page instead of eight).
    """
    if not ink.size:
        return 0.0
    padded = np.pad(ink.view(np.uint8), 1)
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    block = rows[:-2] + rows[1:-1] + rows[2:]  # the 3x3 sum, the pixel itself included
    return np.count_nonzero(ink & (block <= 2)) / ink.size


def _turn(image: Image.Image, clockwise: int) -> Image.Image:
    """Turn by a quarter turn multiple, losslessly (transpose, not resampling)."""
    turns = {
        90: Image.Transpose.ROTATE_270,  # Pillow names turns counter-clockwise
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_90,
    }
    return image.transpose(turns[clockwise]) if clockwise in turns else image


def _upscale_factor(x_height: float | None, size: tuple[int, int]) -> float:
    """How much to enlarge so small text reaches Tesseract's comfortable x-height.

    Never shrinks (large text reads fine) and never grows past ``MAX_WORKING_PIXELS``.
    """
    if x_height is None or x_height >= MIN_X_HEIGHT:
        return 1.0
    factor = min(TARGET_X_HEIGHT / max(x_height, 1.0), MAX_UPSCALE)
    room = math.sqrt(MAX_WORKING_PIXELS / max(1, size[0] * size[1]))
    return max(1.0, min(factor, room))


def _straighten(image: Image.Image, skew: float, scale: float) -> Image.Image:
    """Upscale, then undo the skew, filling the exposed corners with white paper."""
    if scale > 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if abs(skew) >= MIN_SKEW:
        image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return image


# -- skew and text size -----------------------------------------------------------------


def measure_skew_and_x_height(gray: Image.Image, glance: _Glance | None = None) -> tuple[float, float | None]:
    """The skew (degrees, counter-clockwise turn that straightens the page) and the
    x-height (pixels of ``gray``), from one projection-profile search.

    Text lines are dense horizontal bands of ink: when the page is turned by the right
    angle, projecting ink onto the vertical axis gives tall narrow peaks, and the sum of
    squares of that profile is largest. The search shears the ink coordinates of a small
    binarised copy instead of rotating the image, which for ±5° is the same to within a
    pixel and is a single ``bincount`` per angle. The width of the dense part of each peak
    is the x-height, used to decide whether to upscale. ``None`` when there is too little
    ink to tell (a blank page).
    """
    glance = glance or _Glance.of(gray)
    shrink = glance.shrink
    ys, xs = glance.coordinates()
    if ys.size < 500:
        return 0.0, None
    if ys.size > 400_000:  # a sample is as good as all the ink for finding an angle
        pick = np.random.default_rng(0).choice(ys.size, 400_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - xs.mean()
    coarse = np.arange(-SKEW_RANGE, SKEW_RANGE + 1e-9, 0.25)
    best = _best_angle(ys, xs, coarse)
    fine = np.arange(best - 0.3, best + 0.3 + 1e-9, 0.02)
    best = _best_angle(ys, xs, fine)
    profile = _profile(ys, xs, best)
    x_height = _x_height(profile)
    return round(float(best), 2), (x_height / shrink if x_height else None)


def lines_run_vertically(gray: Image.Image, glance: _Glance | None = None) -> bool:
    """Whether the text lines run top to bottom (the page is lying on its side).

    Compares how concentrated the ink is when projected onto rows and onto columns, each
    relative to ink spread evenly along that side of the page (sum of squares times the
    side's length over total squared: 1 for no structure, large for a few dense lines),
    over the same ±5° search as the skew.
    """
    glance = glance or _Glance.of(gray)
    ink = glance.ink
    ys, xs = glance.coordinates()
    if ys.size < 500:
        return False
    angles = np.arange(-SKEW_RANGE, SKEW_RANGE + 1e-9, 0.5)
    height, width = ink.shape
    across = _concentration(ys.astype(np.float64), xs - xs.mean(), angles, height)
    along = _concentration(xs.astype(np.float64), ys - ys.mean(), angles, width)
    return along > across


def _concentration(rows: np.ndarray, cols: np.ndarray, angles: np.ndarray, side: int) -> float:
    best = 0.0
    for angle in angles:
        profile = _profile(rows, cols, float(angle)).astype(np.float64)
        best = max(best, float(np.square(profile).sum()) * side / float(profile.sum()) ** 2)
    return best


def _shrunk(gray: Image.Image, long_side: int = 1600) -> tuple[Image.Image, float]:
    """A box-filtered copy no longer than ``long_side``: measuring needs no more pixels."""
    shrink = min(1.0, long_side / max(gray.size))
    if shrink == 1.0:
        return gray, 1.0
    size = (max(1, round(gray.width * shrink)), max(1, round(gray.height * shrink)))
    return gray.resize(size, Image.Resampling.BOX), shrink


def otsu_threshold(gray: Image.Image) -> int:
    """Otsu's threshold: the gray level that best splits ink from paper.

    Counted with Pillow's histogram over every other pixel of every other row of a large
    page: the split between ink and paper is the same in a quarter of the pixels, and
    ``np.bincount`` over the whole page (which widened each pixel to 64 bits) cost 20 ms.
    """
    if gray.width * gray.height > 1_000_000:
        gray = gray.resize((gray.width // 2, gray.height // 2), Image.Resampling.NEAREST)
    return _otsu_from_counts(gray.histogram())


def _otsu_from_counts(histogram: list[int]) -> int:
    counts = np.asarray(histogram[:256], dtype=np.float64)
    total = counts.sum()
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(counts)
    weight_light = total - weight_dark
    sum_dark = np.cumsum(counts * levels)
    mean_dark = sum_dark / np.maximum(weight_dark, 1e-9)
    mean_light = (sum_dark[-1] - sum_dark) / np.maximum(weight_light, 1e-9)
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between)) + 1


def _profile(ys: np.ndarray, xs: np.ndarray, degrees: float) -> np.ndarray:
    """Ink per row after turning the page counter-clockwise by ``degrees`` (as a shear)."""
    rows = ys - xs * math.tan(math.radians(degrees))
    return np.bincount(np.round(rows - rows.min()).astype(np.int64))


def _best_angle(ys: np.ndarray, xs: np.ndarray, angles: np.ndarray) -> float:
    scores = [float(np.square(_profile(ys, xs, float(a)).astype(np.float64)).sum()) for a in angles]
    return float(angles[int(np.argmax(scores))])


def _x_height(profile: np.ndarray) -> float | None:
    """Median height of the dense bands of a straightened profile.

    Within a text line the rows between baseline and x-height hold most of the ink; a cut
    at half of a typical line's peak keeps just that band.
    """
    if profile.size == 0 or profile.max() == 0:
        return None
    peak = float(np.percentile(profile[profile > 0], 90))
    # 0.3 of a typical peak keeps the whole x-height band; at 0.5 only the rows of the
    # tops and feet of letters pass, which read as a third of the real height and made
    # every page look tiny (and be upscaled four times, costing five times the OCR time).
    dense = profile >= 0.3 * peak
    edges = np.diff(np.concatenate(([0], dense.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    heights = (ends - starts)[(ends - starts) >= 2]
    return float(np.median(heights)) if heights.size else None


# -- Tesseract --------------------------------------------------------------------------


def _orientation(gray: Image.Image, deadline: _Deadline) -> tuple[int, bool]:
    """OSD's clockwise turn (0/90/180/270) to make the page upright, and whether it is sure.

    OSD needs a fair amount of text: on a page of a few words it fails ("Too few
    characters") or answers with a low ``orientation_conf``; the caller then compares
    readings instead of trusting it. A full printed page scores 10 to 20.
    """
    try:
        with engine() as tesseract:
            found = tesseract.orientation(gray, RESOLUTION, deadline.left())
    except EngineFailed:
        return 0, False  # the readings that follow decide, as when OSD is unsure
    if found is None:
        return 0, False
    rotate, confidence = found
    return rotate, confidence >= OSD_MIN_CONFIDENCE


def _recognise(image: Image.Image, deadline: _Deadline) -> tuple[str, float]:
    """Words with confidences from Tesseract, rebuilt into lines; mean confidence 0..1."""
    with engine() as tesseract:
        data = tesseract.recognise(image, RESOLUTION, deadline.left())
    return layout_text(data)


def layout_text(data: dict[str, list]) -> tuple[str, float]:
    """Text with Tesseract's line breaks, and the mean word confidence (0..1).

    Words of one (block, paragraph, line) share a line; a new paragraph starts a new line
    and a new block leaves a blank line, which keeps headers, columns and message bubbles
    apart for the readers and matchers downstream.
    """
    lines: list[tuple[tuple[int, int, int], list[str]]] = []
    confidences: list[float] = []
    for level, block, par, line, word, conf in zip(
        data["level"], data["block_num"], data["par_num"], data["line_num"], data["text"], data["conf"], strict=False
    ):
        word = str(word).strip()
        if int(level) != 5 or not word:
            continue
        key = (int(block), int(par), int(line))
        if not lines or lines[-1][0] != key:
            lines.append((key, []))
        lines[-1][1].append(word)
        if float(conf) >= 0:
            confidences.append(float(conf))
    out: list[str] = []
    for index, (key, words) in enumerate(lines):
        if index:
            out.append("\n\n" if key[0] != lines[index - 1][0][0] else "\n")
        out.append(" ".join(pronoun_i(words)))
    confidence = sum(confidences) / len(confidences) / 100.0 if confidences else 0.0
    return "".join(out), round(confidence, 4)


_BAR_CONTRACTION = re.compile(r"^\|(['\u2019](?:m|ll|d|ve))$")


def pronoun_i(words: list[str]) -> list[str]:
    """Put back the pronoun "I" that Tesseract reads as a bar in sans-serif print.

    In Arial, Roboto or DejaVu Sans a capital I is a plain vertical stroke, and the LSTM
    model often answers "|", costing every "I would ..." in a printed email or chat. Only
    a lone "|" followed by a lowercase word ("| would", "| hope") or a bar contraction
    ("|'m", "|'ll") is changed: a menu separator ("Reply | Forward") stays as it is.
    """
    fixed = list(words)
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == "|" and following[:1].islower():
            fixed[index] = "I"
        elif _BAR_CONTRACTION.match(word):
            fixed[index] = "I" + word[1:]
    return fixed


# -- many pages -------------------------------------------------------------------------


def ocr_images(images: list[Image.Image], options: ReadOptions) -> list[OcrResult]:
    """OCR pages in parallel processes, one result per page in order, never raising for a page.

    One page is read here, without the cost of starting a pool. More pages go to a process
    pool (``options.ocr_workers``, 0: one per core) whose workers run Tesseract with
    ``OMP_THREAD_LIMIT=1``; pages travel as PNG bytes, which pickle small and safely. A page
    larger than ``options.max_pixels`` is refused, not decoded further.
    """
    results: list[OcrResult | None] = [None] * len(images)
    work: list[tuple[int, Image.Image]] = []
    for index, image in enumerate(images):
        refusal = pixel_refusal(image, options.max_pixels)
        if refusal:
            results[index] = _failed(refusal)
        else:
            work.append((index, image))
    workers = min(options.ocr_workers or os.cpu_count() or 1, len(work))
    if workers <= 1 or multiprocessing.current_process().daemon:
        # A daemonic process (a multiprocessing worker itself) may not start children.
        for index, image in work:
            results[index] = _guarded(image, options.ocr_timeout_seconds)
    else:
        for index, result in _in_pool(work, workers, options.ocr_timeout_seconds, options.max_pixels):
            results[index] = result
    return [r if r is not None else _failed("OCR failed: no result") for r in results]


def pixel_refusal(image: Image.Image, max_pixels: int) -> str | None:
    """A clerk-readable reason when a page image is larger than the configured limit."""
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return None
    return (
        f"page image too large: {image.width} x {image.height} px ({pixels / 1e6:.3g} megapixels), "
        f"over the limit of {max_pixels / 1e6:.3g} megapixels; rescan at 300 dpi"
    )


def _guarded(image: Image.Image, timeout: int) -> OcrResult:
    """``ocr_image`` that turns any page-level failure into a failed result."""
    try:
        return ocr_image(image, timeout)
    except TesseractMissing:
        raise
    except Exception as exc:  # noqa: BLE001 - one page's surprise must not sink the file
        return _failed(f"OCR failed: {type(exc).__name__}: {_short(str(exc))}")


def _in_pool(
    work: list[tuple[int, Image.Image]], workers: int, timeout: int, max_pixels: int
) -> list[tuple[int, OcrResult]]:
    """Run pages in a spawned process pool; a crashed or hung worker fails only its pages.

    ``spawn`` rather than ``fork``: the caller may be a threaded Prefect worker or web
    server, and forking a threaded process can deadlock the child. Spawned workers import
    the caller's main module, so a script calling this must keep its work under
    ``if __name__ == "__main__":``; when workers cannot start at all, the pages are read
    here one by one instead (with a warning) rather than all failing.

    At most two pages per worker are in flight, so a 500-page batch never holds 500 PNGs.
    Each page enforces its own Tesseract timeout; the pool adds a margin for anything else.
    """
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(max_pixels,)
    )
    window = 2 * workers
    allowance = (window // workers + 1) * timeout + 60  # queue wait plus its own run
    done: list[tuple[int, OcrResult]] = []
    try:
        if not _pool_starts(executor):
            _log.warning("OCR worker processes could not start; reading %d pages in this process", len(work))
            return [(index, _guarded(image, timeout)) for index, image in work]
        pending: deque[tuple[int, Future, float]] = deque()
        for index, image in work:
            pending.append((index, executor.submit(_ocr_png, _to_png(image), timeout), time.monotonic() + allowance))
            if len(pending) >= window:
                done.append(_collect(*pending.popleft(), timeout))
        while pending:
            done.append(_collect(*pending.popleft(), timeout))
    finally:
        _stop(executor)
    return done


def _pool_starts(executor: ProcessPoolExecutor) -> bool:
    """Whether a worker can start and answer (it cannot when the caller's main module
    starts work at import, or the system refuses new processes)."""
    try:
        return executor.submit(_ready).result(timeout=120) is True
    except (BrokenProcessPool, TimeoutError, OSError):
        return False


def _ready() -> bool:
    return True


def _collect(index: int, future: Future, deadline: float, timeout: int) -> tuple[int, OcrResult]:
    """One page's result, or a failed result saying why there is none."""
    try:
        return index, future.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        future.cancel()
        return index, _failed(f"{TIMED_OUT} after {timeout} s")
    except BrokenProcessPool:
        return index, _failed("OCR failed: the OCR process stopped unexpectedly (out of memory?)")
    except TesseractMissing:
        raise
    except Exception as exc:  # noqa: BLE001 - one page's surprise must not sink the file
        return index, _failed(f"OCR failed: {type(exc).__name__}: {_short(str(exc))}")


def _stop(executor: ProcessPoolExecutor) -> None:
    """Shut the pool down without waiting for a hung worker.

    Python 3.11 has no public way to kill a pool's workers; ``_processes`` is read
    defensively so a worker stuck past every deadline is still ended.
    """
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


def _init_worker(max_pixels: int) -> None:
    """One Tesseract thread per worker; Pillow's bomb guard set to the limit the parent
    already enforced, so a page the options allow is not refused a second time here."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    Image.MAX_IMAGE_PIXELS = max_pixels


def _to_png(image: Image.Image) -> bytes:
    """PNG bytes of the page, grayscale already (a third of the bytes of RGB to pickle)."""
    buffer = io.BytesIO()
    to_gray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _ocr_png(png: bytes, timeout: int) -> OcrResult:
    """The worker's side: decode the page and read it."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return _guarded(image, timeout)
