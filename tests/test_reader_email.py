"""Email readers: single messages, Outlook .msg and streamed mbox files.

Fixtures are written in the test with ``email.message.EmailMessage`` (a .msg cannot be
written easily: the real samples under ``/work/shared/corpus/msg-extractor`` are used when
present). The corpus test runs every public sample through the whole intake pipeline.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import os
import random
import time
import tracemalloc
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from types import GeneratorType

import pytest

from records.intake.model import Item, Quarantine, ReadOptions
from records.intake.origin import subject_sha256
from records.intake.registry import choose, sniff
from records.intake.readers.email_message import EmailReader, item_from_message_bytes, loose_date
from records.intake.readers.mbox import MboxReader, split_mbox
from records.intake.readers.outlook_msg import OutlookMsgReader

CORPUS = Path(os.environ.get("RECORDS_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
UTC = dt.UTC


def make_email(
    *,
    sender: str = "Ana Rivera <Ana.Rivera@Example.net>",
    to: str = "Ms. Baker <jbaker@school.example.org>",
    cc: str | None = None,
    subject: str = "Field trip form",
    date: str | None = "Mon, 06 Mar 2023 08:14:00 -0500",
    message_id: str | None = "<abc123@mail.example.net>",
    body: str = "Hello, the field trip form is attached.\n",
    received: list[str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    for value in received or []:
        message["Received"] = value
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    if date:
        message["Date"] = date
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    return message


def read_email(tmp_path: Path, data: bytes, name: str = "message") -> tuple[Item, list[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    found = sniff(path)
    extraction = EmailReader().read(found, ReadOptions())
    assert extraction.reader == "email"
    return extraction.items[0], extraction.problems


# --------------------------------------------------------------------------- single emails


def test_plain_email(tmp_path: Path) -> None:
    raw = make_email(cc="Counselor <Counselor@School.example.org>").as_bytes()
    item, problems = read_email(tmp_path, raw)
    assert problems == []
    assert item.format == "email"
    assert item.locator == "<abc123@mail.example.net>"
    assert item.dedupe_key == "email:<abc123@mail.example.net>"
    assert item.sent_at_last == dt.datetime(2023, 3, 6, 13, 14, tzinfo=UTC)
    assert item.sent_at_first == item.sent_at_last
    assert item.sent_at_last.utcoffset() == dt.timedelta(0)
    people = [(p.name, p.address) for p in item.participants]
    assert people == [
        ("Ana Rivera", "ana.rivera@example.net"),
        ("Ms. Baker", "jbaker@school.example.org"),
        ("Counselor", "counselor@school.example.org"),
    ]
    assert item.text.startswith("From: Ana Rivera <Ana.Rivera@Example.net>\nTo: Ms. Baker")
    assert "Subject: Field trip form" in item.text
    assert item.text.rstrip().endswith("the field trip form is attached.")
    assert item.content == raw
    assert item.forwarded_from is None
    assert item.children == []


def test_no_date_uses_newest_received(tmp_path: Path) -> None:
    received = [
        "from mx2.example.org by mx3.example.org; Tue, 07 Mar 2023 10:00:05 -0500",  # newest, on top
        "from mx1.example.org by mx2.example.org; Tue, 07 Mar 2023 09:59:58 -0500",
    ]
    item, _ = read_email(tmp_path, make_email(date=None, received=received).as_bytes())
    assert item.sent_at_last == dt.datetime(2023, 3, 7, 15, 0, 5, tzinfo=UTC)
    fallback = [e for e in item.evidence if e.kind == "date_fallback"]
    assert fallback and fallback[0].detail == "no Date header; newest Received time used" and fallback[0].weight == 0.6


def test_unparseable_date_uses_received(tmp_path: Path) -> None:
    received = ["from a by b; Tue, 07 Mar 2023 10:00:05 -0500"]
    item, _ = read_email(tmp_path, make_email(date="yesterday-ish", received=received).as_bytes())
    assert item.sent_at_last == dt.datetime(2023, 3, 7, 15, 0, 5, tzinfo=UTC)
    assert any(e.kind == "date_fallback" for e in item.evidence)


def test_no_message_id_uses_sha256(tmp_path: Path) -> None:
    raw = make_email(message_id=None).as_bytes()
    item, _ = read_email(tmp_path, raw)
    assert item.locator == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert item.dedupe_key == "email:" + item.locator


def test_encoded_words_and_mislabelled_charset(tmp_path: Path) -> None:
    raw = (
        b"From: =?utf-8?q?Rivera=2C_Ana?= <ana@example.net>\n"
        b"To: =?iso-8859-1?q?Jos=E9?= <jose@example.net>\n"
        b"Subject: =?utf-8?b?Q2Fmw6k=?= =?utf-8?b?IG1lbnU=?=\n"
        b"Date: Mon, 06 Mar 2023 08:14:00 -0500\n"
        b"Message-ID: <cs@example.net>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n\n"
        b"Le caf\xc3\xa9 est ferm\xc3\xa9 demain.\n"  # UTF-8 bytes labelled Latin-1
    )
    item, _ = read_email(tmp_path, raw)
    assert ("Rivera, Ana", "ana@example.net") in [(p.name, p.address) for p in item.participants]
    assert ("José", "jose@example.net") in [(p.name, p.address) for p in item.participants]
    assert "Subject: Café menu" in item.text
    assert "Le café est fermé demain." in item.text


def test_html_only_body(tmp_path: Path) -> None:
    message = make_email()
    message.set_content(
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
        "<body><p>Dear family,</p><p>Report cards &amp; conferences are <b>next week</b>.</p></body></html>",
        subtype="html",
    )
    item, _ = read_email(tmp_path, message.as_bytes())
    body = item.text.split("\n\n", 1)[1]
    assert "Dear family," in body and "Report cards & conferences are next week." in body
    assert "alert" not in body and "color" not in body and "<p>" not in body


def test_attachments_become_children(tmp_path: Path) -> None:
    message = make_email()
    message.add_attachment(PDF_BYTES, maintype="application", subtype="pdf", filename="name.pdf")
    message.add_attachment(b"\x78\x9f\x3e\x22tnef", maintype="application", subtype="ms-tnef", filename="winmail.dat")
    inner = make_email(
        sender="Principal <principal@school.example.org>", subject="Original notice", message_id="<inner@school.example.org>", body="Inner body.\n"
    )
    message.add_attachment(inner, filename="notice.eml")
    message.add_attachment(b"grades", maintype="application", subtype="octet-stream", filename="../../Notas de d\u00e9cembre.xlsx")
    item, problems = read_email(tmp_path, message.as_bytes())
    assert problems == []
    by_name = {child.name: child for child in item.children}
    assert list(by_name) == ["name.pdf", "winmail.dat", "notice.eml", "Notas de décembre.xlsx"]
    pdf = by_name["name.pdf"]
    assert pdf.format == "attachment" and pdf.locator == "<abc123@mail.example.net>/name.pdf"
    assert pdf.content == PDF_BYTES and pdf.text == ""
    assert by_name["winmail.dat"].content == b"\x78\x9f\x3e\x22tnef"
    nested = by_name["notice.eml"]
    assert nested.locator == "<abc123@mail.example.net>/notice.eml"
    assert nested.dedupe_key == "email:<inner@school.example.org>"
    assert "Inner body." in nested.text
    assert ("Principal", "principal@school.example.org") in [(p.name, p.address) for p in nested.participants]
    assert isinstance(nested.content, bytes) and b"Inner body." in nested.content
    # RFC 2231 encoded name with a path: folders dropped, characters kept
    assert by_name["Notas de décembre.xlsx"].locator.endswith("/Notas de décembre.xlsx")


def test_nested_messages_are_bounded() -> None:
    inner = make_email(message_id="<level-0@example.org>")
    for level in range(1, 14):
        outer = make_email(message_id=f"<level-{level}@example.org>", subject=f"level {level}")
        outer.add_attachment(inner, filename=f"level-{level - 1}.eml")
        inner = outer
    problems: list[str] = []
    item = item_from_message_bytes(inner.as_bytes(), "email", problems)
    depth, node = 0, item
    while node.children:
        node, depth = node.children[0], depth + 1
    assert 9 <= depth <= 13
    assert any("nested deeper" in p for p in problems)


# --------------------------------------------------------------------------- forwards


def _forward_checks(item: Item, original_sender: str, original_utc: dt.datetime, subject: str) -> None:
    assert item.sent_at_first == original_utc
    assert item.sent_at_last == dt.datetime(2023, 3, 8, 14, 0, tzinfo=UTC)
    assert item.forwarded_from == {"sender": original_sender, "sent_at": original_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "subject_sha256": subject_sha256(subject)}
    assert original_sender in [p.address for p in item.participants]
    forward = [e for e in item.evidence if e.kind == "forward"]
    assert forward and forward[0].weight == 0.9
    assert subject.lower() not in str(item.forwarded_from).lower()


def test_forward_gmail_style(tmp_path: Path) -> None:
    body = (
        "FYI, see below.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Ana Rivera <ana.rivera@example.net>\n"
        "Date: Mon, Mar 6, 2023 at 8:14\u202fAM\n"
        "Subject: Bus schedule\n"
        "To: <jbaker@school.example.org>\n\n"
        "Is the bus leaving at 7?\n"
    )
    raw = make_email(
        sender="Ms. Baker <jbaker@school.example.org>", to="office@school.example.org", subject="Fwd: Bus schedule",
        date="Wed, 08 Mar 2023 09:00:00 -0500", body=body,
    ).as_bytes()  # fmt: skip
    item, _ = read_email(tmp_path, raw)
    _forward_checks(item, "ana.rivera@example.net", dt.datetime(2023, 3, 6, 13, 14, tzinfo=UTC), "Bus schedule")
    assert [e.detail for e in item.evidence if e.kind == "forward"] == ["quoted original header block at line 4"]
    assert item.locator == "<abc123@mail.example.net>"  # the outer message's id


def test_forward_outlook_style(tmp_path: Path) -> None:
    body = (
        "Please handle.\n\n"
        "-----Original Message-----\n"
        "From: Rivera, Ana [mailto:Ana.Rivera@example.net]\n"
        "Sent: Monday, March 6, 2023 8:14 AM\n"
        "To: Baker, Jane <jbaker@school.example.org>; Office <office@school.example.org>\n"
        "Subject: RE: Bus schedule\n\n"
        "Is the bus leaving at 7?\n"
    )
    raw = make_email(
        sender="Baker, Jane <jbaker@school.example.org>", to="nurse@school.example.org", subject="FW: Bus schedule",
        date="Wed, 08 Mar 2023 09:00:00 -0500", body=body,
    ).as_bytes()  # fmt: skip
    item, _ = read_email(tmp_path, raw)
    _forward_checks(item, "ana.rivera@example.net", dt.datetime(2023, 3, 6, 13, 14, tzinfo=UTC), "Bus schedule")
    assert ("Rivera, Ana", "ana.rivera@example.net") in [(p.name, p.address) for p in item.participants]


def test_forward_with_attached_original(tmp_path: Path) -> None:
    original = make_email(subject="Bus schedule", date="Mon, 06 Mar 2023 08:14:00 -0500", message_id="<orig@example.net>")
    forward = make_email(
        sender="Ms. Baker <jbaker@school.example.org>", to="office@school.example.org", subject="Fwd: Bus schedule",
        date="Wed, 08 Mar 2023 09:00:00 -0500", body="See attached.\n", message_id="<fwd@school.example.org>",
    )  # fmt: skip
    forward.add_attachment(original, filename="Bus schedule.eml")
    item, _ = read_email(tmp_path, forward.as_bytes())
    _forward_checks(item, "ana.rivera@example.net", dt.datetime(2023, 3, 6, 13, 14, tzinfo=UTC), "Bus schedule")
    assert item.children[0].locator == "<fwd@school.example.org>/Bus schedule.eml"


def test_loose_quoted_dates() -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    assert loose_date("March 6, 2023 at 8:14:00 AM PST", eastern) == dt.datetime(2023, 3, 6, 16, 14, tzinfo=UTC)
    assert loose_date("3/6/2023 8:14 PM", eastern) == dt.datetime(2023, 3, 7, 1, 14, tzinfo=UTC)
    assert loose_date("Mon, 6 Mar 2023 08:14:00 +0000", eastern) == dt.datetime(2023, 3, 6, 8, 14, tzinfo=UTC)
    assert loose_date("not a date", eastern) is None


# --------------------------------------------------------------------------- hostile input


def test_damaged_email_is_quarantined() -> None:
    with pytest.raises(Quarantine) as stop:
        item_from_message_bytes(b"\n\n\n", "email")
    assert stop.value.kind == "damaged" and stop.value.reason.startswith("email damaged:")


def hostile_emails() -> dict[str, bytes]:
    """Messages built to make the email package slow or hungry (bench/hostile.py times them)."""
    deep = b"From: a@b.example\nMIME-Version: 1.0\n"
    deep += b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(2000))
    deep += b"Content-Type: text/plain\n\nhi\n"
    many = b"From: a@b.example\nContent-Type: multipart/mixed; boundary=x\n\n" + b"".join(
        b"--x\nContent-Type: application/octet-stream\n\nx\n" for _ in range(20_000)
    )
    wide = b"From: a@b.example\nContent-Type: multipart/mixed; boundary=x; " + b"a=b; " * 20_000 + b"\n\n--x\n\nhi\n--x--\n"
    return {"deep": deep, "many": many, "wide": wide}


HOSTILE_REASONS = {
    "deep": ("email nests its parts too deeply to read safely", True),  # (reason, reaches the parser)
    "many": ("email has more than 5000 MIME boundary lines; it cannot be read safely", False),
    "wide": ("email has a content header longer than 16 KB; it cannot be read safely", False),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_REASONS))
def test_hostile_emails_are_bounded(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each is quarantined with the bound it broke; the two that the email package handles
    quadratically never reach it (the bound is on the bytes, before parsing)."""
    from records.intake.readers import email_message

    parsed: list[int] = []
    real = email_message.BytesParser.parsebytes

    def counting(self: object, *args: object, **kwargs: object) -> object:
        parsed.append(1)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(email_message.BytesParser, "parsebytes", counting)
    reason, reaches_parser = HOSTILE_REASONS[name]
    with pytest.raises(Quarantine) as stop:
        item_from_message_bytes(hostile_emails()[name], "email")
    assert (stop.value.kind, stop.value.reason) == ("too_large", reason)
    assert bool(parsed) is reaches_parser


