"""The web app in a real browser: Playwright driving Debian's chromium (never a download).

``./run.sh test`` installs the ``chromium`` package when it is missing. Screenshots of the
pages visited go to ``test-artifacts/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from records.storage import users
from records.web import create_app
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./run.sh test installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(installation, request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.node.callspec.params.get("database_url") == "postgresql":
        pytest.skip("the browser runs once, on SQLite; the HTTP tests cover both backends")
    import uvicorn

    with installation.catalog.writing() as session:
        users.add_user(session, "admin", "admin", "admin-password-1", None)
        users.add_user(session, "casey", "clerk", "clerk-password-1", "admin")
        users.add_user(session, "avery", "auditor", "auditor-password-1", "admin")
    port = _free_port()
    config = uvicorn.Config(create_app(installation.paths.home), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the web server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def _sign_in(page, base: str, name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_lock_out_and_a_clerk_upload_in_the_browser(server, page, tmp_path):
    base = server
    page.goto(f"{base}/records")
    assert "/login" in page.url  # signed out: sent to sign in
    page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)

    _sign_in(page, base, "avery", "wrong")
    assert "user name or password is wrong" in page.locator("#login-error").inner_text()
    page.screenshot(path=str(ARTIFACTS / "login-failed.png"), full_page=True)
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        _sign_in(page, base, "avery", "wrong")
    _sign_in(page, base, "avery", "auditor-password-1")
    assert "locked" in page.locator("#login-error").inner_text()
    page.screenshot(path=str(ARTIFACTS / "login-locked.png"), full_page=True)

    _sign_in(page, base, "casey", "clerk-password-1")
    assert page.locator("#signed-in-user").inner_text() == "casey"
    assert page.locator("#signed-in-role").inner_text() == "clerk"

    pdf = born_digital_pdf(tmp_path / "permission slip.pdf", [EMAIL_PAGE])
    page.goto(f"{base}/upload")
    page.get_by_label("Files", exact=True).set_input_files([str(pdf)])
    page.get_by_role("button", name="Upload and file").click()
    page.wait_for_selector("#counts", timeout=60_000)
    outcome = page.locator("#outcome").inner_text()
    assert "permission slip.pdf" in outcome and "ingested" in outcome
    page.screenshot(path=str(ARTIFACTS / "upload-outcome.png"), full_page=True)

    page.locator("#outcome a[href^='/records/']").first.click()
    page.wait_for_selector("h1")
    assert re.match(r"Record \S+", page.locator("h1").inner_text())
    page.get_by_label("Why are you reading it?").fill("checking the upload")
    page.get_by_role("button", name="Show the text").click()
    assert "permission slip" in page.locator("#record-text").inner_text()
    page.screenshot(path=str(ARTIFACTS / "record.png"), full_page=True)

    page.goto(f"{base}/records")
    page.screenshot(path=str(ARTIFACTS / "records.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    assert "/login" in page.url


def test_an_auditor_reads_the_log_and_is_refused_a_change_in_the_browser(server, page):
    base = server
    _sign_in(page, base, "avery", "auditor-password-1")
    page.goto(f"{base}/audit")
    assert page.locator("h1").inner_text() == "Audit log"
    page.get_by_role("button", name="Verify the chain").click()
    assert "The chain is intact" in page.locator("#verify-result").inner_text()
    page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=True)
    response = page.goto(f"{base}/upload")
    assert response is not None and response.status == 403
    page.screenshot(path=str(ARTIFACTS / "auditor-refused.png"), full_page=True)
