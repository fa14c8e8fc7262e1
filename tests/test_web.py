"""The web app over HTTP: sign-in, lock-out, roles on every route, CSRF, uploads, review.

Runs on SQLite and PostgreSQL through the ``installation`` fixture. No Prefect server is
needed: the web ingests with ``process_batch`` and ``classify_reported`` directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from records.storage import audit, users
from records.web import create_app
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

PASSWORDS = {
    "admin": "admin-password-1",
    "casey": "clerk-password-1",
    "olivia": "officer-password-1",
    "omar": "officer-password-2",
    "avery": "auditor-password-1",
}
ROLES = {"admin": "admin", "casey": "clerk", "olivia": "officer", "omar": "officer", "avery": "auditor"}
BY_ROLE = {"clerk": "casey", "officer": "olivia", "auditor": "avery", "admin": "admin"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def app(installation):  # type: ignore[no-untyped-def]
    with installation.catalog.writing() as session:
        users.add_user(session, "admin", "admin", PASSWORDS["admin"], None)
        for name, role in ROLES.items():
            if name != "admin":
                users.add_user(session, name, role, PASSWORDS[name], "admin")
    return create_app(installation.paths.home)


def client_for(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}: {page.status_code}"
    return found.group(1)


def sign_in(app, name: str, password: str | None = None) -> TestClient:  # type: ignore[no-untyped-def]
    client = client_for(app)
    response = client.post("/login", data={"username": name, "password": password or PASSWORDS[name], "csrf": token(client), "next": "/"})
    assert response.status_code == 303, response.text
    return client


def events(installation, action: str | None = None) -> list[audit.AuditEvent]:  # type: ignore[no-untyped-def]
    with installation.catalog.reading() as session:
        return list(audit.iter_events(session, audit.LogFilter(action=action)))


def assert_friendly(response) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in response.text and 'File "' not in response.text


# --- sign-in -------------------------------------------------------------------------


def test_sign_in_shows_who_and_role_on_every_page(app):
    client = sign_in(app, "casey")
    for path in ("/upload", "/records", "/review", "/quarantine", "/holds", "/schedule"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'id="signed-in-user">casey<' in page.text and 'id="signed-in-role">clerk<' in page.text


def test_session_cookie_is_httponly_samesite_and_secure_behind_tls(app):
    client = client_for(app)
    plain = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    tls = client_for(app).get("/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"].lower()
    assert "secure" in tls and "httponly" in tls


def test_wrong_password_is_refused_without_saying_which_part(app):
    client = client_for(app)
    response = client.post("/login", data={"username": "casey", "password": "nope", "csrf": token(client)})
    assert response.status_code == 401 and "user name or password is wrong" in response.text
    assert client.get("/records").status_code == 303
    unknown = client.post("/login", data={"username": "nobody", "password": "nope", "csrf": token(client)})
    assert unknown.status_code == 401 and "user name or password is wrong" in unknown.text


def test_lock_out_after_five_failures_then_admin_unlocks_in_the_web(app, installation):
    client = client_for(app)
    for _ in range(users.MAX_FAILED_LOGINS):
        assert client.post("/login", data={"username": "casey", "password": "wrong", "csrf": token(client)}).status_code == 401
    locked = client.post("/login", data={"username": "casey", "password": PASSWORDS["casey"], "csrf": token(client)})
    assert locked.status_code == 401 and "locked" in locked.text
    [event] = events(installation, "user.locked")
    assert event.subject_id == "casey"

    admin = sign_in(app, "admin")
    page = admin.get("/users")
    assert "Unlock casey" in page.text
    unlocked = admin.post("/users/casey/unlock", data={"csrf": token(admin, "/users")})
    assert unlocked.status_code == 303
    [event] = events(installation, "user.unlocked")
    assert event.actor == "admin" and event.subject_id == "casey"
    sign_in(app, "casey")


def test_a_session_ends_when_the_user_is_disabled(app, installation):
    client = sign_in(app, "casey")
    assert client.get("/records").status_code == 200
    with installation.catalog.writing() as session:
        users.disable_user(session, "casey", "admin")
    assert client.get("/records").status_code == 303


def test_sign_out(app):
    client = sign_in(app, "casey")
    response = client.post("/logout", data={"csrf": token(client, "/records")})
    assert response.status_code == 303
    assert client.get("/records").status_code == 303


def test_a_forged_cookie_is_ignored(app):
    client = client_for(app)
    client.cookies.set("records_session", "eyJ1IjoiYWRtaW4iLCJjIjoieCIsInQiOjF9.forged")
    assert client.get("/users").status_code == 303


# --- roles on every route ------------------------------------------------------------

# path -> roles that get 200; everyone else signed in gets 403; signed out goes to /login.
GET_ROUTES = {
    "/upload": {"clerk", "officer"},
    "/records": {"clerk", "officer", "auditor"},
    "/review": {"clerk", "officer"},
    "/quarantine": {"clerk", "officer", "auditor"},
    "/nonrecords": {"clerk", "officer"},
    "/holds": {"clerk", "officer", "auditor"},
    "/disposal": {"clerk", "officer", "auditor"},
    "/schedule": {"clerk", "officer", "auditor"},
    "/audit": {"auditor"},
    "/audit/verify": {"clerk", "officer", "auditor", "admin"},
    "/audit/export.csv": {"auditor"},
    "/users": {"admin"},
}

# path -> roles allowed to make this change.
POST_ROUTES = {
    "/upload": {"clerk", "officer"},
    "/review/R-NONE": {"clerk", "officer"},
    "/quarantine/S-NONE/retry": {"clerk", "officer"},
    "/nonrecords/confirm": {"clerk", "officer"},
    "/holds": {"officer"},
    "/holds/H-NONE/release": {"officer"},
    "/disposal/propose": {"officer"},
    "/disposal/B-NONE/approve": {"officer"},
    "/disposal/B-NONE/reject": {"officer"},
    "/disposal/B-NONE/execute": {"officer"},
    "/schedule/STU-TEMPORARY/confirm": {"officer"},
    "/users": {"admin"},
    "/users/casey/unlock": {"admin"},
    "/users/casey/disable": {"admin"},
}


def test_every_page_enforces_its_roles(app):
    signed_out = client_for(app)
    clients = {role: sign_in(app, name) for role, name in BY_ROLE.items()}
    for path, allowed in GET_ROUTES.items():
        response = signed_out.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        for role, client in clients.items():
            response = client.get(path)
            assert response.status_code == (200 if role in allowed else 403), (path, role, response.status_code)
            assert_friendly(response)


def test_every_change_is_refused_to_roles_without_the_right_and_nothing_changes(app, installation):
    clients = {role: sign_in(app, name) for role, name in BY_ROLE.items()}
    tokens = {role: token(client, "/audit/verify") for role, client in clients.items()}
    before = len(events(installation))
    signed_out = client_for(app)
    for path, allowed in POST_ROUTES.items():
        out = signed_out.post(path, data={"csrf": "x"})
        assert out.status_code == 303 and out.headers["location"].startswith("/login"), path
        for role, client in clients.items():
            if role in allowed:
                continue
            response = client.post(path, data={"csrf": tokens[role], "reason": "r", "kind": "litigation", "student": "S1", "name": "x", "role": "clerk", "password": "long-enough-password"})
            assert response.status_code == 403, (path, role, response.status_code)
            assert_friendly(response)
    assert len(events(installation)) == before


def test_an_auditor_posting_directly_is_refused_and_nothing_changes(app, installation):
    auditor = sign_in(app, "avery")
    csrf = token(auditor, "/audit")
    before = len(events(installation))
    for path in ("/holds", "/schedule/STU-TEMPORARY/confirm", "/disposal/propose", "/review/R-1", "/upload"):
        response = auditor.post(path, data={"csrf": csrf, "kind": "litigation", "reason": "test", "student": "S1"})
        assert response.status_code == 403, path
    assert len(events(installation)) == before
    officer = sign_in(app, "olivia")
    assert "No holds." in officer.get("/holds").text


# --- CSRF ----------------------------------------------------------------------------


def test_posts_without_or_with_a_wrong_csrf_token_are_refused(app, installation):
    officer = sign_in(app, "olivia")
    before = len(events(installation))
    data = {"kind": "litigation", "reason": "case 12", "student": "S1"}
    missing = officer.post("/holds", data=data)
    wrong = officer.post("/holds", data=data | {"csrf": "not-the-token"})
    other = sign_in(app, "omar")
    stolen = officer.post("/holds", data=data | {"csrf": token(other, "/holds")})
    for response in (missing, wrong, stolen):
        assert response.status_code == 403 and "CSRF" in response.text
    login = client_for(app).post("/login", data={"username": "casey", "password": PASSWORDS["casey"]})
    assert login.status_code == 403
    assert len(events(installation)) == before
    placed = officer.post("/holds", data=data | {"csrf": token(officer, "/holds")})
    assert placed.status_code == 303
    assert len(events(installation, "hold.placed")) == 1


def test_an_upload_without_the_csrf_token_writes_nothing(app, installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "a.pdf", [EMAIL_PAGE])
    clerk = sign_in(app, "casey")
    before = len(events(installation))
    for data in ({}, {"csrf": "wrong"}):
        response = clerk.post("/upload", data=data, files=[("files", ("a.pdf", pdf.read_bytes(), "application/pdf"))])
        assert response.status_code == 403 and "CSRF" in response.text
    assert len(events(installation)) == before
    assert not list((installation.paths.home / "tmp").glob("upload-*/*"))


# --- clerk work ----------------------------------------------------------------------


def upload(client: TestClient, *paths: Path):  # type: ignore[no-untyped-def]
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    return client.post("/upload", data={"csrf": token(client, "/upload")}, files=files)


def test_upload_of_a_born_digital_pdf_shows_ingested_and_the_record_reads_with_a_purpose(app, installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "permission slip.pdf", [EMAIL_PAGE])
    clerk = sign_in(app, "casey")
    response = upload(clerk, pdf, pdf)
    assert response.status_code == 200, response.text
    assert "permission slip.pdf" in response.text and "ingested" in response.text and "duplicate" in response.text
    record_id = re.search(r'href="/records/([^"]+)"', response.text).group(1)
    assert not list((installation.paths.home / "tmp").glob("upload-*")), "upload folders are removed"

    listed = clerk.get("/records", params={"format": "printout-pdf"})
    assert record_id in listed.text
    page = clerk.get(f"/records/{record_id}")
    assert page.status_code == 200 and "Field trip" not in page.text and "Why are you reading it?" in page.text
    no_purpose = clerk.post(f"/records/{record_id}/text", data={"csrf": token(clerk, "/records"), "purpose": " "})
    assert no_purpose.status_code == 400 and "purpose" in no_purpose.text
    read = clerk.post(f"/records/{record_id}/text", data={"csrf": token(clerk, "/records"), "purpose": "parent asked for a copy"})
    assert read.status_code == 200 and "permission slip" in read.text
    [viewed] = events(installation, "record.viewed")
    assert viewed.actor == "casey" and viewed.payload["purpose"] == "parent asked for a copy"


def test_an_unreadable_upload_is_quarantined_with_its_reason_and_listed(app, tmp_path):
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    clerk = sign_in(app, "casey")
    response = upload(clerk, bad)
    assert response.status_code == 200 and "quarantined" in response.text
    listed = clerk.get("/quarantine")
    assert "notes.pdf" in listed.text and "Retry" in listed.text


def test_a_review_decision_through_the_form(app, installation, tmp_path):
    from tests.cli_helpers import run
    from tests.test_classification_flow import ROSTER, STAFF, _email

    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert run("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    assert run("staff", "import", str(tmp_path / "staff.csv")).exit_code == 0
    mail = _email(tmp_path / "q.eml", "Coach Dan <coach.dan@gmail.com>", "Great game", "Leo did a great job at the game today, he really focused in practice.")
    clerk = sign_in(app, "casey")
    assert "ingested" in upload(clerk, mail).text
    queue = clerk.get("/review")
    record_id = re.search(r'action="/review/([^"]+)"', queue.text).group(1)
    assert "which students?" in queue.text and "S2" in queue.text
    no_reason = clerk.post(f"/review/{record_id}", data={"csrf": token(clerk, "/review"), "student": "S2", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    decided = clerk.post(f"/review/{record_id}", data={"csrf": token(clerk, "/review"), "student": "S2", "reason": "the coach writes about Leo", "back": "/review"})
    assert decided.status_code == 303
    page = clerk.get(f"/records/{record_id}")
    assert "S2" in page.text and "decided by casey" in page.text
    [event] = [e for e in events(installation, "record.classified") if e.actor == "casey"]
    assert event.payload["students"] == ["S2"] and event.payload["reason"] == "the coach writes about Leo"


# --- officer and auditor -------------------------------------------------------------


def test_officer_places_and_releases_a_hold_and_confirms_a_series(app, installation):
    officer = sign_in(app, "olivia")
    placed = officer.post("/holds", data={"csrf": token(officer, "/holds"), "kind": "litigation", "reason": "Doe v. District", "student": "S1 S2"})
    assert placed.status_code == 303
    page = officer.get("/holds")
    hold_id = re.search(r'action="/holds/([^"/]+)/release"', page.text).group(1)
    assert "Doe v. District" in page.text
    assert officer.post(f"/holds/{hold_id}/release", data={"csrf": token(officer, "/holds")}).status_code == 303
    assert "released" in officer.get("/holds").text
    schedule = officer.get("/schedule")
    unconfirmed = re.findall(r'action="/schedule/([^"/]+)/confirm"', schedule.text)
    if unconfirmed:
        assert officer.post(f"/schedule/{unconfirmed[0]}/confirm", data={"csrf": token(officer, "/schedule")}).status_code == 303
        assert f'action="/schedule/{unconfirmed[0]}/confirm"' not in officer.get("/schedule").text
    assert officer.post("/disposal/propose", data={"csrf": token(officer, "/disposal")}).status_code == 303
    assert "nothing to propose" in officer.get("/disposal", params={"msg": "nothing to propose"}).text


def test_auditor_reads_filters_verifies_and_exports_the_log(app, installation):
    officer = sign_in(app, "olivia")
    officer.post("/holds", data={"csrf": token(officer, "/holds"), "kind": "audit", "reason": "state audit", "series": "STU-TEMPORARY"})
    auditor = sign_in(app, "avery")
    page = auditor.get("/audit", params={"actor": "olivia"})
    assert page.status_code == 200 and "hold.placed" in page.text and "user.added" not in page.text
    verified = auditor.get("/audit/verify")
    assert "The chain is intact" in verified.text
    exported = auditor.get("/audit/export.csv", params={"action": "hold.placed"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0].startswith("seq,at,actor,action") and len(lines) == 2 and "hold.placed" in lines[1]


# --- errors --------------------------------------------------------------------------


def test_errors_are_friendly_pages_never_stack_traces(app, monkeypatch):
    clerk = sign_in(app, "casey")
    missing = clerk.get("/records/R-NOPE")
    assert missing.status_code == 404 and "no record" in missing.text
    assert clerk.get("/no/such/page").status_code == 404
    bad_date = sign_in(app, "avery").get("/audit", params={"since": "yesterday"})
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    from records.storage import record_views

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated failure with a secret path /etc/passwd")

    monkeypatch.setattr(record_views, "list_records", broken)
    crashed = clerk.get("/records")
    assert crashed.status_code == 500 and "Something went wrong" in crashed.text and "/etc/passwd" not in crashed.text
    for response in (missing, bad_date, crashed):
        assert_friendly(response)


# Pages about one thing (a record, a batch): with an unknown id an allowed role gets 404,
# never 403; every other signed-in role gets 403.
DETAIL_ROUTES = {
    "/records/R-NONE": {"clerk", "officer", "auditor"},
    "/disposal/B-NONE/certificate.pdf": {"clerk", "officer", "auditor"},
    "/disposal/B-NONE/application.pdf": {"clerk", "officer", "auditor"},
}
# Reading a record's text is a change (it writes the student's access log entry).
POST_ROUTES["/records/R-NONE/text"] = {"clerk", "officer", "auditor"}
PUBLIC_ROUTES = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}


def _route_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$")


def test_every_route_of_the_app_is_in_a_role_table(app):
    """Derived from the app's own routes: a new route cannot escape the role tests above."""
    from fastapi.routing import APIRoute

    tables = {"GET": [*GET_ROUTES, *DETAIL_ROUTES], "POST": list(POST_ROUTES)}
    missing = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            if (method, route.path) in PUBLIC_ROUTES:
                continue
            pattern = _route_pattern(route.path)
            if not any(pattern.match(path) for path in tables.get(method, [])):
                missing.append(f"{method} {route.path}")
    assert not missing, f"routes with no row in GET_ROUTES / DETAIL_ROUTES / POST_ROUTES: {missing}"


def test_pages_about_one_thing_enforce_their_roles(app):
    signed_out = client_for(app)
    clients = {role: sign_in(app, name) for role, name in BY_ROLE.items()}
    for path, allowed in DETAIL_ROUTES.items():
        response = signed_out.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        for role, client in clients.items():
            response = client.get(path)
            assert response.status_code == (404 if role in allowed else 403), (path, role, response.status_code)
            assert_friendly(response)