def huge_headers() -> bytes:
    recipients = ", ".join(f"Parent {i} <p{i}@example.net>" for i in range(20_000))
    words = " ".join(["=?utf-8?q?x?="] * 100_000)
    return f"From: a@b.example\nTo: {recipients}\nSubject: {words}\nDate: Mon, 06 Mar 2023 08:14:00 -0500\n\nbody\n".encode()


def test_huge_headers_are_read_whole() -> None:
    """20,000 recipients and 100,000 encoded words: every participant kept, the subject
    decoded (the time this takes is printed by bench/hostile.py)."""
    item = item_from_message_bytes(huge_headers(), "email")
    assert len(item.participants) == 20_001
    assert "Subject: " + "x" * 100 in item.text


def test_many_attachments_are_capped() -> None:
    message = make_email()
    for i in range(230):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    problems: list[str] = []
    item = item_from_message_bytes(message.as_bytes(), "email", problems)
    assert len(item.children) == 200
    assert any("30 attachment(s) beyond the first 200" in p for p in problems)


# --------------------------------------------------------------------------- mbox


def mbox_bytes(messages: list[bytes], *, crlf: bool = False) -> bytes:
    out = []
    for n, raw in enumerate(messages):
        out.append(f"From sender{n}@example.net Tue Aug 08 12:36:29 +0000 2023\n".encode())
        out.append(raw.replace(b"\r\n", b"\n"))
        if not raw.endswith(b"\n"):
            out.append(b"\n")
        out.append(b"\n")
    data = b"".join(out)
    return data.replace(b"\n", b"\r\n") if crlf else data


