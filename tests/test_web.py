"""The web app over HTTP: sign-in, lock-out, roles on every route, CSRF, uploads, review.

Runs on SQLite and PostgreSQL through the ``installation`` fixture. No Prefect server is
needed: the web ingests with ``process_batch`` and ``classify_reported`` directly.
"""

from __future__ import annotations

import re
from urllib.parse import unquote
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


def test_sign_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app):
    client = sign_in(app, "casey")
    copied = client.cookies.get("records_session")
    thief = client_for(app)
    thief.cookies.set("records_session", copied)
    assert thief.get("/records").status_code == 200
    response = client.post("/logout", data={"csrf": token(client, "/records")})
    assert response.status_code == 303
    assert client.get("/records").status_code == 303
    assert thief.get("/records").status_code == 303  # the copy ended with the session
    assert sign_in(app, "casey").get("/records").status_code == 200


def test_a_forged_cookie_is_ignored(app):
    client = client_for(app)
    client.cookies.set("records_session", "eyJ1IjoiYWRtaW4iLCJjIjoieCIsInQiOjF9.forged")
    assert client.get("/users").status_code == 303


# --- roles on every route ------------------------------------------------------------

# path -> roles that get 200; everyone else signed in gets 403; signed out goes to /login.
GET_ROUTES = {
    "/": {"clerk", "officer", "auditor", "admin"},
    "/account": {"clerk", "officer", "auditor", "admin"},
    "/upload": {"clerk", "officer"},
    "/records": {"clerk", "officer", "auditor"},
    "/review": {"clerk", "officer"},
    "/quarantine": {"clerk", "officer", "auditor"},
    "/nonrecords": {"clerk", "officer"},
    "/holds": {"clerk", "officer", "auditor"},
    "/disposal": {"clerk", "officer", "auditor"},
    "/schedule": {"clerk", "officer", "auditor"},
    "/due": {"clerk", "officer", "auditor"},
    "/notices": {"clerk", "officer", "auditor"},
    "/certificates": {"clerk", "officer", "auditor"},
    "/audit": {"auditor"},
    "/audit/access": {"auditor"},
    "/audit/checkpoints": {"auditor"},
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
    "/users/casey/password": {"admin"},
    "/records/search": {"clerk", "officer", "auditor"},
    "/schedule/load": {"officer"},
    "/notices/send": {"officer"},
    "/audit/checkpoints": {"auditor"},
}


def test_every_page_enforces_its_roles(app):
    signed_out = client_for(app)
    assert signed_out.get("/").headers["location"] == "/login"
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
    from tests.cli_helpers import import_directories
    from tests.test_classification_flow import ROSTER, STAFF, _email

    import_directories(tmp_path, ROSTER, STAFF)
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


# --- finding records, pages, officer and auditor pages, passwords -------------------------


def _leo_and_maya(installation, tmp_path):  # type: ignore[no-untyped-def]
    """The disposal tests' roster (Leo and Will exited) and their 2017 emails, plus one of 2024."""
    import datetime as dt

    from tests.cli_helpers import import_directories
    from tests.test_classification_flow import _email, _ingest
    from tests.test_disposal import ROSTER, STAFF, WHEN

    import_directories(tmp_path, ROSTER, STAFF)

    files = _ingest(
        installation,
        _email(tmp_path / "leo.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments.", WHEN),
        _email(tmp_path / "maya.eml", "Ana Rivera <ana.rivera@example.net>", "Maya", "Maya Rivera was absent today with the flu.", dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)),
    )
    return {name.removesuffix(".eml"): found[0] for name, found in files.items()}


