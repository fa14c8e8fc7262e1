"""Officer pages beyond holds and disposal: due-soon and overdue lists, exit notices, and
loading a district's own retention schedule (YAML) from the browser.

Each calls the storage service or flow its command-line twin calls.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from records.errors import NotFound, UsageError
from records.storage import disposal, notices, record_views
from records.storage.users import authorize
from records.web.app import back, need, need_post, render
from records.web.pages import _date, _inst, _today

MAX_SCHEDULE_BYTES = 1_000_000
SHOWN = 500


def register(app: FastAPI) -> None:
    @app.get("/due")
    def due_page(request: Request, as_of: str = "") -> Response:
        """Records overdue (past the date they must be destroyed by) and due soon, for the day asked."""
        need(request, "read")
        installation = _inst(request)
        day = _date(as_of.strip(), "as of") or _today(installation)
        context = record_views.ViewContext.for_settings(installation.settings, day)
        with installation.catalog.reading() as db:
            plan = disposal.plan(db, installation.settings, day)
            overdue = record_views.views_of(db, plan.overdue[:SHOWN], context)
            due_soon = record_views.views_of(db, plan.due_soon[:SHOWN], context)
        return render(request, "due.html", as_of=day.isoformat(), overdue=overdue, due_soon=due_soon,
                      counts={"overdue": len(plan.overdue), "due_soon": len(plan.due_soon)}, days=installation.settings.due_soon_days)

    @app.get("/notices")
    def notices_page(request: Request) -> Response:
        need(request, "read")
        installation = _inst(request)
        with installation.catalog.reading() as db:
            owed = notices.due(db, installation.settings)
            written = notices.generated(db)
        return render(request, "notices.html", owed=owed, written=written)

    @app.post("/notices/send")
    async def notices_send(request: Request) -> Response:
        viewer, _ = await need_post(request, "notice.send")
        installation = _inst(request)

        def send() -> list[str]:
            with installation.catalog.reading() as db:
                who = authorize(db, viewer.name, "notice.send")
            from records.flows.disposal import send_exit_notices

            return send_exit_notices(installation, actor=who)

        written = await run_in_threadpool(send)
        return back("/notices", f"{len(written)} exit notice(s) written" if written else "no exit notice was owed")

    @app.get("/notices/{student_id}/{exit_date}.pdf")
    def notice_pdf(request: Request, student_id: str, exit_date: str) -> Response:
        need(request, "read")
        installation = _inst(request)
        day = _date(exit_date, "exit date")
        with installation.catalog.reading() as db:
            path = notices.notice_path(db, student_id, day) if day else None
        folder = (installation.paths.reports / "notices").resolve()
        if not path or not Path(path).resolve().is_relative_to(folder) or not Path(path).is_file():
            raise NotFound(f"no exit notice for {student_id} at {exit_date}")
        return FileResponse(path, media_type="application/pdf", filename=Path(path).name)

    @app.post("/schedule/load")
    async def schedule_load(request: Request) -> Response:
        """A district's own schedule as a new version; the old one stays on record."""
        viewer, form = await need_post(request, "schedule.load")
        upload = form.get("schedule")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise UsageError("choose the schedule file (YAML) to load")
        data = await upload.read(MAX_SCHEDULE_BYTES + 1)
        name = Path(upload.filename).name
        if len(data) > MAX_SCHEDULE_BYTES:
            raise UsageError(f"{name}: a schedule is a small YAML file; this one is over 1 MB; nothing was loaded")
        from records.retention.schedule import ScheduleError, parse_schedule

        try:
            schedule = parse_schedule(data.decode("utf-8"))
        except (ScheduleError, UnicodeDecodeError) as exc:
            raise UsageError(f"{name}: {exc}; nothing was loaded") from None
        from records.flows.schedule import load_schedule

        view, changed = await run_in_threadpool(lambda: load_schedule(_inst(request), schedule, actor=viewer.name, source_name=name))
        unconfirmed = [s.code for s in view.series if not s.confirmed]
        return back("/schedule", f"schedule version {view.version} loaded from {name}; {changed} record(s) recomputed"
                    + (f"; confirm before anything under them is destroyed: {', '.join(unconfirmed)}" if unconfirmed else ""))


