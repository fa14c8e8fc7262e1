"""Large-export benchmark: an mbox and a Facebook export streamed through our pipeline.

    .venv/bin/python bench/exports.py [--mbox-mb 1024] [--fb-messages 200000]

Two inputs, each at two sizes (the full size and a quarter of it, so that growth with the
input's size shows), generated in a temporary folder and measured in the same run:

- mbox: N MB of realistic RFC 5322 messages (a few hundred distinct ones built with
  ``email.message.EmailMessage``, varied senders, some with a small attachment, written
  again and again with a unique Message-ID and Date each). Floor: the bare standard
  library, ``for m in mailbox.mbox(path): m.get_payload(); m["Message-ID"]``.
- Facebook: a "Download Your Information" zip of M Messenger messages in threads of
  1,000 (the schema of tests/test_reader_facebook.py). No bare floor: there is no
  standard-library reader to compare with.

Ours is ``records.flows.ingest.process_batch`` on the one file, into a fresh installation
(not the Prefect flow, so that the server's start-up stays out of the timings).
Every measurement runs in its own child process, which reports its wall time and its
peak resident memory (``VmHWM`` in ``/proc/self/status``) as JSON; "at start" is the
peak before the ingest began (imports, the new installation). "CPU %" is the child's CPU
time over its wall time: well under 100 means it waited, on fsync or on other work sharing
the cores (the load average is printed before and after each measurement). Both sides of
the mbox comparison are one single-threaded process, so the rate is also given by CPU
time ("by CPU"), which other work on the machine disturbs far less than wall time.
A large mbox is parsed by child processes of ours (one on two cores; from three cores,
two, each parsing every other message) while ours stores what they have read
(records/flows/stream_process.py): their CPU time is added to ours, and "ours peak MB"
is the sum of every process's peak (the children's together under "(reader)", sampled
twice a second from /proc). The bare floor is one process on one core, so two stages on
two cores can beat it by wall time where they cannot by CPU time: compare both figures.
``RECORDS_STREAM_READERS`` sets the number of reading children for a comparison.

Targets: the memory of ours does not grow with the input (peak at full size / peak at a
quarter near 1, taken here as at most 1.25), and ours reads an mbox at least 0.5 as fast
as the bare parse.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.utils
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zipfile
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds, peak_mb  # noqa: E402

MEMORY_TARGET = 1.25  # peak at full size / peak at a quarter
RATE_TARGET = 0.5  # ours / bare, mbox
THREAD_MESSAGES = 1000  # messages per Facebook thread
MID = b"placeholder-message-id@bench.invalid"  # replaced in each copy of a template
DATE = b"Mon, 01 Jan 2001 00:00:00 +0000"

FIRST = ["Maya", "Elena", "James", "Priya", "Tomás", "Aisha", "Chen", "Olga", "Luis", "Hannah", "Kwame", "Sofia", "Noah", "Fatima", "Jonas", "Zoë"]
LAST = ["Rivera", "Chen", "Okafor", "Patel", "García", "Nguyen", "Schmidt", "Kowalski", "Haddad", "Brown", "Müller", "Tanaka", "Silva", "O'Brien"]
DOMAINS = ["schools.example.org", "gmail.example.com", "district.example.net", "parents.example.com", "outlook.example.com"]
SUBJECTS = [
    "Field trip permission form", "Re: Grades for the second quarter", "Parent-teacher conference", "IEP meeting on Thursday",
    "Absence note for {name}", "Re: Re: Bus schedule change", "Homework policy question", "Fwd: Science fair results",
    "Lunch account balance", "Report card comments", "Café fundraiser — volunteers needed", "Re: Reading group placement",
]
SENTENCES = [
    "Thank you for letting me know about the change.", "Please find the signed form attached.",
    "Could we move the meeting to Thursday afternoon?", "She was absent on Monday because of a doctor's appointment.",
    "The project is due on the fifteenth; late work loses ten percent a day.", "I will bring the documents to the front office.",
    "He has been working hard on his reading this term.", "Let me know if you have any questions.",
    "The bus will leave at 7:45 sharp, so students should arrive early.", "We have updated the lunch menu for next week.",
    "Mrs. Okafor will cover the class while I am away.", "Grades will be posted on the portal by Friday.",
]


# ---------------------------------------------------------------- input generators


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}".lower().replace("'", "").encode("ascii", "ignore").decode()
    return f"{first} {last}", f"{local}{rng.randrange(100)}@{rng.choice(DOMAINS)}"


def _received(rng: random.Random, when: str) -> list[str]:
    hops = []
    for _ in range(rng.randrange(2, 4)):
        host = f"mail-{rng.choice(['yw1', 'ej1', 'qk1', 'pf1'])}-f{rng.randrange(100, 240)}.{rng.choice(DOMAINS)}"
        ip = f"203.0.113.{rng.randrange(1, 255)}"
        hops.append(
            f"from {host} ({host} [{ip}]) by mx.schools.example.org with ESMTPS id {rng.getrandbits(64):016x} "
            f"(version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256) for <inbox@schools.example.org>; {when}"
        )
    return hops


def _templates(count: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """Distinct messages as bytes with placeholders: (sender address, message bytes).

    Shaped like a Google Takeout mbox: Received chains, a DKIM signature, Gmail's thread and
    label headers, half of them plain text and HTML, one in five with a small attachment
    (a one-page text PDF or a CSV).
    """
    from tests.fixtures.printouts import pdf_bytes

    rng = random.Random(seed)
    pdfs = [pdf_bytes([[f"Permission slip {n}", *rng.sample(SENTENCES, 6)]]) for n in range(8)]
    out = []
    for n in range(count):
        (from_name, from_addr), (to_name, to_addr) = _person(rng), _person(rng)
        message = EmailMessage()
        sent = dt.datetime(2019, 8, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(5 * 365 * 86400))
        for hop in _received(rng, email.utils.format_datetime(sent)):
            message["Received"] = hop
        message["X-GM-THRID"] = str(rng.randrange(10**18, 10**19))
        message["X-Gmail-Labels"] = rng.choice(["Inbox,Important,Opened", "Sent", "Archived,Category Updates", "Inbox,Unread"])
        message["DKIM-Signature"] = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={from_addr.split('@')[1]}; s=20230601; h=to:subject:message-id:date:from:mime-version; "
            f"bh={base64.b64encode(rng.randbytes(32)).decode()}; b={' '.join(textwrap.wrap(base64.b64encode(rng.randbytes(256)).decode(), 60))}"
        )
        message["From"] = email.utils.formataddr((from_name, from_addr))
        message["To"] = email.utils.formataddr((to_name, to_addr))
        if n % 4 == 0:
            message["Cc"] = email.utils.formataddr(_person(rng))
        message["Subject"] = rng.choice(SUBJECTS).format(name=to_name.split()[0])
        message["Date"] = DATE.decode()
        message["Message-ID"] = f"<{MID.decode()}>"
        if n % 3 == 0:
            message["In-Reply-To"] = f"<thread-{rng.randrange(10**9)}@{rng.choice(DOMAINS)}>"
        message["X-Mailer"] = rng.choice(["Thunderbird 115.3", "Apple Mail (2.3731)", "Outlook 16.0"])
        lines = [f"Dear {to_name.split()[0]},", ""] + [rng.choice(SENTENCES) for _ in range(rng.randrange(2, 12))]
        if n % 17 == 0:
            lines.append("From my desk at school, with thanks.")  # quoted ">From " in the mbox
        lines += ["", "Best regards,", from_name]
        message.set_content("\n".join(lines))
        if n % 2 == 0:
            html = "".join(f"<p style=\"margin:0 0 8px 0;font-family:Arial\">{line}</p>" for line in lines if line)
            message.add_alternative(f"<html><body><div dir=\"ltr\">{html}</div></body></html>", subtype="html")
        if n % 5 == 0:  # some with a small attachment
            if n % 10 == 0:
                message.add_attachment(pdfs[n % len(pdfs)], maintype="application", subtype="pdf", filename=f"form-{n}.pdf")
            else:
                rows = "\n".join(f"{rng.choice(FIRST)},{rng.randrange(60, 100)}" for _ in range(rng.randrange(10, 80)))
                message.add_attachment(f"student,score\n{rows}\n", subtype="csv", filename=f"scores-{n}.csv")
        data = message.as_bytes(policy=default_policy.clone(linesep="\n"))
        body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in data.split(b"\n"))
        out.append((from_addr.encode(), body))
    return out


def make_mbox(path: Path, size: int, seed: int = 7) -> int:
    """Write an mbox of about ``size`` bytes; returns the number of messages."""
    templates = _templates(300, seed)
    start = dt.datetime(2019, 8, 20, 7, 30, tzinfo=dt.UTC)
    written = count = 0
    with path.open("wb", buffering=4 * 1024 * 1024) as out:
        while written < size:
            addr, body = templates[count % len(templates)]
            when = start + dt.timedelta(minutes=7 * count)
            separator = b"From " + addr + b" " + when.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n"
            mid = f"{count}.{seed}.bench@{DOMAINS[count % len(DOMAINS)]}".encode()
            chunk = separator + body.replace(DATE, email.utils.format_datetime(when).encode()).replace(MID, mid) + b"\n"
            out.write(chunk)
            written += len(chunk)
            count += 1
    return count


def make_facebook(path: Path, messages: int) -> int:
    """Write a Facebook export zip of ``messages`` messages; returns the number written."""
    from tests.test_reader_facebook import mojibake, ms, msg, profile, thread

    rng = random.Random(11)
    owner = "Elena Rivera"
    threads = max(1, messages // THREAD_MESSAGES)
    written = 0
    texts = SENTENCES + ["ok thank you!", "See you tomorrow 👋", "Merci, à demain", "Is the café open after school?", "❤"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("profile_information/profile_information.json", json.dumps(profile(owner), indent=2))
        for t in range(threads):
            count = THREAD_MESSAGES if t < threads - 1 else messages - written
            other = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            name = f"{other.split()[0].lower()}_{1000 + t}".encode("ascii", "ignore").decode()
            base = f"messages/inbox/{name}"
            stamp = ms(2021 + t % 3, 3 + t % 6, 1 + t % 27)
            items = []
            for n in range(count):
                stamp += rng.randrange(60_000, 24 * 3_600_000)  # 1,000 messages span about two school years
                sender = owner if n % 2 else other
                if n % 100 == 99:
                    photo = f"{base}/photos/{t}_{n}_n.jpg"
                    items.append(msg(sender, stamp, photos=[{"uri": photo, "creation_timestamp": stamp // 1000}]))
                    archive.writestr(photo, b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(rng.randrange(256) for _ in range(2000)) + b"\xff\xd9")
                else:
                    extra = {"reactions": [{"reaction": mojibake("❤"), "actor": mojibake(owner)}]} if n % 13 == 0 else {}
                    items.append(msg(sender, stamp, rng.choice(texts), **extra))
            archive.writestr(f"{base}/message_1.json", json.dumps(thread(f"inbox/{name}", [other, owner], items), indent=2))
            written += count
    return written


# ---------------------------------------------------------------- children


def child_ours(path: Path, home: Path) -> dict[str, Any]:
    os.environ["RECORDS_HOME"] = str(home)
    os.environ.pop("RECORDS_DATABASE_URL", None)
    os.environ.pop("RECORDS_KEYSTORE", None)
    from records.flows.ingest import process_batch
    from records.intake.registry import readers
    from records.storage.installation import initialize, open_installation

    initialize(home, actor="system:bench")
    installation = open_installation(home)
    readers()  # the readers' imports are the process's start-up, left out as the bare side's are
    base = peak_mb()
    cpu, start = cpu_seconds(), time.perf_counter()
    children_cpu = _children_cpu()
    watch = _ReaderPeak()
    [report] = process_batch(installation, [path], actor="system:bench")
    seconds = time.perf_counter() - start
    # A large mbox is parsed by a child process (records/flows/stream_process.py): its CPU
    # time (it has ended and been waited for) and its peak memory are ours too.
    helper_mb = watch.stop()
    return {
        "seconds": seconds, "cpu_s": cpu_seconds() - cpu + _children_cpu() - children_cpu, "peak_mb": peak_mb() + helper_mb,
        "helper_mb": helper_mb, "base_mb": base, "status": report.status, "records": len(report.records), "reason": report.reason,
    }


class _ReaderPeak(threading.Thread):
    """The peaks (``VmHWM``) of this process's Python children, sampled twice a second.

    ``RUSAGE_CHILDREN`` cannot tell: it keeps one maximum over every child, and a
    subprocess forked from this process (a helper program run on an attachment) counts
    this process's own memory there.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, float] = {}
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for children in Path("/proc/self/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    if "multiprocessing" not in Path(f"/proc/{pid}/cmdline").read_text():
                        continue
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0.0), int(line.split()[1]) / 1024)

    def stop(self) -> float:
        """The reading processes' peaks added up: they run side by side (one large mbox
        is parsed by several, flows/stream_process.py), and each ran to its own peak."""
        self.done.set()
        self.join()
        return sum(self.peaks.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_bare(path: Path) -> dict[str, Any]:
    import mailbox

    base = peak_mb()
    cpu, start = cpu_seconds(), time.perf_counter()
    count = 0
    for message in mailbox.mbox(path):
        message.get_payload()
        message["Message-ID"]  # noqa: B018 - the header lookup is part of the floor
        count += 1
    return {"seconds": time.perf_counter() - start, "cpu_s": cpu_seconds() - cpu, "peak_mb": peak_mb(), "base_mb": base, "messages": count}


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-6000:], sep="\n", file=sys.stderr)
        return {"error": f"child exited {done.returncode}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mbox-mb", type=int, default=1024)
    parser.add_argument("--fb-messages", type=int, default=200_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, *rest = args.child
        result = child_ours(Path(path), Path(rest[0])) if kind == "ours" else child_bare(Path(path))
        print(json.dumps(result))
        return

    from records.flows.ingest import STREAM_CHUNK

    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="records-bench-exports-") as tmp:
        work = Path(tmp)
        free = shutil.disk_usage(work).free
        mbox_mb = args.mbox_mb
        if free < 3 * mbox_mb * 1024**2:
            mbox_mb = max(1, free // (3 * 1024**2) - 200)
            print(f"note: {free / 1024**3:.1f} GB free, not room for 3x {args.mbox_mb} MB: the mbox is {mbox_mb} MB instead")
        print(f"cores: {os.cpu_count()}; free disk {free / 1024**3:.1f} GB; generating inputs in {work} ...", flush=True)
        inputs = []
        for label, fraction in (("full", 1), ("quarter", 4)):
            start = time.perf_counter()
            path = work / f"bench-{label}.mbox"
            count = make_mbox(path, mbox_mb * 1024**2 // fraction)
            print(f"  mbox {label}: {path.stat().st_size / 1024**2:.0f} MB, {count} messages ({time.perf_counter() - start:.1f} s)", flush=True)
            inputs.append(("mbox", path, count))
        for label, fraction in (("full", 1), ("quarter", 4)):
            start = time.perf_counter()
            path = work / f"facebook-{label}.zip"
            count = make_facebook(path, args.fb_messages // fraction)
            print(f"  facebook {label}: {path.stat().st_size / 1024**2:.1f} MB, {count} messages ({time.perf_counter() - start:.1f} s)", flush=True)
            inputs.append(("facebook", path, count))

        rows = []
        for kind, path, count in inputs:
            home = work / "home"
            print(f"measuring {kind} {path.stat().st_size / 1024**2:.1f} MB (load average {os.getloadavg()[0]:.2f}): ours ...", end="", flush=True)
            ours = run_child("ours", str(path), str(home))
            shutil.rmtree(home, ignore_errors=True)
            print(f" {ours.get('seconds', float('nan')):.1f} s ({ours.get('cpu_s', float('nan')):.0f} s CPU)", end="", flush=True)
            bare = None
            if kind == "mbox":
                print("; bare ...", end="", flush=True)
                bare = run_child("bare", str(path))
                print(f" {bare.get('seconds', float('nan')):.1f} s ({bare.get('cpu_s', float('nan')):.0f} s CPU)", end="", flush=True)
            print(f"; load average now {os.getloadavg()[0]:.2f}", flush=True)
            rows.append((kind, path.stat().st_size, count, ours, bare))

    print()
    header = f"{'input':<10}{'size MB':>9}{'messages':>10}{'records':>9}{'ours s':>8}{'CPU %':>7}{'ours msg/s':>12}{'bare msg/s':>12}{'ours/bare':>11}{'by CPU':>8}{'ours peak MB':>14}{'(at start)':>12}{'(reader)':>10}  status"
    print(header)
    print("-" * len(header))
    for kind, size, count, ours, bare in rows:
        if "error" in ours:
            print(f"{kind:<10}{size / 1024**2:>9.0f}{count:>10}  ours FAILED: {ours['error']}")
            continue
        rate = count / ours["seconds"]
        bare_rate = bare["messages"] / bare["seconds"] if bare and "error" not in bare else None
        bare_cell = f"{bare_rate:>12.0f}" if bare_rate else f"{'-' if bare is None else 'FAILED':>12}"
        ratio_cell = f"{rate / bare_rate:>11.2f}" if bare_rate else f"{'-':>11}"
        cpu_cell = f"{bare['cpu_s'] / ours['cpu_s']:>8.2f}" if bare_rate else f"{'-':>8}"
        status = ours["status"] + (f" ({ours['reason']})" if ours.get("reason") else "")
        print(f"{kind:<10}{size / 1024**2:>9.1f}{count:>10}{ours['records']:>9}{ours['seconds']:>8.1f}{100 * ours['cpu_s'] / ours['seconds']:>7.0f}{rate:>12.0f}{bare_cell}{ratio_cell}{cpu_cell}{ours['peak_mb']:>14.0f}{ours['base_mb']:>12.0f}{ours.get('helper_mb', 0):>10.0f}  {status}")
        if bare and "error" in bare:
            print(f"{'':<10}bare FAILED: {bare['error']}")
    print()

    verdicts = []
    for kind in ("mbox", "facebook"):
        full, quarter = [r for r in rows if r[0] == kind]
        if "error" in full[3] or "error" in quarter[3]:
            verdicts.append(f"{kind}: memory growth not measured (a run failed)")
            continue
        growth = full[3]["peak_mb"] / quarter[3]["peak_mb"]
        above = (full[3]["peak_mb"] - full[3]["base_mb"]) / max(1.0, quarter[3]["peak_mb"] - quarter[3]["base_mb"])
        met = "MET" if growth <= MEMORY_TARGET else "NOT MET"
        verdicts.append(f"{kind}: memory growth (peak full / peak quarter) {growth:.2f} (above start-up: {above:.2f}), target <= {MEMORY_TARGET}: {met}")
    verdicts.append(f"  (a stream is committed in chunks of {STREAM_CHUNK} items: an input of fewer than a few chunks has not reached its plateau)")
    for _, size, count, ours, bare in (r for r in rows if r[0] == "mbox"):
        if "error" in ours or not bare or "error" in bare:
            verdicts.append(f"mbox {size / 1024**2:.0f} MB: rate not compared (a run failed)")
            continue
        ratio = (count / ours["seconds"]) / (bare["messages"] / bare["seconds"])
        by_cpu = bare["cpu_s"] / ours["cpu_s"]
        met = "MET" if ratio >= RATE_TARGET else "NOT MET"
        verdicts.append(f"mbox {size / 1024**2:.0f} MB: ours/bare rate {ratio:.2f} (by CPU time {by_cpu:.2f}), target >= {RATE_TARGET}: {met}")
    print("\n".join(verdicts))
    print(f"\nwall time: {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
