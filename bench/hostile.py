"""Hostile emails: how long refusing or reading them takes, beside a normal message.

    .venv/bin/python bench/hostile.py [--repeat 3]

The tests (tests/test_reader_email.py: test_hostile_emails_are_bounded,
test_huge_headers_are_read_whole) check the outcome and the bounds, never the time: a
timed assertion failed once on a loaded machine. The time belongs here, printed beside
the time of one ordinary message read in the same run, with the load average.

- deep: 2,000 nested multiparts (refused when the parser's recursion gives out);
- many: 20,000 MIME parts (refused before parsing: too many boundary lines);
- wide: a 100 KB Content-Type (refused before parsing: content header too long);
- huge headers: 20,000 recipients and 100,000 encoded words (read whole, linearly).

Each case runs in this process, ``--repeat`` times; the best time is printed (the least
disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from records.intake.model import Quarantine
    from records.intake.readers.email_message import item_from_message_bytes
    from tests.test_reader_email import hostile_emails, huge_headers, make_email

    cases = {**hostile_emails(), "huge headers": huge_headers(), "ordinary": make_email().as_bytes()}
    print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'case':<14}{'size KB':>9}{'best s':>9}{'CPU s':>8}  outcome")
    for name, raw in cases.items():
        best = cpu = float("inf")
        outcome = ""
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), cpu_seconds()
            try:
                item = item_from_message_bytes(raw, "email")
                outcome = f"read: {len(item.participants)} participant(s), {len(item.text)} characters"
            except Quarantine as stop:
                outcome = f"quarantined ({stop.kind}): {stop.reason}"
            best = min(best, time.perf_counter() - started)
            cpu = min(cpu, cpu_seconds() - started_cpu)
        print(f"{name:<14}{len(raw) / 1024:>9.0f}{best:>9.3f}{cpu:>8.3f}  {outcome}")
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