def test_records_by_date_range_and_by_words_in_their_text_audited_without_the_words(app, installation, tmp_path, monkeypatch):
    ids = _leo_and_maya(installation, tmp_path)
    clerk = sign_in(app, "casey")
    in_2017 = clerk.get("/records", params={"dated_from": "2017-10-01", "dated_to": "2017-10-31"})
    assert ids["leo"] in in_2017.text and ids["maya"] not in in_2017.text
    from_2024 = clerk.get("/records", params={"dated_from": "2024-03-04"})
    assert ids["maya"] in from_2024.text and ids["leo"] not in from_2024.text
    assert ids["maya"] not in clerk.get("/records", params={"dated_to": "2024-03-03"}).text
    assert clerk.get("/records", params={"dated_from": "March"}).status_code == 400

    csrf = token(clerk, "/records")
    found = clerk.post("/records/search", data={"csrf": csrf, "words": "FLU absent", "purpose": "nurse asked"})
    assert found.status_code == 200 and ids["maya"] in found.text and ids["leo"] not in found.text
    assert "Searched the text of 2 record(s)" in found.text
    none = clerk.post("/records/search", data={"csrf": csrf, "words": "flu homework", "purpose": "nurse asked"})
    assert ids["maya"] not in none.text and ids["leo"] not in none.text  # every word must appear
    narrowed = clerk.post("/records/search", data={"csrf": csrf, "words": "flu", "purpose": "p", "dated_to": "2020-01-01"})
    assert ids["maya"] not in narrowed.text  # the filters narrow the candidates
    no_purpose = clerk.post("/records/search", data={"csrf": csrf, "words": "flu", "purpose": ""})
    assert no_purpose.status_code == 400 and "why you are searching" in no_purpose.text
    searches = events(installation, "records.searched")
    assert len(searches) == 3 and searches[0].actor == "casey"
    assert searches[0].payload == {"purpose": "nurse asked", "read": 2, "matched": [ids["maya"]], "students": ["S1"]}
    assert "flu" not in json_text(searches)
    auditor = sign_in(app, "avery")
    assert "nurse asked" in auditor.get("/audit/access", params={"student": "S1"}).text  # in Maya's access log
    assert "nurse asked" not in auditor.get("/audit/access", params={"student": "S2"}).text

    from records.storage import record_views

    monkeypatch.setattr(record_views, "SEARCH_LIMIT", 1)
    too_many = clerk.post("/records/search", data={"csrf": csrf, "words": "flu", "purpose": "p"})
    assert too_many.status_code == 400 and "narrow it" in too_many.text


def json_text(items) -> str:  # type: ignore[no-untyped-def]
    import json

    return json.dumps([i.payload for i in items])


def test_a_printout_page_is_previewed_from_its_stored_content_and_each_view_is_logged(app, installation, tmp_path):
    pdf = born_digital_pdf(tmp_path / "slip.pdf", [EMAIL_PAGE, ["Page two of the slip"]])
    clerk = sign_in(app, "casey")
    record_id = re.search(r'href="/records/([^"]+)"', upload(clerk, pdf).text).group(1)
    shown = clerk.post(f"/records/{record_id}/text", data={"csrf": token(clerk, "/records"), "purpose": "parent asked for a copy"})
    assert f'src="/records/{record_id}/pages/2.png?purpose=parent%20asked%20for%20a%20copy"' in shown.text
    image = clerk.get(f"/records/{record_id}/pages/2.png", params={"purpose": "parent asked for a copy"})
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    from PIL import Image
    import io

    drawn = Image.open(io.BytesIO(image.content))
    assert drawn.width == 900 and drawn.height > drawn.width  # a letter page, upright
    views = [e for e in events(installation, "record.viewed") if e.payload["what"] == "page 2"]
    assert len(views) == 1 and views[0].actor == "casey" and views[0].payload["purpose"] == "parent asked for a copy"
    assert clerk.get(f"/records/{record_id}/pages/2.png").status_code == 400  # no purpose, no page
    assert clerk.get(f"/records/{record_id}/pages/9.png", params={"purpose": "x"}).status_code == 404
    assert len(events(installation, "record.viewed")) == 2  # the text and page 2; refusals log nothing


