"""Every page of the web app. Each calls the storage service or flow its CLI twin calls.

GET pages name the right they need; POST pages also pass the CSRF check (``need_post``)
and authorise the signed-in user again with ``authorize()`` inside their transaction.
Work that touches the catalog runs in a worker thread (``run_in_threadpool``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from records.errors import NotFound, UsageError
from records.flows.search import search_records
from records.intake.preview import page_png
from records.storage import audit, classification, directory, disposal, record_views, retention, schedules, web_sessions
from records.storage import users as user_store
from records.storage.installation import Installation
from records.storage.users import authorize
from records.web import sessions, uploads
from records.web.app import Forbidden, back, current_viewer, need, need_post, render, set_session_cookie, web_session

RECORD_STATUSES = ("active", "in_review", "proposed", "destroyed")
PRINTOUT_FORMATS = ("printout-scan", "printout-pdf")
FORMATS = (
    "printout-scan", "printout-pdf", "email", "msg", "mbox-message", "facebook-thread", "instagram-thread",
    "x-dm-thread", "sms-thread", "x-posts", "attachment",
)


def _inst(request: Request) -> Installation:
    return request.app.state.installation


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _list(form: Any, name: str) -> list[str]:
    """A repeatable field, or one field with values separated by commas or spaces."""
    values: list[str] = []
    for raw in form.getlist(name):
        if isinstance(raw, str):
            values += [v for v in raw.replace(",", " ").split() if v]
    return list(dict.fromkeys(values))


def _date(value: str, label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{label} {value!r} is not a date: use YYYY-MM-DD") from None


def _today(installation: Installation) -> dt.date:
    return dt.datetime.now(installation.settings.zone).date()


def register(app: FastAPI) -> None:  # noqa: C901 - one list of routes reads best
    # --- sign-in ----------------------------------------------------------------------

    @app.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        if current_viewer(request):
            return RedirectResponse("/", status_code=303)
        session = web_session(request) or sessions.WebSession.new()
        response = render(request, "login.html", csrf=session.csrf, next=next, error=None)
        set_session_cookie(request, response, session)
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        session = web_session(request)
        if not sessions.csrf_ok(session, form.get("csrf")):  # type: ignore[arg-type]
            raise Forbidden("The sign-in form has expired. Reload the sign-in page and try again.")
        name, password = _text(form, "username").lower(), str(form.get("password") or "")
        target = _text(form, "next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"

        def check() -> tuple[user_store.SignIn, str | None]:
            with _inst(request).catalog.writing() as db:
                outcome = user_store.sign_in(db, name, password)
                token = web_sessions.start(db, outcome.user.name, lifetime=dt.timedelta(seconds=sessions.MAX_AGE)) if outcome.user else None
                return outcome, token

        outcome, token = await run_in_threadpool(check)
        if outcome.user is None:
            assert session is not None
            return render(request, "login.html", status_code=401, csrf=session.csrf, next=target, error=outcome.reason, username=name)
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(request, response, sessions.WebSession.new(outcome.user.name, token))  # new tokens: no fixation
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        session = web_session(request)
        if not sessions.csrf_ok(session, form.get("csrf")):  # type: ignore[arg-type]
            raise Forbidden("This form has expired. Reload the page and try again.")
        if session and session.token:

            def end() -> None:
                with _inst(request).catalog.writing() as db:
                    web_sessions.end(db, session.token)

            await run_in_threadpool(end)
        response = back("/login", "You are signed out.")
        set_session_cookie(request, response, sessions.WebSession.new())
        return response

    # --- clerk: upload ----------------------------------------------------------------

    @app.get("/upload")
    def upload_page(request: Request) -> Response:
        need(request, "ingest")
        return render(request, "upload.html", result=None)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        viewer = need(request, "ingest")
        installation = _inst(request)
        session = web_session(request)
        folder = uploads.upload_folder(installation)
        try:
            try:
                fields, saved = await uploads.receive(request, folder, lambda t: sessions.csrf_ok(session, t))
            except uploads.UploadRefused as exc:
                if str(exc) == "csrf":
                    raise Forbidden("This form has expired or did not come from this site (CSRF check). Go back, reload the page and try again.") from None
                raise UsageError(str(exc)) from None
            if not saved:
                raise UsageError("choose at least one file to upload")
            staff = fields.get("staff", "").strip() or None
            password = fields.get("password") or None

            def check() -> str:
                with installation.catalog.reading() as db:
                    who = authorize(db, viewer.name, "ingest")
                    if staff and not directory.staff_exists(db, staff):
                        raise UsageError(f"staff member {staff}: not in the staff directory; import the staff directory first")
                    return who

            who = await run_in_threadpool(check)
            from records.flows.ingest import ingest_inline

            result = await run_in_threadpool(ingest_inline, installation, saved, actor=who, owner_staff_id=staff, password=password)
            for source in result["sources"]:
                source["name"] = Path(source["path"]).name
        finally:
            uploads.remove(folder)
        if request.headers.get("accept", "").startswith("application/json"):
            return Response(json.dumps(result), media_type="application/json")
        return render(request, "upload.html", result=result)

    # --- records ----------------------------------------------------------------------

    def _filter(student: str, series: str, status: str, format: str, source: str, dated_from: str, dated_to: str) -> record_views.RecordFilter:
        return record_views.RecordFilter(
            student_id=student.strip() or None, series=series.strip() or None, status=status or None,
            format=format or None, source_id=source.strip() or None,
            dated_from=_date(dated_from.strip(), "from"), dated_to=_date(dated_to.strip(), "to"),
        )

    def _records_page(request: Request, filters: dict[str, str], rows: list[dict[str, Any]], total: int, search: dict[str, Any] | None = None) -> Response:
        with _inst(request).catalog.reading() as db:
            codes = [s.code for s in schedules.show(db).series]
        return render(request, "records.html", rows=rows[:500], total=total, filters=filters, codes=codes,
                      statuses=RECORD_STATUSES, formats=FORMATS, search=search, search_limit=record_views.SEARCH_LIMIT)

    @app.get("/records")
    def records_list(request: Request, student: str = "", series: str = "", status: str = "", format: str = "", source: str = "",
                     dated_from: str = "", dated_to: str = "") -> Response:
        need(request, "read")
        installation = _inst(request)
        where = _filter(student, series, status, format, source, dated_from, dated_to)
        with installation.catalog.reading() as db:
            rows = record_views.list_records(db, where, record_views.ViewContext.for_settings(installation.settings))
        filters = {"student": student, "series": series, "status": status, "format": format, "source": source, "dated_from": dated_from, "dated_to": dated_to}
        return _records_page(request, filters, rows, len(rows))

    @app.post("/records/search")
    async def records_search(request: Request) -> Response:
        """Full-text search over the records the filters leave (decrypted in memory, audited)."""
        viewer, form = await need_post(request, "read")
        names = ("student", "series", "status", "format", "source", "dated_from", "dated_to")
        filters = {name: _text(form, name) for name in names}
        words, purpose = _text(form, "words"), _text(form, "purpose")
        where = _filter(*(filters[name] for name in names))
        found = await run_in_threadpool(search_records, _inst(request), where, words, purpose=purpose, actor=viewer.name)
        return _records_page(request, filters, found.records, len(found.records), search={"words": words, "purpose": purpose, "read": found.read})

    def _record_page(request: Request, record_id: str, text: str | None = None, purpose: str | None = None, status_code: int = 200) -> Response:
        installation = _inst(request)
        with installation.catalog.reading() as db:
            view = record_views.show_record(db, record_id, record_views.ViewContext.for_settings(installation.settings))
            codes = [s.code for s in schedules.show(db).series]
        previews = view["format"] in PRINTOUT_FORMATS and view["status"] != "destroyed"
        return render(request, "record.html", status_code=status_code, r=view, text=text, purpose=purpose, codes=codes, previews=previews)

    @app.get("/records/{record_id}")
    def record_page(request: Request, record_id: str) -> Response:
        need(request, "read")
        return _record_page(request, record_id)

    @app.post("/records/{record_id}/text")
    async def record_text(request: Request, record_id: str) -> Response:
        viewer, form = await need_post(request, "read")
        purpose = _text(form, "purpose")
        if not purpose:
            raise UsageError("say why you are reading this record: the purpose goes into the student's access log")
        installation = _inst(request)

        def read() -> str:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "read")
                return record_views.read_text(db, installation.content, record_id, actor=who, purpose=purpose)

        text = await run_in_threadpool(read)
        return await run_in_threadpool(_record_page, request, record_id, text, purpose)

    @app.get("/records/{record_id}/pages/{number}.png")
    def record_page_image(request: Request, record_id: str, number: int, purpose: str = "") -> Response:
        """One page of a printout drawn from its stored content; each drawing is an audited view."""
        viewer = need(request, "read")
        if not purpose.strip():
            raise UsageError("say why you are looking at this page: the purpose goes into the student's access log")
        installation = _inst(request)
        with installation.catalog.writing() as db:
            who = authorize(db, viewer.name, "read")
            view = record_views.show_record(db, record_id)
            if view["format"] not in PRINTOUT_FORMATS or number not in {p["number"] for p in view["pages"]}:
                raise NotFound(f"record {record_id} has no page {number} to preview")
            data = record_views.read_content(db, installation.content, record_id, actor=who, purpose=purpose.strip(), what=f"page {number}")
        png = page_png(data, number)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    # --- review -----------------------------------------------------------------------

    @app.get("/review")
    def review_page(request: Request) -> Response:
        need(request, "classify")
        with _inst(request).catalog.reading() as db:
            items = classification.review_queue(db)
            codes = [s.code for s in schedules.show(db).series]
        return render(request, "review.html", items=items, codes=codes)

    @app.post("/review/{record_id}")
    async def review_decide(request: Request, record_id: str) -> Response:
        viewer, form = await need_post(request, "classify")
        students = _list(form, "student")
        no_student = _text(form, "no_student") in ("1", "on", "yes")
        series = _text(form, "series") or None
        reason = _text(form, "reason")
        installation = _inst(request)

        def decide() -> dict[str, Any]:
            from records.flows.classify import decide_by_person

            return decide_by_person(installation, record_id, students=students, no_student=no_student, series=series, reason=reason, actor=viewer.name)

        result = await run_in_threadpool(decide)
        target = _text(form, "back")
        target = target if target in ("/review", f"/records/{record_id}") else "/review"
        return back(target, f"{record_id}: {result['status'].replace('_', ' ')}")

    # --- quarantine -------------------------------------------------------------------

    @app.get("/quarantine")
    def quarantine_page(request: Request) -> Response:
        need(request, "read")
        with _inst(request).catalog.reading() as db:
            rows = record_views.quarantined(db)
        for row in rows:
            row["name"] = Path(row["path"]).name
        return render(request, "quarantine.html", rows=rows)

    @app.post("/quarantine/{source_id}/retry")
    async def quarantine_retry(request: Request, source_id: str) -> Response:
        viewer, form = await need_post(request, "quarantine.retry")
        password = str(form.get("password") or "") or None
        installation = _inst(request)

        def retry() -> Any:
            with installation.catalog.reading() as db:
                who = authorize(db, viewer.name, "quarantine.retry")
            from records.flows.ingest import retry_source

            return retry_source(installation, source_id, actor=who, password=password)

        report = await run_in_threadpool(retry)
        return back("/quarantine", f"{source_id}: {report.status}" + (f" ({report.reason})" if report.reason else ""))

    # --- NON-RECORD -------------------------------------------------------------------

    @app.get("/nonrecords")
    def nonrecords_page(request: Request) -> Response:
        need(request, "nonrecord.list")
        with _inst(request).catalog.reading() as db:
            rows = classification.nonrecords(db)
        by_source: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_source.setdefault(row["source_id"], []).append(row)
        return render(request, "nonrecords.html", by_source=by_source)

    @app.post("/nonrecords/confirm")
    async def nonrecords_confirm(request: Request) -> Response:
        viewer, form = await need_post(request, "nonrecord.confirm")
        source_id = _text(form, "source") or None
        record_ids = _list(form, "record")
        installation = _inst(request)

        def confirm() -> dict[str, Any]:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "nonrecord.confirm")
                return classification.confirm_nonrecords(db, installation.content, record_ids=record_ids, source_id=source_id, actor=who)

        result = await run_in_threadpool(confirm)
        refused = "; ".join(f"{r['id']}: {r['reason']}" for r in result["refused"])
        return back("/nonrecords", f"purged {len(result['purged'])} record(s)" + (f"; not purged: {refused}" if refused else ""))

    # --- holds ------------------------------------------------------------------------

    @app.get("/holds")
    def holds_page(request: Request) -> Response:
        need(request, "read")
        installation = _inst(request)
        with installation.catalog.reading() as db:
            rows = retention.list_holds(db, installation.settings.zone)
            codes = [s.code for s in schedules.show(db).series]
        from records.retention.holds import HOLD_KINDS

        return render(request, "holds.html", rows=rows, kinds=HOLD_KINDS, codes=codes)

    @app.post("/holds")
    async def hold_place(request: Request) -> Response:
        viewer, form = await need_post(request, "hold.place")
        from records.retention.holds import HoldError, criteria

        try:
            made = criteria(
                _text(form, "kind"), _text(form, "reason"), students=_list(form, "student"), series=_list(form, "series"),
                date_from=_date(_text(form, "from"), "from"), date_to=_date(_text(form, "to"), "to"), records=_list(form, "record"),
            )
        except HoldError as exc:
            raise UsageError(str(exc).replace("--", "")) from None
        installation = _inst(request)

        def place() -> tuple[str, int]:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "hold.place")
                return retention.place_hold(db, _text(form, "kind"), _text(form, "reason"), made, actor=who, zone=installation.settings.zone)

        hold_id, covers = await run_in_threadpool(place)
        return back("/holds", f"hold {hold_id} placed: it covers {covers} record(s) now, and matching records ingested later")

    @app.post("/holds/{hold_id}/release")
    async def hold_release(request: Request, hold_id: str) -> Response:
        viewer, _ = await need_post(request, "hold.release")
        installation = _inst(request)

        def release() -> None:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "hold.release")
                retention.release_hold(db, hold_id, actor=who, zone=installation.settings.zone)

        await run_in_threadpool(release)
        return back("/holds", f"hold {hold_id} released")

    # --- disposal ---------------------------------------------------------------------

    @app.get("/disposal")
    def disposal_page(request: Request, as_of: str = "") -> Response:
        need(request, "read")
        installation = _inst(request)
        day = _date(as_of.strip(), "as of") or _today(installation)
        with installation.catalog.reading() as db:
            plan = disposal.plan(db, installation.settings, day)
            batches = disposal.list_batches(db)
        reports = installation.paths.reports
        for batch in batches:
            batch["has_certificate"] = (reports / "certificates" / f"certificate-{batch['batch_id']}.pdf").is_file()
            batch["has_application"] = (reports / "disposal" / f"application-{batch['batch_id']}.pdf").is_file()
        return render(request, "disposal.html", plan=plan, batches=batches, as_of=day.isoformat(), today=_today(installation).isoformat())

    @app.post("/disposal/propose")
    async def disposal_propose(request: Request) -> Response:
        viewer, form = await need_post(request, "dispose.propose")
        installation = _inst(request)
        day = _date(_text(form, "as_of"), "as of") or _today(installation)

        def propose() -> list[dict[str, Any]]:
            with installation.catalog.reading() as db:
                who = authorize(db, viewer.name, "dispose.propose")
            from records.flows.disposal import propose_batches

            return propose_batches(installation, day, actor=who)

        made = await run_in_threadpool(propose)
        return back("/disposal", f"{len(made)} batch(es) proposed" if made else "nothing to propose")

    @app.post("/disposal/{batch_id}/approve")
    async def disposal_approve(request: Request, batch_id: str) -> Response:
        viewer, form = await need_post(request, "dispose.approve")
        authorization = _text(form, "authorization") or None
        installation = _inst(request)

        def approve() -> str:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "dispose.approve")
                disposal.approve(db, batch_id, actor=who, authorization=authorization)
                return who

        who = await run_in_threadpool(approve)
        return back("/disposal", f"{batch_id}: approved by {who}")

    @app.post("/disposal/{batch_id}/reject")
    async def disposal_reject(request: Request, batch_id: str) -> Response:
        viewer, form = await need_post(request, "dispose.reject")
        reason = _text(form, "reason")
        installation = _inst(request)

        def reject() -> None:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "dispose.reject")
                disposal.reject(db, batch_id, actor=who, reason=reason)

        await run_in_threadpool(reject)
        return back("/disposal", f"{batch_id}: rejected")

    @app.post("/disposal/{batch_id}/execute")
    async def disposal_execute(request: Request, batch_id: str) -> Response:
        viewer, _ = await need_post(request, "dispose.execute")
        installation = _inst(request)

        def execute() -> dict[str, Any]:
            with installation.catalog.reading() as db:
                who = authorize(db, viewer.name, "dispose.execute")
            from records.flows.disposal import execute_batch

            return execute_batch(installation, batch_id, actor=who)

        result = await run_in_threadpool(execute)
        skipped = "; ".join(f"{s['id']}: {s['reason']}" for s in result["skipped"])
        return back("/disposal", f"{batch_id}: {len(result['destroyed'])} destroyed, {len(result['skipped'])} skipped" + (f" ({skipped})" if skipped else ""))

    def _batch_file(request: Request, batch_id: str, kind: str, suffix: str) -> Response:
        need(request, "read")
        installation = _inst(request)
        with installation.catalog.reading() as db:
            known = {b["batch_id"] for b in disposal.list_batches(db)}
        if batch_id not in known:
            raise NotFound(f"no disposal batch {batch_id!r}")
        folder = "certificates" if kind == "certificate" else "disposal"
        path = installation.paths.reports / folder / f"{kind}-{batch_id}.{suffix}"
        if not path.is_file():
            raise NotFound(f"batch {batch_id} has no {kind} yet")
        media = "application/pdf" if suffix == "pdf" else ("application/json" if suffix == "json" else "text/csv")
        return FileResponse(path, media_type=media, filename=path.name)

    @app.get("/disposal/{batch_id}/certificate.{suffix}")
    def disposal_certificate(request: Request, batch_id: str, suffix: str) -> Response:
        if suffix not in ("pdf", "json"):
            raise NotFound("certificates are PDF or JSON")
        return _batch_file(request, batch_id, "certificate", suffix)

    @app.get("/disposal/{batch_id}/application.{suffix}")
    def disposal_application(request: Request, batch_id: str, suffix: str) -> Response:
        if suffix not in ("pdf", "csv"):
            raise NotFound("application data is PDF or CSV")
        return _batch_file(request, batch_id, "application", suffix)

    # --- schedule ---------------------------------------------------------------------

    @app.get("/schedule")
    def schedule_page(request: Request) -> Response:
        need(request, "read")
        with _inst(request).catalog.reading() as db:
            view = schedules.show(db)
        return render(request, "schedule.html", schedule=view)

    @app.post("/schedule/{code}/confirm")
    async def schedule_confirm(request: Request, code: str) -> Response:
        viewer, _ = await need_post(request, "schedule.confirm")
        installation = _inst(request)

        def confirm() -> bool:
            with installation.catalog.writing() as db:
                who = authorize(db, viewer.name, "schedule.confirm")
                return schedules.confirm(db, code, actor=who)

        changed = await run_in_threadpool(confirm)
        return back("/schedule", f"{code}: confirmed" if changed else f"{code}: was already confirmed")

    # --- audit ------------------------------------------------------------------------

    def _log_filter(actor: str, action: str, record: str, student: str, since: str, until: str) -> audit.LogFilter:
        return audit.LogFilter(
            record_id=record.strip() or None, student_id=student.strip() or None, actor=actor.strip() or None,
            action=action.strip() or None, since=_date(since.strip(), "since"), until=_date(until.strip(), "until"),
        )

    @app.get("/audit")
    def audit_page(request: Request, actor: str = "", action: str = "", record: str = "", student: str = "", since: str = "", until: str = "") -> Response:
        need(request, "audit.log")
        where = _log_filter(actor, action, record, student, since, until)
        limit = 500
        with _inst(request).catalog.reading() as db:
            events = []
            for event in audit.iter_events(db, where):
                events.append(event)
                if len(events) > limit:
                    break
        filters = {"actor": actor, "action": action, "record": record, "student": student, "since": since, "until": until}
        return render(request, "audit.html", events=events[:limit], more=len(events) > limit, filters=filters, verification=None)

    @app.get("/audit/verify")
    def audit_verify(request: Request) -> Response:
        viewer = need(request, "audit.verify")
        with _inst(request).catalog.reading() as db:
            authorize(db, viewer.name, "audit.verify")
            result = audit.verify(db)
        if not viewer.may("audit.log"):
            return render(request, "verify.html", verification=result)
        return render(request, "audit.html", events=[], more=False, filters={}, verification=result)

    @app.get("/audit/export.csv")
    def audit_csv(request: Request, actor: str = "", action: str = "", record: str = "", student: str = "", since: str = "", until: str = "") -> Response:
        viewer = need(request, "audit.log")
        where = _log_filter(actor, action, record, student, since, until)
        installation = _inst(request)
        with installation.catalog.reading() as db:
            authorize(db, viewer.name, "audit.log")

        def rows():  # type: ignore[no-untyped-def]
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["seq", "at", "actor", "action", "subject_type", "subject_id", "payload", "prev_hash", "hash"])
            yield buffer.getvalue()
            with installation.catalog.reading() as db:
                for event in audit.iter_events(db, where):
                    buffer.seek(0)
                    buffer.truncate()
                    writer.writerow([event.seq, event.at, event.actor, event.action, event.subject_type, event.subject_id,
                                     json.dumps(event.payload, ensure_ascii=False, sort_keys=True), event.prev_hash, event.hash])
                    yield buffer.getvalue()

        return StreamingResponse(rows(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})

    # --- users (admin) ----------------------------------------------------------------

    @app.get("/users")
    def users_page(request: Request) -> Response:
        need(request, "user.manage")
        with _inst(request).catalog.reading() as db:
            rows = user_store.list_users(db)
        return render(request, "users.html", rows=rows, roles=("clerk", "officer", "auditor", "admin"))

    @app.post("/users")
    async def user_add(request: Request) -> Response:
        viewer, form = await need_post(request, "user.manage")
        name, role, password = _text(form, "name").lower(), _text(form, "role"), str(form.get("password") or "")
        user_store.check_new_password(password)
        installation = _inst(request)

        def add() -> Any:
            with installation.catalog.writing() as db:
                return user_store.add_user(db, name, role, password, viewer.name)

        view = await run_in_threadpool(add)
        return back("/users", f"added {view.name} ({view.role})")

    @app.post("/users/{name}/unlock")
    async def user_unlock(request: Request, name: str) -> Response:
        viewer, _ = await need_post(request, "user.manage")
        installation = _inst(request)

        def unlock() -> None:
            with installation.catalog.writing() as db:
                user_store.unlock_user(db, name, viewer.name)

        await run_in_threadpool(unlock)
        return back("/users", f"unlocked {name}")

    @app.post("/users/{name}/disable")
    async def user_disable(request: Request, name: str) -> Response:
        viewer, _ = await need_post(request, "user.manage")
        installation = _inst(request)

        def disable() -> None:
            with installation.catalog.writing() as db:
                user_store.disable_user(db, name, viewer.name)

        await run_in_threadpool(disable)
        return back("/users", f"disabled {name}")
