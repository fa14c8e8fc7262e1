"""The home page ("start here"), the user's own account, and an admin's password reset.

A first visit should make sense without a manual: the home page says, for the role of
whoever is signed in, what to do first and how much is waiting for them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from records.storage import classification, disposal, record_views, schedules
from records.storage import users as user_store
from records.web.app import back, current_viewer, need, need_post, render, web_session
from records.web.pages import _inst, _text


def _waiting(request: Request) -> dict[str, Any]:
    """Counts a first glance needs: cheap catalog queries, no retention planning."""
    with _inst(request).catalog.reading() as db:
        batches = [b["status"] for b in disposal.list_batches(db)]
        return {
            "review": len(classification.review_queue(db)),
            "quarantine": len(record_views.quarantined(db)),
            "proposed": batches.count("proposed"),
            "approved": batches.count("approved"),
            "unconfirmed": [s.code for s in schedules.show(db).series if not s.confirmed],
        }


def register(app: FastAPI) -> None:
    @app.get("/")
    def home(request: Request) -> Response:
        viewer = current_viewer(request)
        if viewer is None:
            return RedirectResponse("/login", status_code=303)
        return render(request, "home.html", waiting=_waiting(request))

    @app.get("/account")
    def account_page(request: Request) -> Response:
        need(request, None)
        return render(request, "account.html")

    @app.post("/account/password")
    async def change_password(request: Request) -> Response:
        viewer, form = await need_post(request, None)
        current, new, repeat = (str(form.get(name) or "") for name in ("current", "new", "repeat"))
        if new != repeat:
            return back("/account", "The two new passwords differ; nothing was changed.")
        installation = _inst(request)
        session = web_session(request)

        def change() -> None:
            with installation.catalog.writing() as db:
                user_store.change_own_password(db, viewer.name, current, new, keep_session=session.token if session else None)

        await run_in_threadpool(change)
        return back("/account", "Your password is changed.")

    @app.post("/users/{name}/password")
    async def reset_password(request: Request, name: str) -> Response:
        viewer, form = await need_post(request, "user.manage")
        password = str(form.get("password") or "")
        installation = _inst(request)

        def reset() -> None:
            with installation.catalog.writing() as db:
                user_store.set_password(db, name, password, viewer.name)

        await run_in_threadpool(reset)
        return back("/users", f"new password set for {name}; tell them in person, and ask them to change it under Account")