def read_mbox(tmp_path: Path, data: bytes) -> tuple[list[Item], list[str], object]:
    path = tmp_path / "All mail Including Spam and Trash.mbox"
    path.write_bytes(data)
    found = sniff(path)
    assert isinstance(choose(found), MboxReader)
    extraction = MboxReader().read(found, ReadOptions())
    items = extraction.items
    return list(items), extraction.problems, items


def test_mbox_three_messages_crlf_and_from_quoting(tmp_path: Path) -> None:
    first = make_email(message_id="<m1@example.net>", body="First.\n\n>From the office: bring lunch.\n")
    second = make_email(message_id="<m2@example.net>", date="Tue, 07 Mar 2023 08:00:00 -0500", body="Second.\n")
    third = make_email(message_id=None, date="Wed, 08 Mar 2023 08:00:00 -0500", body="Third.\n")
    items, problems, lazy = read_mbox(tmp_path, mbox_bytes([first.as_bytes(), second.as_bytes(), third.as_bytes()], crlf=True))
    assert isinstance(lazy, GeneratorType)
    assert problems == []
    assert [i.format for i in items] == ["mbox-message"] * 3
    assert [i.locator for i in items[:2]] == ["<m1@example.net>", "<m2@example.net>"]
    assert items[2].locator.startswith("sha256:")
    assert items[2].locator == "sha256:" + hashlib.sha256(items[2].content).hexdigest()  # type: ignore[arg-type]
    assert "\nFrom the office: bring lunch." in items[0].text and "\r" not in items[0].text
    assert [i.sent_at_last.day for i in items if i.sent_at_last] == [6, 7, 8]
    assert all(isinstance(i.content, bytes) and not i.content.startswith(b"From ") for i in items)
    assert items[0].content.endswith(b"\r\n") and not items[0].content.endswith(b"\r\n\r\n")  # type: ignore[union-attr]


