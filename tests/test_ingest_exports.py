"""Exports through the whole ingest pipeline: record units, overlap, owners, media, mail."""

from __future__ import annotations

import email.message
import email.utils
from pathlib import Path

import pytest

from sqlalchemy import select

from records.flows.ingest import process_batch
from records.storage.models import AuditEventRow, Record
from tests.cli_helpers import run
from tests.test_reader_facebook import ELENA, PROFILE_OLD, mojibake, ms, msg, profile, thread, write_zip


def _events(installation, action: str) -> list[AuditEventRow]:
    with installation.catalog.reading() as session:
        return list(session.execute(select(AuditEventRow).where(AuditEventRow.action == action)).scalars())


def _export(path: Path, messages: list[dict], extra: dict | None = None) -> Path:
    members = {
        PROFILE_OLD: profile(ELENA),
        "messages/inbox/elena_10158834/message_1.json": thread("inbox/elena_10158834", ["Maya Chen", ELENA], messages),
    }
    members.update(extra or {})
    return write_zip(path, members)


def _staff(tmp_path: Path) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles\n"
        f"T100,Elena,Rivera,teacher,erivera@schools.example.org,,,facebook:{ELENA}\n"
    )
    assert run("staff", "import", str(staff)).exit_code == 0


def test_facebook_export_overlap_extends_the_thread_part(installation, tmp_path):
    _staff(tmp_path)
    first_messages = [msg(ELENA, ms(2022, 10, 3, 19, 5), "Reminder: field trip forms due Friday"), msg("Maya Chen", ms(2022, 10, 3, 19, 9), "ok thank you!")]
    first = _export(tmp_path / "download-1.zip", first_messages)
    [report] = process_batch(installation, [first], actor="system:test")
    assert report.status == "ingested" and len(report.records) == 1
    record = run("show", report.records[0], "--json").json()
    assert record["format"] == "facebook-thread" and record["locator"] == "inbox/elena_10158834#2022-23"
    assert record["owner_staff_id"] == "T100"  # recognised from profile_information.json
    assert record["sent_at_first"] == "2022-10-03T23:05:00Z"
    assert {p["address"] for p in record["participants"]} >= {"facebook:Maya Chen", f"facebook:{ELENA}"}

    # A later download of the same thread with one more message: the same record, extended.
    later = _export(tmp_path / "download-2.zip", [*first_messages, msg("Maya Chen", ms(2022, 10, 4, 8, 0), "Signed it!")])
    [second] = process_batch(installation, [later], actor="system:test")
    assert second.status == "ingested" and second.records == report.records
    shown = run("show", report.records[0], "--json").json()
    assert sorted(shown["source_ids"]) == sorted([report.id, second.id])
    assert shown["sent_at_last"] == "2022-10-04T12:00:00Z"
    text = run("text", report.records[0]).stdout
    assert "Signed it!" in text and text.count("field trip forms") == 1
    extended = _events(installation, "record.extended")
    assert len(extended) == 1 and '"new_messages":1' in extended[0].payload and "Signed" not in extended[0].payload
    with installation.catalog.reading() as session:
        assert len(session.execute(select(Record).where(Record.format == "facebook-thread")).scalars().all()) == 1


