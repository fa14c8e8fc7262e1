"""The ingest pipeline end to end on printouts: statuses, reasons, storage, audit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from records.flows.ingest import process_batch, retry_source
from records.storage import audit
from records.storage import ingest as store
from records.storage.models import AuditEventRow, Record, RecordPage, Source
from tests.cli_helpers import run
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, program_file, scanned_pdf


def _events(installation, action: str) -> list[AuditEventRow]:
    with installation.catalog.reading() as session:
        return list(session.execute(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)).scalars())


def _store_files(installation) -> dict[str, str]:
    root = installation.paths.home / "store"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_born_digital_pdf_is_ingested_encrypted_and_audited(installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "note.pdf", [EMAIL_PAGE, ["Page two of the note, with enough words to count as text."]])
    [report] = process_batch(installation, [pdf], actor="system:test")
    assert report.status == "ingested" and report.reason is None and len(report.records) == 1
    with installation.catalog.reading() as session:
        record = session.get(Record, report.records[0])
        pages = session.execute(select(RecordPage).where(RecordPage.record_id == record.id).order_by(RecordPage.number)).scalars().all()
        assert record.format == "printout-pdf"
        assert [p.ocr for p in pages] == [False, False]
        assert record.content_sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()
        # Participants and the sent date come from the printed header, not the file.
        addresses = {p["address"] for p in record.participants}
        assert {"emarsh@schools.example.org", "ana.rivera@example.net"} <= addresses
        assert record.sent_at_first.isoformat().startswith("2024-03-05T20:14")
    text = installation.content.read_text(record.key_id, record.text_blob_id)
    assert "permission slip" in text and "\f" in text
    # Nothing in the store is readable as plain text.
    for blob in (installation.paths.home / "store").rglob("*"):
        if blob.is_file():
            assert b"permission slip" not in blob.read_bytes()
    actions = [e.action for e in _events(installation, "source.received") + _events(installation, "record.extracted")]
    assert actions == ["source.received", "record.extracted"]
    extracted = _events(installation, "record.extracted")[0]
    assert '"method":"text_layer"' in extracted.payload and "permission" not in extracted.payload


def test_same_bytes_twice_is_a_duplicate_with_a_second_receipt(installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "a.pdf", [EMAIL_PAGE])
    copy = tmp_path / "renamed copy.pdf"
    copy.write_bytes(pdf.read_bytes())
    [first] = process_batch(installation, [pdf], actor="system:test")
    [second] = process_batch(installation, [copy], actor="system:test")
    assert second.status == "duplicate" and second.id == first.id and second.records == first.records
    # In one call too.
    third, fourth = process_batch(installation, [born_digital_pdf(tmp_path / "b.pdf", [["another document entirely, long enough to count"]]), tmp_path / "b.pdf"], actor="system:test")
    assert (third.status, fourth.status) == ("ingested", "duplicate") and fourth.id == third.id
    receipts = [e for e in _events(installation, "source.received") if e.subject_id == first.id]
    assert len(receipts) == 2 and '"duplicate":true' in receipts[1].payload
    with installation.catalog.reading() as session:
        assert session.execute(select(func.count()).select_from(Source)).scalar_one() == 2


def test_program_and_empty_files_are_quarantined_with_reasons(installation, tmp_path):
    program = program_file(tmp_path / "report.pdf")  # the name lies; content decides
    empty = tmp_path / "scan.pdf"
    empty.write_bytes(b"")
    reports = process_batch(installation, [program, empty], actor="system:test")
    assert [r.status for r in reports] == ["quarantined", "quarantined"]
    assert reports[0].reason == "not a supported file type: this is a program, not a document"
    assert "empty file" in reports[1].reason
    quarantined = _events(installation, "source.quarantined")
    assert {e.subject_id for e in quarantined} == {reports[0].id, reports[1].id}


def test_encrypted_pdf_is_quarantined_then_retried_with_a_password(installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "locked.pdf", [EMAIL_PAGE], encrypt="s3cret")
    [report] = process_batch(installation, [pdf], actor="system:test")
    assert report.status == "quarantined"
    assert "encrypted PDF" in report.reason and f"records quarantine retry {report.id} --password" in report.reason
    wrong = retry_source(installation, report.id, actor="system:test", password="nope")
    assert wrong.status == "quarantined" and not wrong.records
    right = retry_source(installation, report.id, actor="system:test", password="s3cret")
    assert right.status == "ingested" and right.id == report.id and len(right.records) == 1
    with installation.catalog.reading() as session:
        record = session.get(Record, right.records[0])
        assert "permission slip" in installation.content.read_text(record.key_id, record.text_blob_id)
        assert audit.verify(session).ok
    retried = _events(installation, "source.retried")
    assert len(retried) == 2 and '"password_given":true' in retried[1].payload and "s3cret" not in retried[1].payload


def test_a_bad_file_never_touches_what_is_stored(installation, tmp_path):
    good = born_digital_pdf(tmp_path / "good.pdf", [EMAIL_PAGE])
    process_batch(installation, [good], actor="system:test")
    before = _store_files(installation)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 500)
    process_batch(installation, [broken], actor="system:test")
    after = _store_files(installation)
    assert all(after[name] == digest for name, digest in before.items())


def test_a_failed_batch_leaves_no_rows_and_no_orphan_content(installation, tmp_path, monkeypatch):
    pdf = born_digital_pdf(tmp_path / "x.pdf", [EMAIL_PAGE])

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "commit_records", fail)
    with pytest.raises(RuntimeError):
        process_batch(installation, [pdf], actor="system:test")
    with installation.catalog.reading() as session:
        assert session.execute(select(func.count()).select_from(Source)).scalar_one() == 0
    assert _store_files(installation) == {}
    assert list((installation.paths.keystore / "records").glob("*.key")) == []


def test_scanned_pdf_is_ocrd_with_confidence(installation, tmp_path):
    scan = scanned_pdf(tmp_path / "scan.pdf", [EMAIL_PAGE])
    [report] = process_batch(installation, [scan], actor="system:test")
    assert report.status == "ingested"
    shown = run("show", report.records[0], "--json").json()
    assert shown["format"] == "printout-scan"
    assert shown["pages"][0]["ocr"] is True and shown["pages"][0]["confidence"] > 0.8
    assert shown["sent_at_first"] == "2024-03-05T20:14:00Z"


def test_list_show_text_and_access_event(installation, tmp_path):
    [report] = process_batch(installation, [born_digital_pdf(tmp_path / "n.pdf", [EMAIL_PAGE])], actor="system:test")
    record_id = report.records[0]
    listed = run("list", "--json").json()
    assert [r["id"] for r in listed] == [record_id]
    shown = run("show", record_id, "--json").json()
    for key in ("id", "source_id", "source_ids", "source_sha256", "format", "locator", "parent_id", "sent_at_first",
                "sent_at_last", "owner_staff_id", "participants", "text_chars", "students", "series", "retention", "holds", "status"):
        assert key in shown, key
    assert shown["series"] == {"code": "UNSCHEDULED", "confidence": 0.0, "evidence": [], "decided_by": "engine"}
    assert shown["students"] == [] and shown["holds"] == [] and shown["status"] == "active"
    assert shown["source_ids"] == [report.id] and shown["locator"] is None
    assert set(shown["retention"]) == {"trigger", "trigger_date", "eligible_on", "destroy_by", "disposition", "needs_approval", "schedule_version", "state"}
    assert run("list", "--format", "email", "--json").json() == []
    printed = run("text", record_id, "--purpose", "parent request")
    assert printed.exit_code == 0 and "permission slip" in printed.stdout
    viewed = _events(installation, "record.viewed")
    assert len(viewed) == 1 and viewed[0].subject_id == record_id and "parent request" in viewed[0].payload
    missing = run("show", "R-NOPE", "--json")
    assert missing.exit_code == 1 and missing.stdout == ""


def test_quarantine_list_shows_reason(installation, tmp_path):
    [report] = process_batch(installation, [program_file(tmp_path / "setup.exe")], actor="system:test")
    rows = run("quarantine", "list", "--json").json()
    assert rows == [{"source_id": report.id, "path": str((tmp_path / "setup.exe").resolve()), "reason": report.reason, "at": rows[0]["at"], "kind": "unsupported"}]
    assert rows[0]["at"].endswith("Z")


def test_many_small_files_and_bad_ones_each_get_their_own_report(installation, tmp_path):
    """Quick small files reach the readers several at a time: every file still gets its own
    status, reason and text, in the order given, and a bad file among them is quarantined alone."""
    notes = [born_digital_pdf(tmp_path / f"note-{n:02d}.pdf", [[*EMAIL_PAGE, f"Reference number {n:04d} of this note."]]) for n in range(48)]
    process_batch(installation, notes[:24], actor="system:test")  # the readers learn these are quick
    program = program_file(tmp_path / "report.pdf")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 500)
    batch = [*notes[24:30], program, *notes[30:39], broken, *notes[39:]]
    reports = process_batch(installation, batch, actor="system:test")
    assert [r.path for r in reports] == [str(p) for p in batch]
    assert [r.status for r in reports] == ["ingested"] * 6 + ["quarantined"] + ["ingested"] * 9 + ["quarantined"] + ["ingested"] * 9
    assert reports[6].reason == "not a supported file type: this is a program, not a document"
    assert reports[16].reason.startswith("PDF damaged")
    for path, report in zip(batch, reports, strict=True):
        if path in (program, broken):
            continue
        with installation.catalog.reading() as session:
            record = session.get(Record, report.records[0])
        number = path.stem.split("-")[1]
        assert f"Reference number 00{number} of this note." in installation.content.read_text(record.key_id, record.text_blob_id)
