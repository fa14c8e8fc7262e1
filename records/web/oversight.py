"""Auditor pages beyond the log: each student's access log, signed checkpoints of the
chain, and the certificates of destruction.

The access log (603 CMR 23.07) is the audit log narrowed to one student: every reading,
search match, decision and destruction that names them, with who did it and why.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from records.errors import NotFound
from records.storage import audit, directory, disposal
from records.storage.users import authorize
from records.web.app import back, need, need_post, render
from records.web.pages import _inst

CHECKPOINT_NAME = re.compile(r"^checkpoint-\d{8}T\d{6}Z-\d+\.json$")
SHOWN = 1000


def _checkpoints(folder: Path) -> list[dict[str, object]]:
    if not folder.is_dir():
        return []
    return [{"name": p.name, "bytes": p.stat().st_size} for p in sorted(folder.iterdir(), reverse=True) if CHECKPOINT_NAME.match(p.name)]


def register(app: FastAPI) -> None:
    @app.get("/audit/access")
    def access_log(request: Request, student: str = "") -> Response:
        need(request, "audit.log")
        student = student.strip()
        events: list[audit.AuditEvent] = []
        known = None
        if student:
            with _inst(request).catalog.reading() as db:
                known = directory.student_exists(db, student)
                for event in audit.iter_events(db, audit.LogFilter(student_id=student)):
                    events.append(event)
                    if len(events) > SHOWN:
                        break
        return render(request, "access.html", student=student, known=known, events=events[:SHOWN], more=len(events) > SHOWN)

    @app.get("/audit/checkpoints")
    def checkpoints_page(request: Request) -> Response:
        need(request, "audit.checkpoint")
        return render(request, "checkpoints.html", files=_checkpoints(_inst(request).paths.reports / "checkpoints"))

    @app.post("/audit/checkpoints")
    async def checkpoint_make(request: Request) -> Response:
        """Sign the chain's head now (Ed25519), as ``records audit checkpoint`` does."""
        viewer, _ = await need_post(request, "audit.checkpoint")
        installation = _inst(request)

        def sign() -> tuple[str, dict[str, object]]:
            from records.storage.checkpoint import write_checkpoint

            folder = installation.paths.reports / "checkpoints"
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "audit.checkpoint")
                seq, _ = audit.head(db)
                name = f"checkpoint-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{seq + 1}.json"
                return name, write_checkpoint(db, installation.paths.keystore, folder / name, who)

        name, document = await run_in_threadpool(sign)
        return back("/audit/checkpoints", f"signed checkpoint of event {document['seq']} written: {name}")

    @app.get("/audit/checkpoints/{name}")
    def checkpoint_file(request: Request, name: str) -> Response:
        need(request, "audit.checkpoint")
        path = _inst(request).paths.reports / "checkpoints" / name
        if not CHECKPOINT_NAME.match(name) or not path.is_file():
            raise NotFound(f"no checkpoint named {name!r}")
        return FileResponse(path, media_type="application/json", filename=name)

    @app.get("/certificates")
    def certificates_page(request: Request) -> Response:
        need(request, "read")
        installation = _inst(request)
        with installation.catalog.reading() as db:
            batches = [b for b in disposal.list_batches(db) if b["status"] == "executed"]
        folder = installation.paths.reports / "certificates"
        for batch in batches:
            batch["has_certificate"] = (folder / f"certificate-{batch['batch_id']}.pdf").is_file()
        return render(request, "certificates.html", batches=batches)
