"""Tesseract kept loaded in a child process, one page at a time.

Why resident: the ``tesseract`` command loads its language model and starts a process for
every page, about 80 ms of the 380 ms it spent on a 200 dpi printout here; tesserocr keeps
the model loaded between pages (240 ms for the same page).

Why in a child process rather than tesserocr in the caller: Tesseract's own time limit
covers recognition only. Its layout analysis of a hostile page (dense noise within the
pixel limit) ran for minutes with a 2-second limit set. A child can be killed at the
page's deadline, as pytesseract killed the command, and a crash in Tesseract's C++ ends
the child, not the reader. The child also watches its parent and ends when the parent is
gone, so a killed pool worker leaves no Tesseract running on.

The protocol is frames on the child's stdin and stdout: a 4-byte big-endian length and a
JSON header, followed (parent to child) by the page's 8-bit grayscale pixels. The
child's own stdout is moved to stderr first, so a stray message printed by Tesseract's
C++ cannot corrupt a frame.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import selectors
import shutil
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child process needs no Pillow: it starts faster without it
    from PIL import Image

STARTUP_SECONDS = 60.0  # a cold start imports tesserocr and loads the model: ~0.2 s warm
REPLY_GRACE = 2.0  # seconds past the page's deadline before the child is killed
_LENGTH = struct.Struct(">I")
_ENGLISH_DATA_HELP = "install Tesseract's English data (apt-get install tesseract-ocr tesseract-ocr-eng)"


class TesseractMissing(RuntimeError):
    """Tesseract cannot run on this machine at all: the installation's fault, not the page's.

    Readers let it through (nothing is quarantined; the flow's retry or the operator's
    fix applies), where a failed page only marks that page.
    """


class EngineFailed(RuntimeError):
    """The engine could not read this page: Tesseract refused it or its process died."""


class EngineTimeout(TimeoutError):
    """The page's time ran out inside Tesseract."""


# -- the parent's side ------------------------------------------------------------------