def test_mbox_takeout_headers_and_separator_date(tmp_path: Path) -> None:
    message = make_email(date=None, received=["from mx.google.com by x; Fri, 04 Aug 2023 10:00:00 -0400"], message_id="<t@example.net>")
    raw = b"X-GM-THRID: 1773664405479613283\nX-Gmail-Labels: Inbox,Opened,\"Students, 2023\"\n" + message.as_bytes()
    body = "Note for the file.\n\nFrom my point of view the plan is fine.\nThanks\n"  # an unquoted "From " in prose
    other = make_email(message_id="<u@example.net>", body=body).as_bytes()
    items, problems, _ = read_mbox(tmp_path, mbox_bytes([raw, other]))
    assert problems == [] and len(items) == 2
    assert "X-GM" not in items[0].text and "Gmail-Labels" not in items[0].text and "Students, 2023" not in items[0].text
    assert items[0].sent_at_last == dt.datetime(2023, 8, 4, 14, 0, tzinfo=UTC)  # Received, never the separator's date
    assert "From my point of view the plan is fine." in items[1].text


def test_mbox_broken_message_is_a_problem(tmp_path: Path) -> None:
    good = [make_email(message_id=f"<g{n}@example.net>").as_bytes() for n in range(3)]
    broken = b"\x00\x01\x02 this is not an email at all \xff\xfe\n\x00\x00\n"
    data = mbox_bytes([good[0], broken, good[1], good[2]])
    path = tmp_path / "mail.mbox"
    path.write_bytes(data)
    from records.intake.pipeline import extract

    items, problems, _ = read_mbox(tmp_path, data)
    assert [i.locator for i in items] == ["<g0@example.net>", "<g1@example.net>", "<g2@example.net>"]
    assert len(problems) == 1 and problems[0].startswith("message 2 (byte offset ")
    assert "could not be read" in problems[0]
    offset = int(problems[0].split("byte offset ")[1].split(")")[0])
    assert data[offset:].startswith(b"From sender1@example.net")
    result = extract(path, ReadOptions())
    assert result.status == "partial" and "message 2" in (result.reason or "")