def test_officer_loads_a_schedule_in_the_web_and_a_bad_one_changes_nothing(app, installation):
    from records.retention.schedule import default_schedule_text

    text = default_schedule_text()
    officer = sign_in(app, "olivia")
    csrf = token(officer, "/schedule")
    assert 'action="/schedule/load"' in officer.get("/schedule").text
    assert 'action="/schedule/load"' not in sign_in(app, "casey").get("/schedule").text
    loaded = officer.post("/schedule/load", data={"csrf": csrf}, files={"schedule": ("district.yaml", text.replace("retention: P3Y", "retention: P5Y").encode(), "text/yaml")})
    assert loaded.status_code == 303 and "version 2 loaded from district.yaml" in unquote(loaded.headers["location"])
    assert "version 2" in officer.get("/schedule").text
    assert [e.actor for e in events(installation, "schedule.loaded")][1:] == ["olivia"]  # after init's version 1
    bad = officer.post("/schedule/load", data={"csrf": csrf}, files={"schedule": ("bad.yaml", text.replace("    trigger: creation", "    trigger: someday", 1).encode(), "text/yaml")})
    assert bad.status_code == 400 and "someday" in bad.text and "nothing was loaded" in bad.text
    assert officer.post("/schedule/load", data={"csrf": csrf}).status_code == 400
    assert len(events(installation, "schedule.loaded")) == 2


def test_due_and_overdue_exit_notices_and_certificates_pages(app, installation, tmp_path):
    ids = _leo_and_maya(installation, tmp_path)
    officer = sign_in(app, "olivia")
    due = officer.get("/due")
    overdue = due.text.split('id="overdue"')[1].split("</table>")[0]
    assert ids["leo"] in overdue and ids["maya"] not in due.text
    notices = officer.get("/notices")
    owed = notices.text.split('id="owed"')[1].split("</table>")[0]
    assert "S2" in owed and "S3" in owed and "S1" not in owed
    sent = officer.post("/notices/send", data={"csrf": token(officer, "/notices")})
    assert sent.status_code == 303 and "2 exit notice(s) written" in unquote(sent.headers["location"])
    written = officer.get("/notices").text
    assert "No notice is owed." in written
    link = re.search(r'href="(/notices/S2/[0-9-]+\.pdf)"', written).group(1)
    letter = sign_in(app, "avery").get(link)
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    assert {e.subject_id for e in events(installation, "notice.generated")} == {"S2", "S3"}
    assert officer.get("/notices/S2/1999-01-01.pdf").status_code == 404
    assert "No batch has been executed." in sign_in(app, "avery").get("/certificates").text


def test_auditor_reads_a_students_access_log_and_signs_a_checkpoint(app, installation, tmp_path):
    import json

    ids = _leo_and_maya(installation, tmp_path)
    clerk = sign_in(app, "casey")
    clerk.post(f"/records/{ids['maya']}/text", data={"csrf": token(clerk, "/records"), "purpose": "attendance check"})
    auditor = sign_in(app, "avery")
    log = auditor.get("/audit/access", params={"student": "S1"})
    table = log.text.split('id="access-log"')[1]
    assert "casey" in table and "attendance check" in table and ids["maya"] in table and ids["leo"] not in table
    assert "not on the roster" in auditor.get("/audit/access", params={"student": "S99"}).text

    made = auditor.post("/audit/checkpoints", data={"csrf": token(auditor, "/audit/checkpoints")})
    assert made.status_code == 303 and "signed checkpoint of event" in unquote(made.headers["location"])
    name = re.search(r'href="/audit/checkpoints/(checkpoint-[^"]+\.json)"', auditor.get("/audit/checkpoints").text).group(1)
    document = json.loads(auditor.get(f"/audit/checkpoints/{name}").text)
    [event] = events(installation, "audit.checkpoint")
    assert document["seq"] == event.seq and document["hash"] == event.hash and document["signature"] and event.actor == "avery"
    assert auditor.get("/audit/checkpoints/..%2Fweb-secret").status_code == 404
    from records.storage.checkpoint import read_checkpoint

    assert read_checkpoint(installation.paths.reports / "checkpoints" / name, installation.paths.keystore) == (event.seq, event.hash)


