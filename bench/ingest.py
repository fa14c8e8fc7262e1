"""Ingest benchmark: our pipeline against the floor of the same work in a bare loop.

    .venv/bin/python bench/ingest.py [--pdfs 1000] [--scans 50]

Two workloads, each timed both ways in the same run on the same cores:

- born-digital: N small text PDFs. Floor: a bare loop that reads each file, hashes it
  (SHA-256), asks libmagic, and extracts every page's text with pypdf. Ours: the ingest
  flow (batches, detection, extraction, encryption, catalog and audit writes).
- scanned: M image pages (PNG, 200 dpi). Floor: bare ``tesseract`` on every page, one
  process per core (OMP_THREAD_LIMIT=1). Ours: the ingest flow, OCR spread over the cores.
  Ours keeps Tesseract loaded (tesserocr's engine, ``records/intake/tesseract_engine.py``)
  where the command loads its model for every page; the two engines' versions are printed,
  since they may differ (on 2026-11-30: the command 5.3.0, tesserocr's 5.5.4, which read
  these pages about 6% faster than 5.3.0's library did, both kept loaded).

Prefect's server start-up is left out of both, and so is our process's own start-up: a
warm-up flow run ingests two files into a scratch installation before any timing, which
starts the ephemeral server, spawns the extraction workers and imports the readers (the
floor's imports happen before its timing too). Targets (issue 3): born-digital ≥ 0.5 of the floor, OCR ≥ 0.8.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import records.flows  # noqa: E402, F401 - Prefect's settings (server start-up timeout) before Prefect is imported
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, png_scan  # noqa: E402


def make_pdfs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        lines = [*EMAIL_PAGE, f"Reference number {n:06d} for this printed note."]
        files.append(born_digital_pdf(folder / f"note-{n:05d}.pdf", [lines, [f"Second page of note {n}.", *EMAIL_PAGE[5:]]]))
    return files


def make_scans(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [png_scan(folder / f"scan-{n:03d}.png", [*EMAIL_PAGE, f"Scanned page number {n}."]) for n in range(count)]


def cpu_seconds() -> float:
    """CPU seconds used so far by this process, its finished children (the floor's
    Tesseracts), the extraction workers, and the OCR engine processes that they and this
    process keep running (``tesseract_engine``: live children, not yet in any rusage).

    Less sensitive than wall time to other work on a shared machine: beside each ratio
    the bench prints both sides' CPU per file. Linux (``/proc``); 0 elsewhere.
    """
    import resource

    from records.flows import extraction_pool

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + children.ru_utime + children.ru_stime
    pool = extraction_pool._pool
    workers = set(pool._processes) if pool is not None else set()  # type: ignore[attr-defined]
    for pid, parent in _processes().items():
        engine = parent in workers | {os.getpid()} and b"tesseract_engine" in _cmdline(pid)
        if pid in workers or engine:
            total += _cpu_of(pid)
    return total


def _processes() -> dict[int, int]:
    """Every process's parent, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _command_version() -> str:
    done = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).split()[1]


def _engine_version() -> str:
    from records.intake.tesseract_engine import engine

    with engine() as tesseract:
        return tesseract.version


def floor_born_digital(files: list[Path]) -> float:
    import logging

    import magic
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    start = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        magic.from_buffer(data[:65536], mime=True)
        for page in PdfReader(path).pages:
            page.extract_text()
    return time.perf_counter() - start


def floor_tesseract(files: list[Path]) -> float:
    cores = os.cpu_count() or 1
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> None:
        subprocess.run(["tesseract", str(path), "stdout"], capture_output=True, env=env, check=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def ours(files: list[Path], home: Path) -> tuple[float, dict[str, int]]:
    from records.flows.ingest import ingest_flow

    start = time.perf_counter()
    result = ingest_flow([str(p) for p in files], home=str(home), actor="system:bench")
    return time.perf_counter() - start, result["counts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdfs", type=int, default=1000)
    parser.add_argument("--scans", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="records-bench-") as tmp:
        work = Path(tmp)
        os.environ["RECORDS_HOME"] = str(work / "home")
        os.environ.pop("RECORDS_DATABASE_URL", None)
        os.environ.pop("RECORDS_KEYSTORE", None)
        from records.storage.installation import initialize

        initialize(work / "home", actor="system:bench")
        print(f"making {args.pdfs} born-digital PDFs and {args.scans} scanned pages ...", flush=True)
        pdfs = make_pdfs(work / "pdfs", args.pdfs)
        scans = make_scans(work / "scans", args.scans)

        from records.flows.ingest import ingest_flow

        warm = make_pdfs(work / "warm-up", 2)
        initialize(work / "warm-home", actor="system:bench")
        start = time.perf_counter()
        ingest_flow([str(p) for p in warm], home=str(work / "warm-home"), actor="system:bench")
        print(f"warm-up (Prefect server, extraction workers, reader imports), not timed below: {time.perf_counter() - start:.1f} s")
        cores = os.cpu_count()
        print(f"cores: {cores}; OMP_THREAD_LIMIT={os.environ['OMP_THREAD_LIMIT']}")
        print(f"Tesseract: floor {_command_version()} (the command), ours {_engine_version()} (kept loaded)")

        load = [os.getloadavg()[0]]
        cpu = [cpu_seconds()]
        floor_pdf = floor_born_digital(pdfs)
        cpu.append(cpu_seconds())
        ours_pdf, counts_pdf = ours(pdfs, work / "home")
        cpu.append(cpu_seconds())
        load.append(os.getloadavg()[0])
        floor_ocr = floor_tesseract(scans)
        cpu.append(cpu_seconds())
        ours_ocr, counts_ocr = ours(scans, work / "home")
        cpu.append(cpu_seconds())
        load.append(os.getloadavg()[0])

    used = [later - earlier for earlier, later in zip(cpu, cpu[1:])]
    rows = [
        ("born-digital PDFs", args.pdfs, floor_pdf, ours_pdf, 0.5, counts_pdf, used[0], used[1]),
        ("scanned pages (OCR)", args.scans, floor_ocr, ours_ocr, 0.8, counts_ocr, used[2], used[3]),
    ]
    print()
    print(f"load average (1 min) before, between, after: {', '.join(f'{x:.2f}' for x in load)}")
    print(f"{'workload':<22}{'files':>6}{'floor files/s':>15}{'ours files/s':>14}{'ratio':>8}{'target':>8}"
          f"{'floor CPU ms/file':>19}{'ours CPU ms/file':>18}  outcome")
    for name, count, floor_s, ours_s, target, counts, floor_cpu, ours_cpu in rows:
        ratio = floor_s / ours_s
        verdict = "ok" if ratio >= target else "BELOW TARGET"
        print(
            f"{name:<22}{count:>6}{count / floor_s:>15.1f}{count / ours_s:>14.1f}{ratio:>8.2f}{target:>8.2f}"
            f"{1000 * floor_cpu / count:>19.1f}{1000 * ours_cpu / count:>18.1f}  {verdict} {counts}"
        )
    print("CPU: this process, its finished children and the extraction workers (with their Tesseracts);"
          " Prefect's temporary server is not counted.")


if __name__ == "__main__":
    main()