def test_mbox_through_the_pipeline(tmp_path: Path) -> None:
    from records.intake.pipeline import extract

    path = tmp_path / "takeout.mbox"
    path.write_bytes(mbox_bytes([make_email(message_id=f"<p{n}@example.net>").as_bytes() for n in range(3)]))
    result = extract(path, ReadOptions())
    assert result.status == "ingested" and result.extraction is not None
    assert [i.locator for i in result.extraction.items] == ["<p0@example.net>", "<p1@example.net>", "<p2@example.net>"]


def test_mbox_with_no_readable_message_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "bad.mbox"
    path.write_bytes(b"From x@example.net Tue Aug 08 12:36:29 +0000 2023\nSubject: hi\nFrom: a@b.example\n")
    found = sniff(path)
    path.write_bytes(b"From x@example.net Tue Aug 08 12:36:29 +0000 2023\n\x00\x00\n")  # content gone after sniffing
    found = type(found)(path=path, size=path.stat().st_size, mime=found.mime, description=found.description, head=found.head)
    with pytest.raises(Quarantine) as stop:
        MboxReader().read(found, ReadOptions())
    assert stop.value.kind == "damaged" and "no message could be read" in stop.value.reason


def _in_turn(reader: MboxReader, found: object, parts: int) -> object:
    """Every part's outcomes taken in turn, as the ingest takes them from its reading processes."""
    streams = [reader.read_part(found, ReadOptions(), part, parts) for part in range(parts)]  # type: ignore[arg-type]
    number = 0
    while True:
        outcome = next(streams[number % parts], None)
        if outcome is None:
            return
        number += 1
        assert outcome.number == number
        yield outcome


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_mbox_read_in_parts_and_assembled_is_read_whole(tmp_path: Path, parts: int) -> None:
    """Several processes parsing every n-th message give, put back together, what one gives:
    the same items in order, the same problems (the cap on listed problems included), the
    same quarantine when no message is readable."""
    broken = b"\x00\x01 not an email \xff\n"
    messages = []
    for n in range(200):
        messages.append(make_email(message_id=f"<m{n}@example.net>", body=f"Note {n}.\n").as_bytes() if n % 3 == 0 else broken)
    path = tmp_path / "mail.mbox"
    path.write_bytes(mbox_bytes(messages))
    found = sniff(path)
    reader = MboxReader()
    whole = reader.read(found, ReadOptions())
    whole_items = list(whole.items)
    assembled = reader.assemble(found, _in_turn(reader, found, parts))  # type: ignore[arg-type]
    items = list(assembled.items)
    assert [(i.locator, i.text, i.content) for i in items] == [(i.locator, i.text, i.content) for i in whole_items]
    assert len(items) == 67
    assert assembled.problems == whole.problems and len(assembled.problems) == 101  # 100 listed, then a count
    assert assembled.problems[-1] == "and 33 more message problem(s) not listed"
    assert assembled.detected == whole.detected

    path.write_bytes(mbox_bytes([broken] * 4))
    with pytest.raises(Quarantine) as alone:
        reader.read(found, ReadOptions())
    with pytest.raises(Quarantine) as together:
        reader.assemble(found, _in_turn(reader, found, parts))  # type: ignore[arg-type]
    assert together.value.reason == alone.value.reason and "message 1 (byte offset 0)" in alone.value.reason


