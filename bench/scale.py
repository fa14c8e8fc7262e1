"""Scale-out benchmark: the same mixed files through one worker, two workers, and Dask.

    .venv/bin/python bench/scale.py [--files 2000] [--scan-share 0.2] [--postgres URL]

Each configuration runs on the whole stack (scripts/stack.sh: a Prefect server, the
process pool, the deployments) with a fresh installation on a fresh PostgreSQL database
(``--postgres``, or RECORDS_TEST_POSTGRES_URL), and ingests the same files:

- 1 worker:  one process worker, one flow run, one lane, one OCR process at a time;
- 2 workers: two process workers, one flow run each, same limits;
- dask:      one flow run whose two lanes run on a local Dask cluster of two processes.

The intake-worker runs start first and wait (``linger``); once their lanes are polling
the queue (each lane's row in ``intake_lanes``, written by the lane itself: Prefect's
task-run states of lanes on Dask workers arrive late or not at all) the files are submitted to the queue in one transaction and the clock runs until the last
job is done, so server, worker and Dask start-up are left out. Throughput is files per
second; speed-up is against one worker. Target (issue 8): at least 1.6 with two workers on
two cores for OCR-heavy work. The load average is printed: on a shared machine other
work takes cores from the workers and the figures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from bench.measure import temporary_postgres  # noqa: E402
from tests.fixtures.mixed import write_pile  # noqa: E402

BATCH = 5  # files per claim: small, so that neither worker is left with a long last batch
CONFIGS = {  # name: (process workers, environment of each worker)
    "1 worker": (1, {"RECORDS_TASK_RUNNER": "threads", "RECORDS_LANES": "1"}),
    "2 workers": (2, {"RECORDS_TASK_RUNNER": "threads", "RECORDS_LANES": "1"}),
    "dask": (1, {"RECORDS_TASK_RUNNER": "dask", "RECORDS_DASK_WORKERS": "2"}),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lanes_polling(url: str) -> int:
    """How many lanes poll the queue, as the lanes themselves record it in the catalog.

    Not Prefect's task-run states: a task run in a Dask worker process reports RUNNING
    through the events its own process sends, late on a loaded machine, or not at all.
    """
    from records.storage import intake_queue
    from records.storage.db import Catalog

    catalog = Catalog(url)
    try:
        with catalog.reading() as session:
            return intake_queue.lanes_polling(session)
    finally:
        catalog.engine.dispose()


def _ended_runs(api: str) -> list[str]:
    """The intake-worker flow runs (and their lanes subflows) that ended already: crashed,
    failed, cancelled or done, their lanes will never start. Other deployments' runs (the
    inbox on its schedule) are not looked at. ``api`` explicitly: each configuration has a
    server (and port) of its own, and Prefect's settings are read once per process."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["intake-worker", "intake-lanes"])))
    except httpx.HTTPError:  # the server is busy: no news, ask again at the next poll
        return []
    return [f"{run.name}: {run.state.name} {run.state.message or ''}".strip() for run in runs if run.state and run.state.is_final()]