class Engine:
    """One resident Tesseract: a child process that reads pages sent to it."""

    def __init__(self) -> None:
        self._owner = os.getpid()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_child_environment(),
            )
        except OSError as exc:
            raise TesseractMissing(f"the OCR engine process could not start: {exc}") from exc
        try:
            hello = self._ask({"op": "hello"}, b"", STARTUP_SECONDS)
        except (EngineFailed, EngineTimeout) as exc:
            self.close()
            raise TesseractMissing(f"the OCR engine did not start ({exc}); {_ENGLISH_DATA_HELP}") from exc
        if "missing" in hello:
            self.close()
            raise TesseractMissing(str(hello["missing"]))
        self.version = str(hello.get("version", ""))
        self.tessdata = str(hello.get("tessdata", ""))
        global _tessdata
        _tessdata = _tessdata or self.tessdata
        _running.add(self)

    def recognise(self, image: Image.Image, dpi: int, seconds: float) -> dict[str, list[str]]:
        """Tesseract's words as ``image_to_data`` gives them: columns of the TSV output."""
        reply = self._ask_page("read", image, dpi, seconds)
        return _columns(str(reply.get("tsv", "")))

    def orientation(self, image: Image.Image, dpi: int, seconds: float) -> tuple[int, float] | None:
        """OSD's clockwise turn to upright and its confidence; ``None`` when OSD found too
        little text to decide."""
        found = self._ask_page("osd", image, dpi, seconds).get("osd")
        if not found:
            return None
        # OSD reports how far the text is turned counter-clockwise; undoing that is the
        # same angle clockwise ("Rotate:" in the command's output).
        return (360 - int(found["orient_deg"])) % 360, float(found["orient_conf"])

    def alive(self) -> bool:
        return self._owner == os.getpid() and self._process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time the child has used so far (Linux ``/proc``; 0 elsewhere or once ended)."""
        try:
            fields = open(f"/proc/{self._process.pid}/stat", encoding="ascii").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """End the child: closing its stdin lets an idle one leave; a busy one is killed."""
        if self._owner != os.getpid():
            return  # a forked copy of this object: the child belongs to the parent process
        _running.discard(self)
        process = self._process
        if process.poll() is None:
            try:
                if process.stdin:
                    process.stdin.close()
                process.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream and not stream.closed:
                stream.close()

    def _ask_page(self, op: str, image: Image.Image, dpi: int, seconds: float) -> dict[str, Any]:
        gray = image if image.mode == "L" else image.convert("L")
        header = {"op": op, "width": gray.width, "height": gray.height, "dpi": dpi, "timeout_ms": max(1, int(seconds * 1000))}
        reply = self._ask(header, gray.tobytes(), seconds + REPLY_GRACE)
        if reply.get("timeout"):
            raise EngineTimeout
        if "error" in reply:
            raise EngineFailed(str(reply["error"]))
        return reply

    def _ask(self, header: dict[str, Any], pixels: bytes, seconds: float) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        body = json.dumps({**header, "bytes": len(pixels)}).encode()
        try:
            process.stdin.write(_LENGTH.pack(len(body)) + body)
            process.stdin.write(pixels)
            process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise EngineFailed(self._death(f"it stopped taking pages ({type(exc).__name__})")) from exc
        deadline = time.monotonic() + seconds
        length = _LENGTH.unpack(self._read(process.stdout, _LENGTH.size, deadline))[0]
        return dict(json.loads(self._read(process.stdout, length, deadline)))

    def _read(self, stream: IO[bytes], size: int, deadline: float) -> bytes:
        """Exactly ``size`` bytes from the child, or the child is killed at ``deadline``."""
        chunks: list[bytes] = []
        wanted = size
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while wanted:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self._process.kill()
                    self._process.wait()
                    raise EngineTimeout
                chunk = os.read(stream.fileno(), wanted)
                if not chunk:
                    raise EngineFailed(self._death("it ended in the middle of a page"))
                chunks.append(chunk)
                wanted -= len(chunk)
        return b"".join(chunks)

    def _death(self, what: str) -> str:
        try:
            code = self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        return f"the OCR engine process stopped: {what}, {how}"


_idle: list[Engine] = []
_running: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine of this process not yet closed
_idle_lock = threading.Lock()
_tessdata: str | None = None  # where the first engine found the language data


@contextmanager
def engine() -> Iterator[Engine]:
    """Lend a resident engine to one caller at a time; one that failed is not lent again.

    Threads of one process each get their own (a second one starts when all are busy);
    an engine lent to a caller that raised is closed, since its child may be mid-page.
    """
    with _idle_lock:
        lent = None
        while _idle and lent is None:
            candidate = _idle.pop()
            if candidate.alive():
                lent = candidate
    if lent is None:
        lent = Engine()
    try:
        yield lent
    except BaseException:
        lent.close()
        raise
    if lent.alive():
        with _idle_lock:
            _idle.append(lent)


def engines_cpu_seconds() -> float:
    """CPU time used so far by this process's engines still running. An engine that ended
    was waited for, so its time is in ``RUSAGE_CHILDREN`` instead: add both."""
    return sum(running.cpu_seconds() for running in list(_running) if running.alive())


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().close()


def _child_environment() -> dict[str, str]:
    """One OpenMP thread per Tesseract unless the operator set otherwise (prefect-notes.md:
    threads fighting over two cores made a page seven times slower); the language data
    where the first engine found it, so later engines skip the search."""
    environment = dict(os.environ)
    environment.setdefault("OMP_THREAD_LIMIT", "1")
    if _tessdata and "TESSDATA_PREFIX" not in environment:
        environment["TESSDATA_PREFIX"] = _tessdata
    return environment


def _columns(tsv: str) -> dict[str, list[str]]:
    """TSV rows as named columns, the shape ``layout_text`` reads (pytesseract's DICT)."""
    names = ["level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width", "height", "conf", "text"]
    columns: dict[str, list[str]] = {name: [] for name in names}
    for row in tsv.splitlines():
        cells = row.split("\t")
        if len(cells) < len(names) - 1:
            continue
        cells += [""] * (len(names) - len(cells))
        for name, cell in zip(names, cells, strict=False):
            columns[name].append(cell)
    return columns


# -- the child's side -------------------------------------------------------------------


def find_tessdata(default: str = "") -> str | None:
    """The folder holding ``eng.traineddata``: ``TESSDATA_PREFIX`` when set, else where the
    installed ``tesseract`` command looks (Debian, Fedora, Homebrew and Windows builds each
    put it elsewhere), else tesserocr's compiled-in default."""
    candidates = [os.environ.get("TESSDATA_PREFIX", "")]
    command = shutil.which("tesseract")
    if command:
        try:
            listing = subprocess.run([command, "--list-langs"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            listing = None
        if listing is not None:
            found = re.search(r'"([^"]+)"', listing.stdout + listing.stderr)
            if found:
                candidates.append(found.group(1))
    candidates.append(default)
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "eng.traineddata")):
            return folder
    return None


def _serve() -> None:
    """The child's loop: answer frames until the parent closes stdin or goes away."""
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything else written to stdout now goes to stderr
    requests = sys.stdin.buffer
    _end_with_parent()

    def send(message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        replies.write(_LENGTH.pack(len(body)) + body)

    try:
        import tesserocr
    except ImportError as exc:
        send({"missing": f"tesserocr cannot be imported ({exc}); run ./run.sh setup"})
        return
    tessdata = find_tessdata(tesserocr.get_languages()[0])
    if tessdata is None:
        send({"missing": f"no English language data for Tesseract; {_ENGLISH_DATA_HELP}"})
        return
    try:
        reader = tesserocr.PyTessBaseAPI(path=tessdata, lang="eng", oem=tesserocr.OEM.LSTM_ONLY, psm=tesserocr.PSM.AUTO)
    except RuntimeError as exc:
        send({"missing": f"Tesseract could not load its English data from {tessdata} ({exc}); {_ENGLISH_DATA_HELP}"})
        return
    osd = None
    while True:
        raw = requests.read(_LENGTH.size)
        if len(raw) < _LENGTH.size:
            return
        header = json.loads(requests.read(_LENGTH.unpack(raw)[0]))
        pixels = requests.read(int(header["bytes"]))
        if header["op"] == "hello":
            send({"version": tesserocr.tesseract_version().split()[1], "tessdata": tessdata})
            continue
        if header["op"] == "osd":
            if osd is None:
                osd = tesserocr.PyTessBaseAPI(path=tessdata, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
            api = osd
        else:
            api = reader
        width, height = int(header["width"]), int(header["height"])
        try:
            api.SetImageBytes(pixels, width, height, 1, width)
            api.SetSourceResolution(int(header["dpi"]))
            send({"osd": api.DetectOrientationScript()} if header["op"] == "osd" else _recognise(api, int(header["timeout_ms"])))
        except Exception as exc:  # noqa: BLE001 - one page's refusal is that page's answer
            send({"error": f"Tesseract refused the page ({type(exc).__name__}: {exc})"})
        finally:
            api.Clear()


def _recognise(api: Any, timeout_ms: int) -> dict[str, Any]:
    started = time.monotonic()
    if api.Recognize(timeout=timeout_ms):
        return {"tsv": api.GetTSVText(0)}
    if (time.monotonic() - started) * 1000 >= 0.9 * timeout_ms:
        return {"timeout": True}
    return {"error": "Tesseract could not recognise the page"}


def _end_with_parent() -> None:
    """Leave when the parent is gone (its pipe may stay open in a killed process's
    grandchildren). tesserocr releases the GIL while it recognises, so this thread runs
    even while a page is being read."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


if __name__ == "__main__":
    _serve()
