"""The FastAPI application: sign-in, sessions, CSRF, roles and the friendly error pages.

Pages live in ``records.web.pages``; this module builds the app around them. Every page
names the right it needs (``access.py``); a POST is also checked for its CSRF token and
then authorised again inside its transaction with ``storage.users.authorize``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from records import access, logs
from records.errors import ConfigurationError, NotFound, RecordsError, Refused, UsageError
from records.storage.installation import Installation, open_installation
from records.web import sessions

HERE = Path(__file__).parent
log = logging.getLogger("records.web")

# What each role sees in the navigation: (path, label, right needed).
NAV = [
    ("/upload", "Upload", "ingest"),
    ("/records", "Records", "read"),
    ("/review", "Review", "classify"),
    ("/quarantine", "Quarantine", "read"),
    ("/nonrecords", "Non-records", "nonrecord.list"),
    ("/holds", "Holds", "read"),
    ("/disposal", "Disposal", "read"),
    ("/due", "Due and overdue", "dispose.propose"),
    ("/notices", "Exit notices", "notice.send"),
    ("/schedule", "Schedule", "read"),
    ("/audit", "Audit log", "audit.log"),
    ("/audit/access", "Access logs", "audit.log"),
    ("/audit/checkpoints", "Checkpoints", "audit.checkpoint"),
    ("/certificates", "Certificates", "audit.log"),
    ("/users", "Users", "user.manage"),
]


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of this request."""

    name: str
    role: str
    csrf: str

    def may(self, action: str) -> bool:
        return access.may(self.role, action)


class SignInRequired(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(request: Request, response: Response, session: sessions.WebSession) -> None:
    response.set_cookie(
        sessions.COOKIE,
        sessions.encode(session, request.app.state.secret),
        max_age=sessions.MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def web_session(request: Request) -> sessions.WebSession | None:
    return sessions.decode(request.cookies.get(sessions.COOKIE), request.app.state.secret)


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in, active, unlocked user of a live server-side session, re-read on every request."""
    if hasattr(request.state, "viewer"):
        return request.state.viewer
    from records.storage import users, web_sessions

    viewer = None
    session = web_session(request)
    if session and session.user:
        installation: Installation = request.app.state.installation
        with installation.catalog.reading() as db:
            user = users.get_user(db, session.user)
            live = web_sessions.is_live(db, session.token, session.user)
        if user and live and user.active and not user.locked:
            viewer = Viewer(user.name, user.role, session.csrf)
    request.state.viewer = viewer
    return viewer


def need(request: Request, action: str | None) -> Viewer:
    """The viewer, when signed in and allowed ``action`` (None: any signed-in user); else sign-in or a 403 page."""
    viewer = current_viewer(request)
    if viewer is None:
        raise SignInRequired()
    if action is not None and not viewer.may(action):
        allowed = " or ".join(access.roles_allowed(action)) or "no role"
        raise Forbidden(f"You are signed in as {viewer.name} ({viewer.role}); {access.label(action)} needs {allowed}.")
    return viewer


async def need_post(request: Request, action: str | None) -> tuple[Viewer, Any]:
    """For a POST: signed in, allowed, and carrying this session's CSRF token."""
    viewer = need(request, action)
    form = await request.form()
    if not sessions.csrf_ok(web_session(request), form.get("csrf")):  # type: ignore[arg-type]
        raise Forbidden("This form has expired or did not come from this site (CSRF check). Go back, reload the page and try again.")
    return viewer, form


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    viewer = context.pop("viewer", None) or current_viewer(request)
    nav = [(path, label) for path, label, right in NAV if viewer and viewer.may(right)]
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "nav": nav, "path": request.url.path, "message": request.query_params.get("msg"), **context},
        status_code=status_code,
    )


def back(path: str, message: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?msg={quote(message)}" if message else ""), status_code=303)


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    try:
        return render(request, "error.html", status_code=status, title=title, error=message)
    except Exception:  # noqa: BLE001 - the error page itself must never fail with a trace
        log.exception("error page failed")
        return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{title}</h1>", status_code=status)


def _log_request(request: Request, status: int, seconds: float) -> None:
    """One operator's line per request: the route's pattern, never the address itself.

    A record's id in a path is harmless, but a query string carries a search's words and
    a date range, so neither the raw path nor the query is logged; the route pattern
    (``/records/{record_id}``) says what was asked for. Static files are left out.
    """
    route = request.scope.get("route")
    pattern = getattr(route, "path", None) or "unmatched"
    if pattern.startswith("/static"):
        return
    viewer = getattr(request.state, "viewer", None)
    logs.get("web").info(
        "web.request",
        method=request.method,
        route=pattern,
        status=status,
        ms=round(seconds * 1000, 1),
        user=viewer.name if viewer else None,
        role=viewer.role if viewer else None,
    )


def create_app(home: str | Path | None = None) -> FastAPI:
    installation = open_installation(home)
    app = FastAPI(title="Records", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.installation = installation
    app.state.secret = sessions.load_secret(installation.paths.home)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pct"] = lambda v: f"{float(v or 0):.0%}"
    templates.env.filters["day"] = lambda v: (v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else (str(v)[:10] if v else "-"))
    templates.env.filters["moment"] = lambda v: (v.strftime("%Y-%m-%d %H:%M") if hasattr(v, "strftime") else (str(v)[:16].replace("T", " ") if v else "-"))
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response = await call_next(request)
        _log_request(request, response.status_code, time.perf_counter() - started)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error_page(request, 403, "Not allowed", exc.message)

    @app.exception_handler(RecordsError)
    async def _records_error(request: Request, exc: RecordsError) -> Response:
        if isinstance(exc, Refused):
            return _error_page(request, 403, "Refused", str(exc))
        if isinstance(exc, NotFound):
            return _error_page(request, 404, "Not found", str(exc))
        if isinstance(exc, UsageError):
            return _error_page(request, 400, "Please check what you entered", str(exc))
        if isinstance(exc, ConfigurationError):
            return _error_page(request, 500, "The installation needs attention", str(exc))
        return _error_page(request, 400, "Could not do that", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Page not found", 405: "Not allowed here"}
        detail = exc.detail if isinstance(exc.detail, str) else "The request could not be handled."
        if exc.status_code == 404:
            detail = "There is no page at this address. Use the menu to find your way."
        return _error_page(request, exc.status_code, titles.get(exc.status_code, "Something is not right"), detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(e.get("loc", ["", "?"])[-1]) for e in exc.errors()})
        return _error_page(request, 400, "Please check what you entered", f"Missing or invalid: {', '.join(fields)}.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        logs.get("web").error("web.unexpected_error", method=request.method, error=type(exc).__name__)
        return _error_page(
            request, 500, "Something went wrong",
            "The records engine could not finish this request. Try again; if it happens again, tell your IT contact the time it happened.",
        )

    from records.web import home, officer, oversight, pages

    for module in (pages, home, officer, oversight):
        module.register(app)
    return app

