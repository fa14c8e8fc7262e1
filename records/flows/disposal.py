"""Disposal and the nightly work, wired together: storage decides, documents render.

Plain functions here (the command line calls them directly); ``records.flows.nightly``
wraps the nightly ones as a Prefect flow for the deployment.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from records import documents
from records.storage import disposal, notices
from records.storage.installation import Installation


def _folder(installation: Installation, kind: str):  # type: ignore[no-untyped-def]
    return installation.paths.reports / kind


def propose_batches(installation: Installation, as_of: dt.date, *, actor: str) -> list[dict[str, Any]]:
    """Propose one batch per series and write each batch's RMU-2 application data."""
    today = dt.datetime.now(installation.settings.zone).date()
    settings = installation.settings
    out = []
    with installation.catalog.writing() as session:
        batches = disposal.propose(session, settings, as_of, actor=actor, today=today)
        unconfirmed = disposal.unconfirmed_codes(session)
        for batch in batches:
            rule = disposal.series_rule(session, batch.series_code)
            out.append(
                {
                    "batch_id": batch.id,
                    "series": batch.series_code,
                    "records": disposal.batch_records(session, batch.id),
                    "needs_authorization": batch.needs_authorization,
                    "confirmed": batch.series_code not in unconfirmed,
                    "summary": batch.summary,
                    "series_title": rule.title if rule else None,
                    "citation": rule.citation if rule else None,
                    "retention": rule.retention if rule else None,
                    "proposed_by": batch.proposed_by,
                    "as_of": batch.as_of,
                }
            )
    district = {"name": settings.name, "address": settings.address}
    for batch in out:
        pdf, csv_path = documents.application(_folder(installation, "disposal"), batch, district)
        batch["application_pdf"], batch["application_csv"] = str(pdf), str(csv_path)
    return [
        {k: batch[k] for k in ("batch_id", "series", "records", "needs_authorization", "confirmed", "summary", "application_pdf", "application_csv")}
        for batch in out
    ]


def execute_batch(installation: Installation, batch_id: str, *, actor: str, on_record: Any = None) -> dict[str, Any]:
    """Execute an approved batch and write its certificate (PDF and JSON)."""
    import time

    from records import logs

    log = logs.get("disposal")
    started = time.monotonic()
    today = dt.datetime.now(installation.settings.zone).date()
    try:
        result = disposal.execute(installation.catalog.writing, installation.content, installation.settings, batch_id, actor=actor, today=today, on_record=on_record)
    except BaseException as exc:
        log.error("disposal.execute_failed", batch_id=batch_id, error=type(exc).__name__)
        raise
    log.info("disposal.executed", batch_id=batch_id, destroyed=len(result.destroyed), skipped=len(result.skipped), ms=round((time.monotonic() - started) * 1000))
    with installation.catalog.reading() as session:
        data = disposal.certificate_data(session, batch_id, installation.settings)
    pdf, _ = documents.certificate(_folder(installation, "certificates"), data)
    return {"batch_id": batch_id, "destroyed": result.destroyed, "skipped": result.skipped, "certificate": str(pdf)}


def send_exit_notices(installation: Installation, *, actor: str) -> list[str]:
    """A notice letter for every exited student who has none yet; each is an audit event."""
    settings = installation.settings
    written = []
    with installation.catalog.writing() as session:
        for notice in notices.due(session, settings):
            path = documents.exit_notice(_folder(installation, "notices"), notice)
            notices.record(session, notice, str(path), actor=actor)
            written.append(str(path))
    return written