def _stack_logs(home: Path, keep: Path) -> str:
    """The last lines of the stack's logs, and a copy of them under ``keep`` (the scratch folder goes at exit)."""
    keep.mkdir(parents=True, exist_ok=True)
    tails = []
    for log in sorted((home / "prefect" / "stack").glob("*.log")):
        shutil.copy(log, keep / log.name)
        tails.append(f"\n--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "".join(tails) + f"\n(whole logs kept in {keep})"


def run_config(name: str, files: list[Path], server_url: str, scratch: Path) -> dict[str, float]:
    workers, extra = CONFIGS[name]
    lanes = 2 if extra["RECORDS_TASK_RUNNER"] == "dask" else workers
    with temporary_postgres(server_url, "records_scale") as url:
        home = scratch / name.replace(" ", "-")
        port = _free_port()  # chosen now, not before the pile was written: another process may have taken it since
        env = {**os.environ, **extra, "RECORDS_HOME": str(home), "RECORDS_DATABASE_URL": url, "RECORDS_PREFECT_PORT": str(port),
               "RECORDS_EXTRACT_WORKERS": "1", "PREFECT_HOME": str(home / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        for variable in ("RECORDS_KEYSTORE", "RECORDS_STORE_URL"):
            env.pop(variable, None)
        subprocess.run([BIN / "records", "init", "--json"], env=env, check=True, capture_output=True)
        stack = [str(ROOT / "scripts" / "stack.sh")]
        try:  # stopped in any case: a stack that half started leaves a server or workers behind
            started = subprocess.run([*stack, "start", "--workers", str(workers), "--limit", "1"], env=env, capture_output=True, text=True)
            if started.returncode:
                keep = Path(tempfile.gettempdir()) / f"scale-bench-logs-{time.strftime('%Y%m%dT%H%M%S')}-{name.replace(' ', '-')}"
                raise SystemExit(f"{name}: the stack did not start: {started.stdout}{started.stderr}{_stack_logs(home, keep)}")
            for _ in range(workers):
                subprocess.run([BIN / "prefect", "deployment", "run", "intake-worker/intake-worker", "--param", "linger=900", "--param", f"batch_size={BATCH}"],
                               env=env, check=True, capture_output=True)
            deadline = time.monotonic() + 600
            while (ready := _lanes_polling(url)) < lanes:
                ended = _ended_runs(env["PREFECT_API_URL"])
                if ended or time.monotonic() > deadline:
                    why = f"a flow run ended before its lanes started ({'; '.join(ended)})" if ended else f"only {ready} of {lanes} lanes started in 600 s"
                    keep = Path(tempfile.gettempdir()) / f"scale-bench-logs-{time.strftime('%Y%m%dT%H%M%S')}-{name.replace(' ', '-')}"
                    raise SystemExit(f"{name}: {why}{_stack_logs(home, keep)}")
                time.sleep(2)
            return _time_submission(files, url, home)
        finally:
            subprocess.run([*stack, "stop"], env=env, capture_output=True)


def _time_submission(files: list[Path], url: str, home: Path) -> dict[str, float]:
    from sqlalchemy import create_engine, text

    from records.storage import intake_queue
    from records.storage.db import Catalog

    catalog = Catalog(url)
    start = time.perf_counter()
    with catalog.writing() as session:
        intake_queue.enqueue(session, [intake_queue.NewJob(str(p)) for p in files], origin="ingest", actor="system:bench", owner_staff_id=None)
    engine = create_engine(url)
    while True:
        with engine.connect() as connection:
            open_jobs = connection.execute(text("SELECT count(*) FROM intake_jobs WHERE state IN ('waiting', 'claimed')")).scalar_one()
        if open_jobs == 0:
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    with engine.connect() as connection:
        sources = connection.execute(text("SELECT count(*) FROM sources")).scalar_one()
        workers = connection.execute(text("SELECT count(DISTINCT worker) FROM intake_jobs")).scalar_one()
    engine.dispose()
    return {"seconds": elapsed, "files_per_second": len(files) / elapsed, "sources": sources, "claimers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="files in the pile (default 2000)")
    parser.add_argument("--scan-share", type=float, default=0.2, help="share of the files that are scans to OCR (default 0.2)")
    parser.add_argument("--postgres", default=os.environ.get("RECORDS_TEST_POSTGRES_URL"), help="PostgreSQL server URL (a scratch database is made per run)")
    parser.add_argument("--only", action="append", choices=list(CONFIGS), help="run only these configurations")
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("bench/scale.py needs PostgreSQL: --postgres postgresql+psycopg://user@host/db or RECORDS_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="scale-bench-", ignore_cleanup_errors=True) as folder:
        scratch = Path(folder)
        pile = write_pile(scratch / "pile", args.files, scans=int(args.files * args.scan_share), copies=max(1, args.files // 100))
        print(f"{len(pile.files)} files ({int(args.files * args.scan_share)} scans, {len(pile.copies)} copies), {os.cpu_count()} cores, "
              f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        results = {}
        for name in args.only or list(CONFIGS):
            results[name] = run_config(name, pile.files, args.postgres, scratch)
            r = results[name]
            print(f"  {name:10} {r['seconds']:8.1f} s  {r['files_per_second']:7.2f} files/s  sources {r['sources']}  "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    base = results.get("1 worker")
    print()
    print(f"{'configuration':14}{'seconds':>10}{'files/s':>10}{'speed-up':>10}")
    for name, r in results.items():
        speed_up = f"{base['seconds'] / r['seconds']:.2f}" if base else "-"
        print(f"{name:14}{r['seconds']:10.1f}{r['files_per_second']:10.2f}{speed_up:>10}")
    if base and "2 workers" in results:
        ratio = base["seconds"] / results["2 workers"]["seconds"]
        print(f"two workers against one: {ratio:.2f} (target >= 1.6 on two cores for OCR-heavy work)")
    print(json.dumps({"results": results, "load_average_after": os.getloadavg()}))


if __name__ == "__main__":  # the Dask configuration starts a local cluster (prefect-notes.md)
    main()
