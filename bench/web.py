"""Web upload benchmark: 200 files through the web app against `records ingest`, same run.

    .venv/bin/python bench/web.py [--files 200] [--per-request 20]

Both sides ingest the same generated born-digital PDFs into their own fresh installation:

- web: a real ``records serve`` (uvicorn) in a child process; a clerk signs in and uploads
  the files as a browser does, ``--per-request`` files per multipart POST, one after
  the other; timed from the first upload to the last response.
- command line: ``records ingest FOLDER --json`` in a child process, timed end to end
  (so it includes the Prefect temporary server's start-up, as a clerk sees it).

Target (issue 7): web files per second at least 0.8 of ``records ingest``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORDS = str(ROOT / ".venv" / "bin" / "records")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "bench-password-long-enough"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, RECORDS_HOME=str(home), DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="WARNING", OMP_THREAD_LIMIT="1")
    env.pop("RECORDS_DATABASE_URL", None)
    return env


def _setup(home: Path) -> None:
    env = _env(home)
    subprocess.run([RECORDS, "init"], env=env, check=True, capture_output=True)
    subprocess.run([RECORDS, "user", "add", "admin", "--role", "admin"], env=env, check=True, capture_output=True)
    subprocess.run([RECORDS, "user", "add", "casey", "--role", "clerk", "--password-stdin", "--actor", "admin"], env=env, check=True, capture_output=True, input=PASSWORD, text=True)


def _files(folder: Path, count: int) -> list[Path]:
    from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

    folder.mkdir(parents=True)
    return [born_digital_pdf(folder / f"note-{n:04d}.pdf", [[*EMAIL_PAGE, f"Reference number {n} of the benchmark"]]) for n in range(count)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_run(home: Path, files: list[Path], per_request: int) -> tuple[float, int]:
    import httpx

    port = _free_port()
    server = subprocess.Popen([RECORDS, "serve", "--port", str(port)], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=600) as client:
            for _ in range(200):
                try:
                    if client.get("/login").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
            signed = client.post("/login", data={"username": "casey", "password": PASSWORD, "csrf": token, "next": "/"})
            if signed.status_code not in (200, 303):
                raise SystemExit(f"sign-in failed: {signed.status_code}")
            token = CSRF.search(client.get("/upload").text).group(1)  # type: ignore[union-attr]
            ingested = 0
            started = time.perf_counter()
            for start in range(0, len(files), per_request):
                chunk = files[start : start + per_request]
                handles = [("files", (p.name, p.open("rb"), "application/pdf")) for p in chunk]
                try:
                    response = client.post("/upload", data={"csrf": token}, files=handles)
                finally:
                    for _, (_, handle, _) in handles:
                        handle.close()
                if response.status_code != 200:
                    raise SystemExit(f"upload failed: {response.status_code}")
                ingested += response.text.count('class="status status-ingested"')
            return time.perf_counter() - started, ingested
    finally:
        server.terminate()
        server.wait(timeout=30)


def cli_run(home: Path, folder: Path) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    out = subprocess.run([RECORDS, "ingest", str(folder), "--json", "--actor", "casey"], env=_env(home), check=True, capture_output=True, text=True)
    return time.perf_counter() - started, json.loads(out.stdout)["counts"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--per-request", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        files = _files(root / "files", args.files)
        for name in ("web", "cli"):
            _setup(root / name)
        web_seconds, web_ok = web_run(root / "web", files, args.per_request)
        cli_seconds, counts = cli_run(root / "cli", root / "files")
    web_rate = args.files / web_seconds
    cli_rate = args.files / cli_seconds
    print(f"{'side':28} {'files':>6} {'seconds':>8} {'files/s':>8}  outcome")
    print(f"{'web (records serve)':28} {args.files:>6} {web_seconds:>8.1f} {web_rate:>8.1f}  {web_ok} files shown as ingested")
    print(f"{'records ingest (end to end)':28} {args.files:>6} {cli_seconds:>8.1f} {cli_rate:>8.1f}  {counts}")
    ratio = web_rate / cli_rate
    print(f"web / records ingest: {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})")
    print("note: `records ingest` end to end includes the start-up of Prefect's temporary server (about 10-20 s); the web app ingests without Prefect.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
