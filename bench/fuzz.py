"""Coverage-guided fuzzing of the readers, bounded in time: the long version of tests/test_fuzz_readers.py.

    .venv/bin/python bench/fuzz.py --target pdf --seconds 120
    .venv/bin/python bench/fuzz.py --target all --seconds 60 [--engine atheris|random]

Each target runs in its own child process (atheris's libFuzzer exits when it is done),
one after the other, and the table at the end gives, side by side, how long each ran,
how many inputs it executed, and what it found. An input is either a file's bytes
(libFuzzer mutates a valid PDF, email, ... directly) or, when its first byte is odd, the
choices of the document builders of tests/fixtures/fuzzing.py (so the fuzzer explores
export zips and JSON fields of the wrong type, which byte edits of a zip rarely reach).
The seed corpus is made of both, built here; nothing is read from outside.

A crash is any exception other than ``Quarantine``, a broken invariant (``check_items``)
or a hang (libFuzzer's ``-timeout``). Its input is kept in ``--crashes`` (default
/tmp/records-fuzz-crashes) and the run of that target stops: turn it into a regression
test (tests/test_fuzz_regressions.py) and fix the reader, then run again.

``--engine random`` needs no atheris (a platform without its wheel): the same targets
driven by seeded random choices, without coverage feedback, continuing past crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = ("pdf", "email", "mbox", "msg", "sms", "facebook", "instagram", "x", "zip", "image", "roster", "staff")
SEEDS_PER_TARGET = 40
MAX_LEN = 256 * 1024
HANG_SECONDS = 30


class BytesPicker:
    """The builders' choices read from a fuzzer's input, so coverage guides the structure too."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def _take(self, count: int) -> bytes:
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def integer(self, low: int, high: int) -> int:
        span = high - low
        if span <= 0:
            return low
        width = max(1, (span.bit_length() + 7) // 8)
        chunk = self._take(width)
        return low + (int.from_bytes(chunk, "little") % (span + 1) if chunk else 0)

    def boolean(self, chance: float = 0.5) -> bool:
        chunk = self._take(1)
        return bool(chunk) and chunk[0] < chance * 256

    def text(self, max_size: int = 40) -> str:
        from tests.fixtures.fuzzing import ALPHABET

        size = self.integer(0, max_size)
        return "".join(ALPHABET[b % len(ALPHABET)] for b in self._take(size))

    def binary(self, max_size: int = 64) -> bytes:
        return self._take(self.integer(0, max_size))


def one_input(target: str, data: bytes, scratch: Path) -> None:
    """Run one input through the target; raises on a crash (anything but items or Quarantine)."""
    from tests.fixtures.fuzzing import CSV_FORMATS, build, check_directory, read_strictly

    if data[:1] and data[0] & 1:
        document = build(BytesPicker(data[1:]), target, mutate=False)
    else:
        document = data[1:]
    if target in CSV_FORMATS:
        import io

        from records.intake.directory_csv import parse_roster, parse_staff

        parse = parse_roster if target == "roster" else parse_staff
        check_directory(parse(io.BytesIO(document)), document)
        return
    if not document:
        return
    path = scratch / "input"
    path.write_bytes(document)
    read_strictly(path)


def seeds(target: str, count: int = SEEDS_PER_TARGET) -> list[bytes]:
    """Valid documents (raw, first byte even) and choice streams (first byte odd)."""
    import random

    from tests.fixtures.fuzzing import RandomPicker, build

    out = []
    for seed in range(count):
        if seed % 2 == 0:
            out.append(b"\x00" + build(RandomPicker(seed), target, mutate=False)[:MAX_LEN])
        else:
            out.append(b"\x01" + random.Random(seed).randbytes(2048))
    return out


# --------------------------------------------------------------------------- child: atheris


def run_atheris(target: str, seconds: int, crashes: Path, workdir: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["records", "pypdf", "email", "extract_msg", "olefile", "defusedxml", "json"]):
        from tests.fixtures import fuzzing  # noqa: F401
        import records.intake.pipeline  # noqa: F401
        from records.intake.registry import readers

        readers()
    import records.storage.ingest  # noqa: F401 - check_items needs it: imported here, not in the first input's time
    from tests.fixtures.fuzzing import fake_ocr

    corpus = workdir / "corpus"
    corpus.mkdir()
    for number, seed in enumerate(seeds(target)):
        (corpus / f"seed{number}").write_bytes(seed)
    scratch = workdir / "scratch"
    scratch.mkdir()
    crashes.mkdir(parents=True, exist_ok=True)
    patch = fake_ocr()
    patch.__enter__()

    def test_one(data: bytes) -> None:
        one_input(target, data, scratch)

    atheris.Setup(
        [sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-timeout={HANG_SECONDS}", f"-max_len={MAX_LEN}",
         "-rss_limit_mb=3072", "-print_final_stats=1", f"-artifact_prefix={crashes}/{target}-", "-close_fd_mask=1"],
        test_one,
    )  # fmt: skip
    atheris.Fuzz()


# --------------------------------------------------------------------------- child: random


class _Hang(Exception):
    pass


def run_random(target: str, seconds: int, crashes: Path, workdir: Path) -> dict[str, object]:
    import random

    from records.intake.registry import readers
    from tests.fixtures.fuzzing import fake_ocr

    import records.storage.ingest  # noqa: F401 - check_items needs it

    readers()
    scratch = workdir
    crashes.mkdir(parents=True, exist_ok=True)
    found: dict[str, str] = {}
    executed = 0
    deadline = time.monotonic() + seconds

    def stop(signum: int, frame: object) -> None:
        raise _Hang(f"no answer after {HANG_SECONDS} seconds")

    signal.signal(signal.SIGALRM, stop)
    pool = seeds(target)
    with fake_ocr():
        while time.monotonic() < deadline:
            rng = random.Random(executed)
            data = bytes([rng.randrange(256)]) + rng.randbytes(4096) if executed % 3 else rng.choice(pool)
            signal.alarm(HANG_SECONDS)
            try:
                one_input(target, data, scratch)
            except Exception as exc:  # noqa: BLE001 - a crash is what we are looking for
                where = traceback.extract_tb(exc.__traceback__)[-1]
                key = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
                if key not in found:
                    name = crashes / f"{target}-crash-{len(found)}"
                    name.write_bytes(data)
                    found[key] = f"{name}: {str(exc)[:200]}"
            finally:
                signal.alarm(0)
            executed += 1
    return {"executed": executed, "crashes": found}


# --------------------------------------------------------------------------- parent


def child(target: str, seconds: int, engine: str, crashes: Path) -> dict[str, object]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"records-fuzz-{target}-") as workdir:  # corpus and scratch, removed after
        command = [sys.executable, __file__, "--child", "--target", target, "--seconds", str(seconds), "--engine", engine,
                   "--crashes", str(crashes), "--workdir", workdir]  # fmt: skip
        env = {**os.environ, "OMP_THREAD_LIMIT": "1", "TMPDIR": workdir}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds * 3 + 600, cwd=ROOT)
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    if engine == "random":
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return {"target": target, "seconds": elapsed, "executed": result["executed"], "crashes": list(result["crashes"].values())}
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    coverage = re.findall(r"cov: (\d+)", output)
    written = re.findall(r"Test unit written to (\S+)", output)
    crash_files = [f for f in written if "slow-unit" not in f]
    slow = [f for f in written if "slow-unit" in f]  # over 10 s once: reported, not a crash
    crash_lines = [line for line in output.splitlines() if "Uncaught Python exception" in line or line.startswith(("AssertionError", "Traceback"))]
    errors = [m.group(0) for m in re.finditer(r"^\w+(Error|Exception)[^\n]*", output, re.M)][:3]
    return {
        "target": target,
        "seconds": elapsed,
        "executed": int(executed.group(1)) if executed else None,
        "coverage": int(coverage[-1]) if coverage else None,
        "crashes": [f"{f} ({'; '.join(errors) or 'see output'})" for f in crash_files] or (crash_lines[:1] if done.returncode not in (0,) else []),
        "slow": slow,
        "exit": done.returncode,
        "tail": output[-3000:] if done.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="all", help=f"one of {', '.join(TARGETS)}, or all")
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--engine", choices=("atheris", "random"), default=None, help="default: atheris when installed")
    parser.add_argument("--crashes", type=Path, default=Path(tempfile.gettempdir()) / "records-fuzz-crashes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    if args.child:
        if engine == "atheris":
            run_atheris(args.target, args.seconds, args.crashes, args.workdir)
        else:
            print(json.dumps(run_random(args.target, args.seconds, args.crashes, args.workdir)))
        return
    targets = TARGETS if args.target == "all" else tuple(args.target.split(","))
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}: one of {', '.join(TARGETS)}")
    print(f"engine {engine}, {args.seconds} s per target, crashes kept in {args.crashes}", flush=True)
    results = []
    for target in targets:
        result = child(target, args.seconds, engine, args.crashes)
        results.append(result)
        rate = (result["executed"] or 0) / max(result["seconds"], 1e-9)  # type: ignore[operator]
        print(f"{target:10} {result['seconds']:7.0f} s  {result['executed'] or 0:>9} inputs  {rate:8.1f}/s  "
              f"cov {result.get('coverage') or '-':>6}  crashes: {len(result['crashes'])}", flush=True)  # type: ignore[arg-type]
        for crash in result["crashes"]:  # type: ignore[union-attr]
            print(f"    {crash}", flush=True)
        for unit in result.get("slow") or []:  # type: ignore[union-attr]
            print(f"    slow input (over 10 s under this load): {unit}", flush=True)
        if result.get("tail") and not result["crashes"]:
            print(result["tail"], flush=True)
    total = sum(r["executed"] or 0 for r in results)  # type: ignore[misc]
    print(f"total {total} inputs, {sum(len(r['crashes']) for r in results)} crashes")  # type: ignore[arg-type]
    sys.exit(1 if any(r["crashes"] for r in results) else 0)


if __name__ == "__main__":
    main()