_MBOX_LINES = [
    b"From a@b Tue Aug 08 12:36:29 2023\n", b"From a@b Tue Aug 08 12:36:29 2023\r\n", b"From my desk\n", b"From x\n", b"From \n",
    b">From y\n", b">>From z\n", b">>>>>>>>>>>>>>>>>From q\n", b"> quoted\n", b"Subject: s\n", b"X-Foo: 1\n", b"Received: r\n",
    b"Subject" * 5 + b": long\n", b"\n", b"\r\n", b"\n\n", b"\r", b"body line\n", b"A" * 39 + b"\n", b">", b"From", b"x",
    b"From a Mon Jan 1 2020",
]


def _random_mbox(rng: random.Random) -> bytes:
    """Lines that matter to the cutting (separators true and false, quoted From, blank lines,
    CR, long lines, no final newline), mixed with random bytes of the same alphabet."""
    parts = []
    for _ in range(rng.randrange(0, 40)):
        roll = rng.random()
        if roll < 0.85:
            parts.append(rng.choice(_MBOX_LINES))
        elif roll < 0.95:
            parts.append(bytes(rng.choice(b"ab\n\r>From :") for _ in range(rng.randrange(1, 30))))
        else:
            parts.append(b"L" * rng.randrange(1, 70) + rng.choice([b"\n", b"\r\n", b""]))
    return b"".join(parts)