def test_facebook_media_in_a_second_zip_of_one_call(prefect_server, installation, tmp_path):
    from tests.fixtures.printouts import png_scan

    photo = png_scan(tmp_path / "photo.png", ["Permission slip signed by Ana Rivera"]).read_bytes()
    uri = "messages/inbox/elena_10158834/photos/slip_1.png"
    messages = [msg(ELENA, ms(2023, 3, 1, 9, 0), "Here is the slip", photos=[{"uri": uri, "creation_timestamp": 1677679200}])]
    lead = _export(tmp_path / "part-1.zip", messages)
    media = write_zip(tmp_path / "part-2.zip", {uri: photo, "messages/inbox/elena_10158834/photos/": b""} if False else {uri: photo})
    outcome = run("ingest", str(lead), str(media), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    result = outcome.json()
    assert result["counts"]["quarantined"] == 0, result
    records = run("list", "--json").json()
    child = next(r for r in records if r["format"] == "attachment")
    assert child["locator"] == "inbox/elena_10158834#2022-23/slip_1.png"
    assert child["pages"] and child["pages"][0]["ocr"] is True
    assert "Permission slip" in run("text", child["id"]).stdout


def test_same_email_in_two_files_is_one_record_and_a_forward_links_to_it(installation, tmp_path):
    original = email.message.EmailMessage()
    original["From"] = "Ana Rivera <ana.rivera@example.net>"
    original["To"] = "Elena Rivera <erivera@schools.example.org>"
    original["Subject"] = "Maya's absence"
    original["Date"] = email.utils.format_datetime(email.utils.parsedate_to_datetime("Tue, 05 Mar 2024 15:14:00 -0500"))
    original["Message-ID"] = "<abc123@mail.example.net>"
    original.set_content("Maya will be absent on Thursday for a doctor's appointment.")
    raw = bytes(original)
    (tmp_path / "a.eml").write_bytes(raw)
    mbox = tmp_path / "takeout.mbox"
    mbox.write_bytes(b"From 1773664405479613283@xxx Tue Aug 08 12:36:29 +0000 2023\n" + raw.replace(b"\r\n", b"\n") + b"\n")
    reports = process_batch(installation, [tmp_path / "a.eml", mbox], actor="system:test")
    assert [r.status for r in reports] == ["ingested", "ingested"]
    assert reports[0].records == reports[1].records
    shown = run("show", reports[0].records[0], "--json").json()
    assert shown["locator"] == "<abc123@mail.example.net>" and len(shown["source_ids"]) == 2

    forward = email.message.EmailMessage()
    forward["From"] = "Elena Rivera <erivera@schools.example.org>"
    forward["To"] = "records@schools.example.org"
    forward["Subject"] = "Fwd: Maya's absence"
    forward["Date"] = "Wed, 06 Mar 2024 08:00:00 -0500"
    forward["Message-ID"] = "<fwd999@schools.example.org>"
    forward.set_content(
        "FYI\n\n---------- Forwarded message ---------\n"
        "From: Ana Rivera <ana.rivera@example.net>\n"
        "Date: Tue, Mar 5, 2024 at 3:14 PM\n"
        "Subject: Maya's absence\n"
        "To: Elena Rivera <erivera@schools.example.org>\n\n"
        "Maya will be absent on Thursday for a doctor's appointment.\n"
    )
    (tmp_path / "fwd.eml").write_bytes(bytes(forward))
    [fwd] = process_batch(installation, [tmp_path / "fwd.eml"], actor="system:test")
    fwd_record = run("show", fwd.records[0], "--json").json()
    assert fwd_record["sent_at_first"] == "2024-03-05T20:14:00Z" and fwd_record["sent_at_last"] == "2024-03-06T13:00:00Z"
    assert fwd.records[0] != reports[0].records[0]
    linked = _events(installation, "record.linked")
    assert [e.subject_id for e in linked] == [fwd.records[0]] and reports[0].records[0] in linked[0].payload


def test_mojibake_names_are_repaired_in_stored_participants(installation, tmp_path):
    messages = [msg("Zoë Martin", ms(2023, 1, 9, 15, 0), "Danke schön"), msg(ELENA, ms(2023, 1, 9, 15, 5), "José said yes")]
    path = write_zip(tmp_path / "fb.zip", {PROFILE_OLD: profile(ELENA), "messages/inbox/zoe_1/message_1.json": thread("inbox/zoe_1", ["Zoë Martin", ELENA], messages)})
    assert mojibake("Zoë") != "Zoë"
    [report] = process_batch(installation, [path], actor="system:test")
    shown = run("show", report.records[0], "--json").json()
    assert "Zoë Martin" in {p["name"] for p in shown["participants"]}
    assert "José said yes" in run("text", report.records[0]).stdout


def test_sms_backups_of_two_teachers_stay_two_records_and_a_repeat_backup_joins(installation, tmp_path):
    from tests.test_reader_sms import JUNE_1, JUNE_30_LATE, backup, ms, sms

    staff = tmp_path / "staff.csv"
    staff.write_text(
        "staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles\n"
        "T100,Elena,Rivera,teacher,erivera@schools.example.org,,,\nT101,Brian,Cole,teacher,bcole@schools.example.org,,,\n"
    )
    assert run("staff", "import", str(staff)).exit_code == 0
    (tmp_path / "elena").mkdir()
    (tmp_path / "brian").mkdir()
    elena = backup(tmp_path / "elena", [sms("(617) 555-0134", ms(JUNE_1), 1, "Is the field trip still on?", "Ana Rivera")])
    brian = backup(tmp_path / "brian", [sms("+16175550134", ms(JUNE_1) + 5, 1, "Is practice on?", "Ana Rivera")])
    [first] = process_batch(installation, [elena], actor="system:test", owner_staff_id="T100")
    [second] = process_batch(installation, [brian], actor="system:test", owner_staff_id="T101")
    assert first.records != second.records
    shown = run("show", first.records[0], "--json").json()
    assert shown["format"] == "sms-thread" and shown["locator"] == "(617) 555-0134#2022-23"
    assert shown["owner_staff_id"] == "T100"
    assert "+16175550134" in {p["address"] for p in shown["participants"]}
    # Elena's next backup repeats the old message and adds one: her record grows.
    (tmp_path / "elena2").mkdir()
    again = backup(tmp_path / "elena2", [
        sms("(617) 555-0134", ms(JUNE_1), 1, "Is the field trip still on?", "Ana Rivera"),
        sms("(617) 555-0134", ms(JUNE_30_LATE), 2, "Yes, 8am", "Ana Rivera"),
    ])
    [third] = process_batch(installation, [again], actor="system:test", owner_staff_id="T100")
    assert third.records == first.records
    assert run("show", first.records[0], "--json").json()["sent_at_last"] == "2023-07-01T03:30:00Z"


def test_takeout_zip_with_an_mbox_and_a_zip_of_printouts(installation, tmp_path):
    import zipfile

    from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

    messages = []
    for n in range(3):
        message = email.message.EmailMessage()
        message["From"] = "Ana Rivera <ana.rivera@example.net>"
        message["To"] = "Elena Rivera <erivera@schools.example.org>"
        message["Subject"] = f"Note {n}"
        message["Date"] = f"Tue, 0{n + 1} Oct 2024 09:00:00 -0400"
        message["Message-ID"] = f"<takeout-{n}@example.net>"
        message.set_content(f"Message number {n} about the trip.")
        messages.append(b"From 1773664405479613283@xxx Tue Aug 08 12:36:29 +0000 2023\n" + bytes(message).replace(b"\r\n", b"\n") + b"\n")
    takeout = tmp_path / "takeout-20241101T000000Z-001.zip"
    with zipfile.ZipFile(takeout, "w") as archive:
        archive.writestr("Takeout/Mail/All mail Including Spam and Trash.mbox", b"".join(messages))
        archive.writestr("Takeout/archive_browser.html", "<html><body>Takeout</body></html>")
    [report] = process_batch(installation, [takeout], actor="system:test")
    assert report.status == "ingested" and len(report.records) == 3
    locators = sorted(run("show", r, "--json").json()["locator"] for r in report.records)
    assert locators == ["<takeout-0@example.net>", "<takeout-1@example.net>", "<takeout-2@example.net>"]

    pdf = born_digital_pdf(tmp_path / "letter.pdf", [EMAIL_PAGE])
    bundle = tmp_path / "scans.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(pdf, "march/letter.pdf")
    [zipped] = process_batch(installation, [bundle], actor="system:test")
    assert zipped.status == "ingested" and len(zipped.records) == 1
    shown = run("show", zipped.records[0], "--json").json()
    assert shown["format"] == "printout-pdf" and shown["source_sha256"] != hashlib_sha(pdf)
    import hashlib

    with installation.catalog.reading() as session:
        record = session.get(Record, zipped.records[0])
        assert record.content_sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()  # the PDF itself, not the zip
    assert "permission slip" in run("text", zipped.records[0]).stdout


def hashlib_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mbox_of(path: Path, messages: list[email.message.EmailMessage]) -> Path:
    separator = b"From 1773664405479613283@xxx Tue Aug 08 12:36:29 +0000 2023\n"
    path.write_bytes(b"".join(separator + bytes(m).replace(b"\r\n", b"\n") + b"\n" for m in messages))
    return path


def _absence_and_forward() -> tuple[email.message.EmailMessage, email.message.EmailMessage]:
    original = email.message.EmailMessage()
    original["From"] = "Ana Rivera <ana.rivera@example.net>"
    original["To"] = "Elena Rivera <erivera@schools.example.org>"
    original["Subject"] = "Maya's absence"
    original["Date"] = "Tue, 05 Mar 2024 15:14:00 -0500"
    original["Message-ID"] = "<abc123@mail.example.net>"
    original.set_content("Maya will be absent on Thursday for a doctor's appointment.")
    forward = email.message.EmailMessage()
    forward["From"] = "Elena Rivera <erivera@schools.example.org>"
    forward["To"] = "records@schools.example.org"
    forward["Subject"] = "Fwd: Maya's absence"
    forward["Date"] = "Wed, 06 Mar 2024 08:00:00 -0500"
    forward["Message-ID"] = "<fwd999@schools.example.org>"
    forward.set_content(
        "FYI\n\n---------- Forwarded message ---------\nFrom: Ana Rivera <ana.rivera@example.net>\n"
        "Date: Tue, Mar 5, 2024 at 3:14 PM\nSubject: Maya's absence\nTo: Elena Rivera <erivera@schools.example.org>\n\n"
        "Maya will be absent on Thursday for a doctor's appointment.\n"
    )
    return original, forward


@pytest.mark.parametrize("forward_first", [True, False], ids=["forward-first", "original-first"])
def test_forward_original_and_a_repeat_in_one_mbox_chunk(installation, tmp_path, forward_first):
    """Records of one chunk are written in bulk: links and duplicates come out as one by one."""
    from records.storage import audit

    original, forward = _absence_and_forward()
    order = [forward, original, original] if forward_first else [original, forward, original]
    [report] = process_batch(installation, [_mbox_of(tmp_path / "mail.mbox", order)], actor="system:test")
    assert report.status == "ingested" and len(report.records) == 2  # the repeated original is the same record
    with installation.catalog.reading() as session:
        rows = {r.locator: r for r in session.execute(select(Record).where(Record.id.in_(report.records))).scalars()}
        assert audit.verify(session).ok
    fwd, orig = rows["<fwd999@schools.example.org>"], rows["<abc123@mail.example.net>"]
    assert fwd.forward_of == orig.id and fwd.is_forward and not orig.is_forward
    linked = _events(installation, "record.linked")
    assert [(e.subject_id, e.payload) for e in linked] == [(fwd.id, f'{{"forward_of":"{orig.id}"}}')]
    assert [e.subject_id for e in _events(installation, "record.seen")] == [orig.id]
    extracted = [e.subject_id for e in _events(installation, "record.extracted")]
    assert extracted == ([fwd.id, orig.id] if forward_first else [orig.id, fwd.id])
    # Ingested again in another file: both joined, nothing linked twice.
    (tmp_path / "again").mkdir()
    [again] = process_batch(installation, [_mbox_of(tmp_path / "again" / "mail.mbox", [original, forward])], actor="system:test")
    assert sorted(again.records) == sorted(report.records) and len(_events(installation, "record.linked")) == 1


def test_a_stream_is_committed_in_chunks_bounded_by_bytes(installation, tmp_path, monkeypatch):
    """Big messages make short chunks: memory is bounded by bytes as well as by items."""
    import records.flows.ingest as flow_ingest

    monkeypatch.setattr(flow_ingest, "STREAM_CHUNK_BYTES", 30_000)
    messages = []
    for n in range(5):
        message = email.message.EmailMessage()
        message["From"] = "Ana Rivera <ana.rivera@example.net>"
        message["Subject"] = f"Long note {n}"
        message["Date"] = f"Tue, 0{n + 1} Oct 2024 09:00:00 -0400"
        message["Message-ID"] = f"<long-{n}@example.net>"
        message.set_content(f"Paragraph {n}. " * 800)  # about 10 KB each
        messages.append(message)
    [report] = process_batch(installation, [_mbox_of(tmp_path / "long.mbox", messages)], actor="system:test")
    assert report.status == "ingested" and len(report.records) == 5
    chunks = {e.at for e in _events(installation, "record.extracted")}
    assert len(chunks) == 3  # a message and its text are about 20 KB: two reach the cap, so 2 + 2 + 1


def test_a_stream_sets_the_garbage_collector_aside_only_while_it_stores(installation, tmp_path, monkeypatch):
    """Storing a stream freezes what the process held before (flows/ingest.py,
    ``_settled_objects_frozen``); afterwards, and after a failure, the collector sees
    everything again: a long-running worker must not keep garbage frozen for ever."""
    import gc

    import records.flows.ingest as flow_ingest

    original, forward = _absence_and_forward()
    frozen_while_storing = []
    prepare = flow_ingest.store.prepare_records

    def watching(*args, **kwargs):
        frozen_while_storing.append(gc.get_freeze_count())
        return prepare(*args, **kwargs)

    monkeypatch.setattr(flow_ingest.store, "prepare_records", watching)
    assert gc.get_freeze_count() == 0
    [report] = process_batch(installation, [_mbox_of(tmp_path / "mail.mbox", [original, forward])], actor="system:test")
    assert report.status == "ingested" and frozen_while_storing and min(frozen_while_storing) > 0
    assert gc.get_freeze_count() == 0

    def failing(*args, **kwargs):
        raise OSError("the store's disk went away")

    monkeypatch.setattr(flow_ingest.store, "prepare_records", failing)
    (tmp_path / "other").mkdir()
    with pytest.raises(OSError):
        flow_ingest._process_batch(installation, [_mbox_of(tmp_path / "other" / "mail.mbox", [forward])], actor="system:test", owner_staff_id=None, password=None, companions=None)
    assert gc.get_freeze_count() == 0


def test_a_streamed_source_ends_ingested_in_the_catalog_not_only_in_the_report(installation, tmp_path):
    """The final status is written in a later transaction than the source row was added."""
    from records.storage.models import Source
    from tests.test_reader_sms import backup, sms

    path = backup(tmp_path, [sms("+1 617 555 0134", 1_700_000_000_000, 1, "Is the field trip still on?")])
    [report] = process_batch(installation, [path], actor="system:test")
    assert report.status == "ingested"
    with installation.catalog.reading() as session:
        assert session.get(Source, report.id).status == "ingested"
    again = process_batch(installation, [path], actor="system:test")
    assert again[0].status == "duplicate"  # not resumed as an unfinished source


def test_a_large_mbox_read_in_other_processes_comes_out_as_read_here(installation, tmp_path, monkeypatch):
    """The reading processes (stream_process) change where the work runs, not what is kept:
    one child, or two or three children parsing every other (every third) message, give
    the same records in the same order, the same partial reason, duplicates and forward
    links, over several chunks and several batches sent between the processes."""
    import random

    import records.flows.ingest as flow_ingest
    import records.flows.stream_process as stream_process

    monkeypatch.setattr(flow_ingest, "STREAM_CHUNK", 3)
    monkeypatch.setattr(stream_process, "BATCH_ITEMS", 2)
    original, forward = _absence_and_forward()
    notes = []
    for n in range(5):
        note = email.message.EmailMessage()
        note["From"] = f"Parent {n} <parent{n}@example.net>"
        note["To"] = "Elena Rivera <erivera@schools.example.org>"
        note["Subject"] = f"Bus schedule {n}"
        note["Date"] = f"Tue, 0{n + 1} Oct 2024 09:00:00 -0400"
        note["Message-ID"] = f"<bus-{n}@example.net>"
        note.set_content(f"The bus leaves at eight thirty ({n}).")
        if n == 2:
            note.add_attachment("student,score\nMaya,93\n", subtype="csv", filename="scores.csv")
        notes.append(note)
    garbage = random.Random(7).randbytes(4096).replace(b"\n", b" ").replace(b"\r", b" ")

    def mbox(path: Path, year: int) -> Path:
        separator = b"From 1773664405479613283@xxx Tue Aug 08 12:36:29 +0000 %d\n" % year
        parts = [bytes(m).replace(b"\r\n", b"\n") for m in [notes[0], forward, notes[1], original, notes[2]]]
        parts += [garbage + b"\n", bytes(original).replace(b"\r\n", b"\n")] + [bytes(m).replace(b"\r\n", b"\n") for m in notes[3:]]
        path.write_bytes(b"".join(separator + part + b"\n" for part in parts))
        return path

    used: list[str] = []
    for name in ("_received", "_in_turn"):
        real = getattr(stream_process, name)

        def counted(*args, _real=real, _name=name):  # type: ignore[no-untyped-def]
            used.append(_name)
            return _real(*args)

        monkeypatch.setattr(stream_process, name, counted)
    monkeypatch.setattr(stream_process, "MIN_BYTES", 10**12)
    [here] = process_batch(installation, [mbox(tmp_path / "here.mbox", 2023)], actor="system:test")
    assert not used
    monkeypatch.setattr(stream_process, "MIN_BYTES", 0)
    aparts = []
    for readers, way in ((1, "_received"), (2, "_in_turn"), (3, "_in_turn")):
        monkeypatch.setenv("RECORDS_STREAM_READERS", str(readers))
        [apart] = process_batch(installation, [mbox(tmp_path / f"apart-{readers}.mbox", 2023 + readers)], actor="system:test")
        assert used.pop() == way and not used  # read by one child, or by several in turn
        aparts.append(apart)
    with installation.catalog.reading() as session:
        ids = here.records + [i for apart in aparts for i in apart.records]
        by_id = {r.id: r for r in session.execute(select(Record).where(Record.id.in_(ids))).scalars()}

    def described(ids: list[str]) -> list[tuple]:
        return [
            (r.format, r.locator, r.sent_at_first, r.sent_at_last, r.participants, r.text_chars, r.content_sha256, r.is_forward, r.origin_key)
            for r in (by_id[i] for i in ids)
        ]

    for apart in aparts:
        assert here.status == apart.status == "partial"
        assert here.reason == apart.reason and "message 6" in apart.reason and "no header block" in apart.reason
        assert len(here.records) == len(apart.records) == 8  # 7 messages (one twice) and the csv
        assert described(apart.records) == described(here.records)
        # The messages are the same records (deduplicated); the attachment, which has no dedupe key, is stored again.
        assert [i for i in apart.records if by_id[i].format != "attachment"] == [i for i in here.records if by_id[i].format != "attachment"]
    rows = {by_id[i].locator: by_id[i] for i in here.records}
    assert rows["<fwd999@schools.example.org>"].forward_of == rows["<abc123@mail.example.net>"].id
    assert "<bus-2@example.net>/scores.csv" in rows
    seen = [e.subject_id for e in _events(installation, "record.seen")]
    assert seen.count(rows["<abc123@mail.example.net>"].id) == 7  # repeated in the first file, then both copies in each of the three others