def test_admin_resets_a_password_and_a_user_changes_their_own(app, installation):
    admin = sign_in(app, "admin")
    assert 'action="/users/casey/password"' in admin.get("/users").text
    short = admin.post("/users/casey/password", data={"csrf": token(admin, "/users"), "password": "short"})
    assert short.status_code == 400 and "at least 10" in short.text
    before = sign_in(app, "casey")
    reset = admin.post("/users/casey/password", data={"csrf": token(admin, "/users"), "password": "brand-new-password-1"})
    assert reset.status_code == 303
    [event] = events(installation, "user.password_set")
    assert event.actor == "admin" and event.subject_id == "casey" and "brand-new" not in json_text([event])
    assert event.payload["sessions_ended"] == 1 and before.get("/records").status_code == 303  # signed out everywhere
    old = client_for(app)
    assert old.post("/login", data={"username": "casey", "password": PASSWORDS["casey"], "csrf": token(old)}).status_code == 401
    clerk = sign_in(app, "casey", "brand-new-password-1")

    csrf = token(clerk, "/account")
    wrong = clerk.post("/account/password", data={"csrf": csrf, "current": "nope", "new": "mine-and-only-mine", "repeat": "mine-and-only-mine"})
    assert wrong.status_code == 403 and "current password is wrong" in wrong.text
    differ = clerk.post("/account/password", data={"csrf": csrf, "current": "brand-new-password-1", "new": "mine-and-only-mine", "repeat": "mine-and-only-mien"})
    assert differ.status_code == 303 and "differ" in unquote(differ.headers["location"])
    elsewhere = sign_in(app, "casey", "brand-new-password-1")
    changed = clerk.post("/account/password", data={"csrf": csrf, "current": "brand-new-password-1", "new": "mine-and-only-mine", "repeat": "mine-and-only-mine"})
    assert changed.status_code == 303
    assert clerk.get("/records").status_code == 200 and elsewhere.get("/records").status_code == 303  # this browser stays, others end
    assert [e.actor for e in events(installation, "user.password_set")] == ["admin", "casey"]
    sign_in(app, "casey", "mine-and-only-mine")
    no_csrf = clerk.post("/account/password", data={"current": "mine-and-only-mine", "new": "another-one-entirely", "repeat": "another-one-entirely"})
    assert no_csrf.status_code == 403


def test_a_clerks_first_visit_starts_here(app, installation, tmp_path):
    clerk = sign_in(app, "casey")
    home = clerk.get("/")
    assert home.status_code == 200 and "Start here" in home.text
    assert 'id="waiting-review">0<' in home.text and 'href="/upload"' in home.text
    assert "As records officer" not in home.text and "As auditor" not in home.text
    assert "As records officer" in sign_in(app, "olivia").get("/").text
    auditor_home = sign_in(app, "avery").get("/").text
    assert "As auditor" in auditor_home and "Your daily work" not in auditor_home


# Pages about one thing (a record, a batch): with an unknown id an allowed role gets 404,
# never 403; every other signed-in role gets 403.
DETAIL_ROUTES = {
    "/records/R-NONE": {"clerk", "officer", "auditor"},
    "/disposal/B-NONE/certificate.pdf": {"clerk", "officer", "auditor"},
    "/disposal/B-NONE/application.pdf": {"clerk", "officer", "auditor"},
    "/records/R-NONE/pages/1.png?purpose=audit": {"clerk", "officer", "auditor"},
    "/notices/S-NONE/2020-06-30.pdf": {"clerk", "officer", "auditor"},
    "/audit/checkpoints/checkpoint-none.json": {"auditor"},
}
# Every signed-in user may change their own password (and nobody else's here).
POST_ROUTES["/account/password"] = {"clerk", "officer", "auditor", "admin"}
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
            if not any(pattern.match(path.split("?")[0]) for path in tables.get(method, [])):
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
