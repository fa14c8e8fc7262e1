"""The papers the engine hands to people: certificates, applications, exit notices.

Plain rendering from plain data (no catalog, no rules): the storage and flow layers
decide what a paper says, this module only lays it out as a PDF with reportlab (and a CSV
where a spreadsheet is what the reader needs). Each writer returns the paths it wrote.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

MARGIN = 72
LINE = 14
WRAP = 92


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside, then rename: a crash never leaves half a certificate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


class _Page:
    """A simple flowing text page: title, paragraphs, key-value lines, lists."""

    def __init__(self, path: Path, title: str) -> None:
        self.path = path
        self.temporary = path.with_name(f".{path.name}.part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pdf = canvas.Canvas(str(self.temporary), pagesize=letter)
        self.pdf.setTitle(title)
        self.y = letter[1] - MARGIN
        self.text(title, size=15, bold=True)
        self.gap()

    def _room(self) -> None:
        if self.y < MARGIN:
            self.pdf.showPage()
            self.y = letter[1] - MARGIN

    def text(self, line: str, *, size: int = 10, bold: bool = False) -> None:
        for piece in textwrap.wrap(line, WRAP) or [""]:
            self._room()
            self.pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
            self.pdf.drawString(MARGIN, self.y, piece)
            self.y -= LINE + (size - 10)

    def gap(self) -> None:
        self.y -= LINE // 2

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        for key, value in pairs:
            self.text(f"{key}: {'-' if value in (None, '') else value}")

    def save(self) -> Path:
        self.pdf.save()
        self.temporary.replace(self.path)
        return self.path


def certificate(folder: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    """The certificate of destruction of one executed batch: PDF, and its JSON beside it."""
    name = f"certificate-{data['batch_id']}"
    json_path = folder / f"{name}.json"
    _write_atomically(json_path, json.dumps(data, default=_default, indent=2, sort_keys=True).encode("utf-8"))
    page = _Page(folder / f"{name}.pdf", "Certificate of destruction of public records")
    district = data.get("district") or {}
    page.text(f"{district.get('name') or ''}  {district.get('address') or ''}")
    page.gap()
    summary = data.get("summary") or {}
    page.fields(
        [
            ("Batch", data["batch_id"]),
            ("Records series", f"{data['series']} {data.get('series_title') or ''}"),
            ("Citation", data.get("citation")),
            ("Schedule version", data.get("schedule_version")),
            ("Records destroyed", summary.get("records")),
            ("Date range of the records", f"{summary.get('first_date') or '-'} to {summary.get('last_date') or '-'}"),
            ("Volume", f"{summary.get('records', 0)} records, {summary.get('pages', 0)} pages, {summary.get('messages', 0)} messages"),
            ("Supervisor of Records authorization (RMU-2)", data.get("authorization")),
            ("Proposed by / approved by / executed by", f"{data.get('proposed_by')} / {data.get('approved_by')} / {data.get('executed_by')}"),
            ("Executed at", _default(data["executed_at"]) if data.get("executed_at") else None),
            ("Audit chain head at completion", f"event {data['chain_head']['seq']}, {data['chain_head']['hash']}" if data.get("chain_head") else None),
        ]
    )
    page.gap()
    page.text(
        "Each record's encryption key was destroyed first, then its stored content; a tombstone and an audit event remain. "
        f"Backups of the key store are kept {data.get('keystore_backup_window_days')} days: from {_default(data['unreadable_from'])} "
        "no copy of these records can be read from any backup."
    )
    if data.get("skipped"):
        page.gap()
        page.text(f"Not destroyed ({len(data['skipped'])}), re-checked at the moment of destruction:", bold=True)
        for item in data["skipped"]:
            page.text(f"{item['id']}: {item['reason']}")
    page.gap()
    page.text("Records destroyed:", bold=True)
    for start in range(0, len(data["records"]), 4):
        page.text("   ".join(data["records"][start : start + 4]))
    page.gap()
    page.text(f"Certified by {district.get('signatory') or '________________'}, {district.get('signatory_title') or ''}")
    return page.save(), json_path


def application(folder: Path, batch: dict[str, Any], district: dict[str, Any]) -> tuple[Path, Path]:
    """What the district needs for its RMU-2 application for one proposed batch: CSV and PDF."""
    name = f"application-{batch['batch_id']}"
    summary = batch.get("summary") or {}
    rows = [
        ("district", district.get("name")),
        ("batch", batch["batch_id"]),
        ("series", batch["series"]),
        ("series_title", batch.get("series_title")),
        ("citation", batch.get("citation")),
        ("retention", batch.get("retention")),
        ("records", summary.get("records")),
        ("first_date", summary.get("first_date")),
        ("last_date", summary.get("last_date")),
        ("pages", summary.get("pages")),
        ("messages", summary.get("messages")),
        ("proposed_by", batch.get("proposed_by")),
        ("as_of", batch.get("as_of")),
    ]
    csv_path = folder / f"{name}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = csv_path.with_name(f".{csv_path.name}.part")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["field", "value"])
        for key, value in rows:
            writer.writerow([key, _default(value) if isinstance(value, dt.date) else ("" if value is None else value)])
    temporary.replace(csv_path)
    page = _Page(folder / f"{name}.pdf", "Application for destruction permission: supporting data (RMU-2)")
    page.fields((key.replace("_", " "), _default(value) if isinstance(value, dt.date) else value) for key, value in rows)
    page.gap()
    page.text(
        "The applicant certifies that the retention period has passed and that no audit, investigation, litigation or "
        "request covering these records is pending (holds are checked again at the moment of destruction)."
    )
    return page.save(), csv_path


def exit_notice(folder: Path, notice: dict[str, Any]) -> Path:
    """The letter to a parent or eligible student at exit (603 CMR 23.06(3))."""
    district = notice["district"]
    page = _Page(folder / f"notice-{notice['student_id']}-{notice['exit_date']}.pdf", f"{district.get('name')}: notice about student records")
    page.text(district.get("address") or "")
    page.gap()
    page.text(_default(notice["date"]))
    page.gap()
    page.text(notice.get("addressee") or "To the parent or guardian")
    for line in (notice.get("mailing_address") or "").splitlines():
        page.text(line)
    page.gap()
    page.text(f"Re: student records of {notice['student_name']} (student id {notice['student_id']})")
    page.gap()
    page.text(
        f"Our records show that {notice['student_name']} left the district on {_default(notice['exit_date'])} "
        f"({notice.get('exit_reason') or 'exit'}). Under 603 CMR 23.06(3), the student's temporary record will be destroyed "
        f"no later than seven years after that date, approximately on {_default(notice['destroy_by'])}."
    )
    page.gap()
    page.text(
        "You have the right to receive a copy of the temporary record, or any part of it, before it is destroyed. "
        "To ask for a copy, contact the Records Access Officer at the address above. The transcript is kept for sixty years."
    )
    page.gap()
    page.text(f"{district.get('signatory') or ''}, {district.get('signatory_title') or ''}")
    return page.save()


__all__ = ["application", "certificate", "exit_notice"]