def test_split_mbox_cuts_every_input_as_reading_line_by_line_did(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block splitter gives the same messages, offsets and limits as one ``readline``
    at a time (tests/mbox_reference.py), with lines and blocks made tiny so that long
    lines, pieces and block edges come up in every input."""
    import io

    from records.intake.readers import mbox
    from tests.mbox_reference import lines_split_mbox

    rng = random.Random(20261130)
    for _ in range(6000):
        data = _random_mbox(rng)
        monkeypatch.setattr(mbox, "MAX_LINE", rng.choice([4, 6, 8, 12, 33, 1024 * 1024]))
        monkeypatch.setattr(mbox, "BLOCK", rng.choice([1, 3, 7, 16, 64, 4 * 1024 * 1024]))
        limit = rng.choice([5, 20, 60, 10**9])
        expected = [(m.number, m.offset, m.data) for m in lines_split_mbox(io.BytesIO(data), limit)]
        assert [(m.number, m.offset, m.data) for m in split_mbox(io.BytesIO(data), limit)] == expected, data


def test_split_mbox_handles_long_lines_and_missing_final_newline(tmp_path: Path) -> None:
    long_line = b"A" * (3 * 1024 * 1024)
    data = b"From a Tue Aug 08 12:36:29 2023\nSubject: one\n\n" + long_line + b"\n\nFrom b Tue Aug 08 12:36:29 2023\nSubject: two\n\nend"
    path = tmp_path / "m.mbox"
    path.write_bytes(data)
    with path.open("rb") as handle:
        parts = list(split_mbox(handle))
    assert [p.number for p in parts] == [1, 2]
    assert parts[0].data == b"Subject: one\n\n" + long_line + b"\n"
    assert parts[1].data == b"Subject: two\n\nend"


def test_mbox_streams_in_flat_memory(tmp_path: Path) -> None:
    # 20,000 messages (the brief's fallback from 50,000): tracemalloc slows email parsing
    # 2-4x, and 50,000 messages took ~105 s traced. Bodies are 8bit lines of ~970
    # characters so the file passes 100 MB with few lines per message (~30 s traced).
    count = 20_000
    template = make_email(message_id="<MSGID@example.net>")
    template.set_content(("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 17 + "\n") * 6, cte="8bit")
    template = template.as_bytes()
    path = tmp_path / "big.mbox"
    with path.open("wb") as handle:
        for n in range(count):
            handle.write(b"From sender@example.net Tue Aug 08 12:36:29 +0000 2023\n")
            handle.write(template.replace(b"MSGID", b"m%d" % n))
            handle.write(b"\n")
    size = path.stat().st_size
    assert size > 100 * 1024 * 1024
    found = sniff(path)
    started = time.monotonic()
    tracemalloc.start()
    try:
        extraction = MboxReader().read(found, ReadOptions())
        seen = 0
        last = None
        for item in extraction.items:
            seen += 1
            last = item.locator
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    print(f"\nmbox streaming: {count} messages, {size / 1024**2:.0f} MB, tracemalloc peak {peak / 1024**2:.1f} MB, {elapsed:.1f} s")
    assert seen == count and last == f"<m{count - 1}@example.net>"
    assert extraction.problems == []
    assert peak < 30 * 1024 * 1024


# --------------------------------------------------------------------------- detection


def test_detection_email_without_extension_and_text_plain(tmp_path: Path) -> None:
    message = EmailMessage()
    message["MIME-Version"] = "1.0"
    message["From"] = "Barry <barry@example.org>"
    message["To"] = "Dingus Lovers <cravindogs@example.org>"
    message["Subject"] = "Here is your dingus fish"
    message["Date"] = "Fri, 20 Apr 2001 19:35:02 -0400"
    message.set_content("Hi there,\n\nThis is the dingus fish.\n")
    path = tmp_path / "saved_message"
    path.write_bytes(message.as_bytes())
    found = sniff(path)
    assert found.mime == "text/plain"  # libmagic does not call it an email
    assert isinstance(choose(found), EmailReader)


def test_detection_plain_text_note_is_not_an_email(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text(
        "Notes from the parent meeting\n\nFrom the start the parent was worried about the bus.\n"
        "Date of next meeting: to be decided.\nSubject matter: transport.\n"
    )
    found = sniff(path)
    try:
        chosen = choose(found)
    except Quarantine:
        return
    assert not isinstance(chosen, (EmailReader, MboxReader))


def test_detection_mbox_beats_email(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    path.write_bytes(mbox_bytes([make_email().as_bytes()]))
    found = sniff(path)
    assert EmailReader().score(found) < MboxReader().score(found)
    assert isinstance(choose(found), MboxReader)


# --------------------------------------------------------------------------- Outlook .msg


def _msg_sample(name: str) -> Path:
    path = CORPUS / "msg-extractor" / name
    if not path.exists():
        pytest.skip(f"no .msg sample at {path}: a .msg cannot be written in the test")
    return path


def test_outlook_msg_unicode_sample() -> None:
    found = sniff(_msg_sample("unicode.msg"))
    assert isinstance(choose(found), OutlookMsgReader)
    extraction = OutlookMsgReader().read(found, ReadOptions())
    item = extraction.items[0]
    assert item.format == "msg"
    assert item.locator == "<CADtJ4eNjQSkGcBtVteCiTF+YFG89+AcHxK3QZ=-Mt48xygkvdQ@mail.gmail.com>"
    assert item.dedupe_key == "email:" + item.locator
    assert item.sent_at_last == dt.datetime(2013, 11, 18, 8, 26, 24, tzinfo=UTC)
    assert ("Brian Zhou", "brizhou@gmail.com") in [(p.name, p.address) for p in item.participants]
    assert "brianzhou@me.com" in [p.address for p in item.participants]
    assert "Subject: Test for TIF files" in item.text and "MS Outlook MSG Extractor" in item.text
    assert [c.locator for c in item.children] == [f"{item.locator}/import OleFileIO.tif", f"{item.locator}/raised value error.tif"]
    assert all(c.format == "attachment" and isinstance(c.content, bytes) and len(c.content) > 1000 for c in item.children)
    assert item.content == found.path.read_bytes()


def test_outlook_msg_strange_date_falls_back() -> None:
    found = sniff(_msg_sample("strangeDate.msg"))
    item = OutlookMsgReader().read(found, ReadOptions()).items[0]
    assert item.locator == "sha256:" + hashlib.sha256(found.path.read_bytes()).hexdigest()
    assert item.sent_at_last is not None and item.sent_at_last.year == 2016
    assert [e.kind for e in item.evidence if e.kind.startswith("date")] == ["date_fallback"]
    assert "time2talk@online-convert.com" in [p.address for p in item.participants]


def test_outlook_msg_damaged_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "cut.msg"
    path.write_bytes(_msg_sample("unicode.msg").read_bytes()[:6000])
    from records.intake.pipeline import extract

    result = extract(path, ReadOptions())
    assert result.status == "quarantined" and result.quarantine is not None
    assert result.quarantine.reason
    if result.extraction is None and result.quarantine.kind == "damaged":
        assert "Outlook message damaged" in result.quarantine.reason or "could not" in result.quarantine.reason


# --------------------------------------------------------------------------- public corpus

CORPORA = ("cpython-test_email", "SpamScope-mail-parser", "msg-extractor")


def _corpus_files() -> list[Path]:
    return sorted(p for name in CORPORA if (CORPUS / name).is_dir() for p in (CORPUS / name).rglob("*") if p.is_file())


_OUTCOMES: Counter[tuple[str, str]] = Counter()


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no public corpus at {CORPUS}")
@pytest.mark.parametrize("path", _corpus_files() or [None], ids=lambda p: str(p.relative_to(CORPUS)) if p else "none")
def test_corpus_file_ends_well(path: Path | None) -> None:
    if path is None:
        pytest.skip("none of the email corpora is present")
    from records.intake.pipeline import extract

    started = time.monotonic()
    result = extract(path, ReadOptions())
    elapsed = time.monotonic() - started
    reader = result.extraction.reader if result.extraction else "-"
    reason = result.quarantine.reason if result.quarantine else (result.reason or "")
    print(f"\n{path.relative_to(CORPUS)!s:60} {result.status:11} {reader:6} {elapsed:5.2f}s {reason[:80]}")
    _OUTCOMES[(path.relative_to(CORPUS).parts[0], result.status)] += 1
    assert result.status in ("ingested", "partial", "quarantined")
    if result.status == "quarantined":
        assert result.quarantine is not None and result.quarantine.reason.strip()
        assert result.quarantine.kind in ("damaged", "unsupported", "too_large", "empty", "encrypted", "timeout")
        assert not reason.startswith("could not be"), "a reader raised instead of quarantining with a reason"
    else:
        assert result.extraction is not None and result.extraction.items
    assert elapsed < 60


@pytest.fixture(scope="module", autouse=True)
def _corpus_summary() -> object:
    yield
    if _OUTCOMES:
        print("\ncorpus summary (this worker):")
        for (corpus, status), n in sorted(_OUTCOMES.items()):
            print(f"  {corpus:28} {status:12} {n}")


def test_email_policy_is_default() -> None:
    # item_from_message_bytes parses with policy.default: a non-ASCII header survives.
    message = make_email(subject="Réunion parents-professeurs")
    item = item_from_message_bytes(message.as_bytes(policy=email.policy.default), "email")
    assert "Subject: Réunion parents-professeurs" in item.text


def test_parsed_headers_answer_after_a_change() -> None:
    """Parsed messages answer header look-ups from an index (mbox speed); a delete then a
    set keeps the header count, and must not leave the index pointing at another header."""
    import email

    from records.intake.readers.email_message import POLICY

    message = email.message_from_bytes(b"From: a@example.org\r\nSubject: one\r\nContent-Type: text/plain\r\n\r\nbody\r\n", policy=POLICY)
    assert message.get("subject") == "one" and "content-type" in message
    del message["Subject"]
    message["X-Note"] = "two"
    assert message.get("subject") is None and "subject" not in message
    assert message.get("x-note") == "two" and message.get("content-type") == "text/plain"
    message.replace_header("X-Note", "three")
    assert message["x-note"] == "three"


def test_origin_key_keeps_its_spelling() -> None:
    """Keys already in the catalog must still match: sender lower-cased, the minute in UTC
    as ``YYYY-MM-DDTHH:MM`` (a year before 1000 unpadded, as it was written), the subject's hash."""
    import hashlib

    from records.intake.origin import origin_key

    def expected(line: str) -> str:
        return hashlib.sha256(line.encode()).hexdigest()

    when = dt.datetime(2024, 10, 1, 9, 5, 59, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert origin_key(" Ana@Example.NET ", when, "abc") == expected("ana@example.net|2024-10-01T13:05|abc")
    assert origin_key("a@b.example", "2024-10-01T13:05:59Z", "abc") == expected("a@b.example|2024-10-01T13:05|abc")
    assert origin_key("a@b.example", dt.datetime(151, 7, 21, 20, 41, tzinfo=UTC), "abc") == expected("a@b.example|151-07-21T20:41|abc")
    assert origin_key("a@b.example", None, "abc") is None
