"""The web app in a real browser: Playwright driving Debian's chromium (never a download).

``./run.sh test`` installs the ``chromium`` package when it is missing. Screenshots of the
pages visited go to ``test-artifacts/`` (gitignored) for a person to look at.

One installation, one server and one browser serve the whole module (each test opens its
own browser context, so cookies never leak between tests). Data the browser is not there
to test (directories, old records ready for disposal, a record in review) is seeded with
the storage and flow services; what a user does is done through the pages. The tests run
in file order and build on each other's data only where they say so.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from records.storage import audit, users
from records.storage.installation import Installation
from tests.fixtures.printouts import EMAIL_PAGE, born_digital_pdf, png_scan

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# One xdist worker runs the whole module, in file order (run.sh passes --dist loadscope):
# the auditor reads what the officer did, and the module starts one browser, not two.
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./run.sh test installs it)")

PASSWORDS = {
    "admin": "admin-password-1",
    "casey": "clerk-password-1",
    "lou": "clerk-password-2",
    "olivia": "officer-password-1",
    "omar": "officer-password-2",
    "avery": "auditor-password-1",
}
ROLES = {"casey": "clerk", "lou": "clerk", "olivia": "officer", "omar": "officer", "avery": "auditor"}


@dataclass
class Site:
    base: str
    installation: Installation
    ids: dict[str, str]
    review_id: str
    folder: Path

    def events(self, action: str | None = None) -> list[audit.AuditEvent]:
        with self.installation.catalog.reading() as session:
            return list(audit.iter_events(session, audit.LogFilter(action=action)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(installation: Installation, folder: Path) -> tuple[dict[str, str], str]:
    """Directories, four 2017 emails (Leo's two are overdue, Will's eligible) and one in review."""
    from tests.cli_helpers import import_directories
    from tests.test_classification_flow import _email, _ingest
    from tests.test_disposal import ROSTER, STAFF, WHEN

    import_directories(folder, ROSTER, STAFF)
    files = _ingest(
        installation,
        _email(folder / "leo1.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo is still missing two homework assignments.", WHEN),
        _email(folder / "leo2.eml", "Ana Rivera <ana.rivera@example.net>", "Leo again", "Leo finished the missing homework, thank you for the extra help.", WHEN + dt.timedelta(days=2)),
        _email(folder / "will.eml", "Grace Kim <grace.kim@example.com>", "Will", "Will has been struggling with his essays this quarter.", WHEN),
        _email(folder / "maya.eml", "Ana Rivera <ana.rivera@example.net>", "Maya", "Maya Rivera was absent today with the flu.", dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)),
        _email(folder / "coach.eml", "Coach Dan <coach.dan@gmail.com>", "Great game", "Leo did a great job at the game today, he really focused in practice."),
    )
    ids = {name.removesuffix(".eml"): found[0] for name, found in files.items()}
    return ids, ids.pop("coach")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    import uvicorn

    from records.storage.db import dispose_engines
    from records.storage.installation import initialize, open_installation
    from records.web import create_app

    folder = tmp_path_factory.mktemp("web-browser")
    home = folder / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RECORDS_HOME", str(home))
        env.setenv("RECORDS_DATABASE_URL", f"sqlite:///{home / 'catalog.db'}")
        for name in ("RECORDS_KEYSTORE", "RECORDS_STORE_URL", "RECORDS_ACTOR"):
            env.delenv(name, raising=False)
        initialize(home, actor="system:test")
        installation = open_installation(home)
        with installation.catalog.writing() as session:
            users.add_user(session, "admin", "admin", PASSWORDS["admin"], None)
            for name, role in ROLES.items():
                users.add_user(session, name, role, PASSWORDS[name], "admin")
        ids, review_id = _seed(installation, folder)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(home), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the web server did not start"
        yield Site(f"http://127.0.0.1:{port}", installation, ids, review_id, folder)
        server.should_exit = True
        thread.join(timeout=10)
        dispose_engines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context.new_page()
    context.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, site: Site, name: str, password: str | None = None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site.base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password or PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()


def _sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()
    assert "/login" in page.url


def _upload(page, site: Site, *files: Path) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{site.base}/upload")
    page.get_by_label("Files", exact=True).set_input_files([str(f) for f in files])
    page.get_by_role("button", name="Upload and file").click()
    page.wait_for_selector("#counts", timeout=90_000)
    return page.locator("#outcome").inner_text()


def _outcome_of(page, name: str) -> str:  # type: ignore[no-untyped-def]
    return page.locator("#outcome tr", has_text=name).locator(".status").inner_text()


def _sms_backup(path: Path) -> Path:
    """An SMS Backup & Restore file from Ms. Marsh's phone: two texts with Maya's mother."""
    def sms(when: dt.datetime, kind: int, body: str) -> str:
        return (
            f'  <sms protocol="0" address="(617) 555-0142" date="{int(when.timestamp() * 1000)}" type="{kind}" subject="null" '
            f'body="{body}" toa="null" sc_toa="null" service_center="null" read="1" status="-1" locked="0" '
            f'date_sent="0" sub_id="1" readable_date="x" contact_name="Ana Rivera" />\n'
        )

    day = dt.datetime(2024, 4, 2, 13, 0, tzinfo=dt.UTC)
    path.write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
        "<!--File Created By SMS Backup &amp; Restore v10.20.002 on 05/09/2024 09:00:00-->\n"
        '<smses count="2" backup_set="x" backup_date="1715245200000" type="full">\n'
        + sms(day, 1, "Hi Ms. Marsh, Maya will be late tomorrow, she has a dentist appointment.")
        + sms(day + dt.timedelta(minutes=5), 2, "Thanks for letting me know, I will tell the office about Maya.")
        + "</smses>\n",
        encoding="utf-8",
    )
    return path


# --- sign-in ----------------------------------------------------------------------------


def test_sign_in_lock_out_and_a_clerk_reads_a_born_digital_upload(site, page):
    page.goto(f"{site.base}/records")
    assert "/login" in page.url  # signed out: sent to sign in
    _shot(page, "login")

    _sign_in(page, site, "lou", "wrong")
    assert "user name or password is wrong" in page.locator("#login-error").inner_text()
    _shot(page, "login-failed")
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        _sign_in(page, site, "lou", "wrong")
    _sign_in(page, site, "lou")
    assert "locked" in page.locator("#login-error").inner_text()
    _shot(page, "login-locked")

    _sign_in(page, site, "casey")
    assert page.locator("#signed-in-user").inner_text() == "casey"
    assert page.locator("#signed-in-role").inner_text() == "clerk"
    _shot(page, "home-clerk")

    pdf = born_digital_pdf(site.folder / "permission slip.pdf", [EMAIL_PAGE])
    outcome = _upload(page, site, pdf)
    assert "permission slip.pdf" in outcome and _outcome_of(page, "permission slip.pdf") == "ingested"
    page.locator("#outcome a[href^='/records/']").first.click()
    page.wait_for_selector("h1")
    assert re.match(r"Record \S+", page.locator("h1").inner_text())
    page.get_by_label("Why are you reading it?").fill("checking the upload")
    page.get_by_role("button", name="Show the text").click()
    assert "permission slip" in page.locator("#record-text").inner_text()
    _shot(page, "record")
    _sign_out(page)


# --- clerk --------------------------------------------------------------------------------


def test_a_clerk_uploads_a_scan_an_export_and_a_broken_file_and_sees_each_outcome(site, page):
    scan = png_scan(site.folder / "absence note scan.png", [
        "Springfield Public Schools", "Absence note", "March 12, 2024",
        "Please excuse Maya Rivera from school on Monday.", "She had a fever. Ana Rivera",
    ])
    backup = _sms_backup(site.folder / "sms-marsh.xml")
    broken = site.folder / "minutes.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    _sign_in(page, site, "casey")
    page.goto(f"{site.base}/upload")
    page.get_by_label("Staff member whose files these are (staff id, optional)").fill("T1")
    page.get_by_label("Files", exact=True).set_input_files([str(scan), str(backup), str(broken)])
    page.get_by_role("button", name="Upload and file").click()
    page.wait_for_selector("#counts", timeout=90_000)
    _shot(page, "upload-outcomes")
    assert _outcome_of(page, "absence note scan.png") == "ingested"
    assert _outcome_of(page, "sms-marsh.xml") == "ingested"
    assert _outcome_of(page, "minutes.pdf") == "quarantined"
    assert page.locator("#outcome tr", has_text="minutes.pdf").locator("td").nth(2).inner_text().strip()  # a reason is shown

    page.locator("#outcome tr", has_text="sms-marsh.xml").locator("a[href^='/records/']").first.click()
    page.wait_for_selector("h1")
    assert "sms-thread" in page.locator("dl.meta").first.inner_text()
    assert "S1" in page.locator("main").inner_text()  # filed with Maya
    page.goto(f"{site.base}/quarantine")
    assert "minutes.pdf" in page.locator("main").inner_text()
    _shot(page, "quarantine")

    # The scan's page, drawn from the stored image once a purpose is given.
    page.goto(f"{site.base}/upload")
    page.goto(f"{site.base}/records?format=printout-scan")
    page.locator("main table a[href^='/records/']").first.click()
    page.get_by_label("Why are you reading it?").fill("checking the scan")
    page.get_by_role("button", name="Show the text and pages").click()
    preview = page.get_by_role("img", name=re.compile("Page 1 of record"))
    preview.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    assert "dentist" not in page.locator("#record-text").inner_text() and "Maya" in page.locator("#record-text").inner_text()
    _shot(page, "record-scan-preview")
    assert any(e.payload.get("what") == "page 1" and e.payload.get("purpose") == "checking the scan" for e in site.events("record.viewed"))

    # Finding records: by dates, then by words in their text.
    page.goto(f"{site.base}/records")
    page.get_by_label("Dated from").fill("2024-04-01")
    page.get_by_label("Dated up to").fill("2024-04-30")
    page.get_by_role("button", name="Filter").click()
    listed = page.locator("main table").inner_text()
    assert "sms-thread" in listed and "printout-scan" not in listed and "email" not in listed
    page.get_by_text("Search inside the records' text").click()
    page.get_by_label("Words (all must appear)").fill("dentist")
    page.get_by_label("Why are you searching?").fill("office asked about a late arrival")
    page.get_by_role("button", name="Search the text").click()
    assert "1 match" in page.locator("#search-result").inner_text()
    assert "sms-thread" in page.locator("main table").inner_text()
    _shot(page, "records-search")
    _sign_out(page)


def test_a_clerk_decides_a_review_question_in_the_browser(site, page):
    _sign_in(page, site, "casey")
    page.goto(f"{site.base}/review")
    card = page.locator("section.card", has=page.locator(f"a[href='/records/{site.review_id}']"))
    assert "which students?" in card.locator("h2").inner_text()
    assert "S2" in card.locator("table").inner_text()
    _shot(page, "review")
    card.get_by_label("Student ids (separate several with spaces)").fill("S2")
    card.get_by_label("Reason (kept in the audit log)").fill("the coach writes about Leo")
    card.get_by_role("button", name="Save decision").click()
    assert f"{site.review_id}:" in page.locator(".notice").inner_text()
    assert page.locator(f"a[href='/records/{site.review_id}']").count() == 0  # left the queue
    [event] = [e for e in site.events("record.classified") if e.actor == "casey" and e.subject_id == site.review_id]
    assert event.payload["students"] == ["S2"] and event.payload["reason"] == "the coach writes about Leo"
    _sign_out(page)


# --- officer ------------------------------------------------------------------------------


def test_an_officer_holds_a_record_and_a_second_officer_approves_the_disposal(site, page):
    ids = site.ids
    _sign_in(page, site, "olivia")
    page.goto(f"{site.base}/holds")
    page.get_by_label("Kind").select_option("litigation")
    page.get_by_label("Reason (the case, the request, the audit)").fill("case 24-113")
    page.get_by_label("Record ids (separate with spaces)").fill(ids["will"])
    page.get_by_role("button", name="Place hold").click()
    assert "covers 1 record(s)" in page.locator(".notice").inner_text()
    _shot(page, "holds")

    page.goto(f"{site.base}/disposal")
    _shot(page, "disposal-plan")
    page.get_by_role("button", name="Propose batches").click()
    assert "batch(es) proposed" in page.locator(".notice").inner_text()
    row = page.locator("tr", has_text="STU-TEMPORARY").filter(has_text="proposed")
    batch_id = row.locator("td").first.inner_text().strip()
    # The proposer may not approve her own batch.
    row.get_by_label("Authorization reference").fill("SPR-2025-0042")
    row.get_by_role("button", name=f"Approve {batch_id}").click()
    assert "another officer" in page.locator("main").inner_text()
    page.goto(f"{site.base}/records/{ids['leo1']}")
    assert "proposed" in page.locator("main").inner_text()
    _sign_out(page)

    _sign_in(page, site, "omar")
    page.goto(f"{site.base}/disposal")
    row = page.locator("tr", has_text=batch_id)
    row.get_by_label("Authorization reference").fill("SPR-2025-0042")
    row.get_by_role("button", name=f"Approve {batch_id}").click()
    assert f"{batch_id}: approved by omar" in page.locator(".notice").inner_text()
    page.locator("tr", has_text=batch_id).get_by_role("button", name=f"Destroy the records of {batch_id}").click()
    assert re.search(rf"{batch_id}: \d+ destroyed, 0 skipped", page.locator(".notice").inner_text())
    _shot(page, "disposal-executed")
    with page.expect_download() as download:
        page.locator("tr", has_text=batch_id).get_by_role("link", name="certificate PDF").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")

    page.goto(f"{site.base}/records/{ids['leo1']}")
    assert "This record was destroyed" in page.locator("main").inner_text()
    page.goto(f"{site.base}/records/{ids['will']}")
    assert "active" in page.locator("dl.meta").first.inner_text() and "No hold covers" not in page.locator("main").inner_text()
    destroyed = {e.subject_id for e in site.events("record.destroyed")}
    assert {ids["leo1"], ids["leo2"]} <= destroyed and ids["will"] not in destroyed
    [approved] = site.events("disposal.approved")
    assert approved.actor == "omar" and approved.payload["authorization"] == "SPR-2025-0042"

    page.goto(f"{site.base}/due")
    _shot(page, "due")
    page.goto(f"{site.base}/notices")
    assert "S2" in page.locator("#owed").inner_text()
    page.get_by_role("button", name=re.compile("Write the")).click()
    assert "exit notice(s) written" in page.locator(".notice").inner_text()
    _shot(page, "notices")
    page.goto(f"{site.base}/schedule")
    _shot(page, "schedule")
    _sign_out(page)


# --- auditor ------------------------------------------------------------------------------


def test_an_auditor_reads_the_log_and_is_refused_every_change(site, page):
    _sign_in(page, site, "avery")
    page.goto(f"{site.base}/audit")
    assert page.locator("h1").inner_text() == "Audit log"
    page.get_by_label("Actor").fill("omar")
    page.get_by_role("button", name="Filter").click()
    log = page.locator("main table").inner_text()
    assert "disposal.approved" in log and "hold.placed" not in log
    _shot(page, "audit")
    page.get_by_role("button", name="Verify the chain").click()
    assert "The chain is intact" in page.locator("#verify-result").inner_text()

    page.get_by_role("link", name="Access logs").click()
    page.get_by_label("Student id").fill("S2")
    page.get_by_role("button", name="Show the access log").click()
    leo = page.locator("#access-log").inner_text()
    assert "record.destroyed" in leo and site.ids["leo1"] in leo and "omar" in leo
    _shot(page, "access-log")
    page.get_by_role("link", name="Certificates").click()
    assert "SPR-2025-0042" in page.locator("#certificates").inner_text()
    _shot(page, "certificates")
    page.get_by_role("link", name="Checkpoints").click()
    page.get_by_role("button", name="Sign a checkpoint now").click()
    assert "signed checkpoint of event" in page.locator(".notice").inner_text()
    _shot(page, "checkpoints")

    # Through the pages: no form to change anything (searching the text is a read), and change pages refuse.
    for path in ("/holds", "/disposal", "/schedule", "/records", "/notices", "/due"):
        page.goto(f"{site.base}{path}")
        assert page.locator("main form[method='post']:not([action='/records/search'])").count() == 0, path
    response = page.goto(f"{site.base}/upload")
    assert response is not None and response.status == 403
    _shot(page, "auditor-refused")

    # Posting directly, with the auditor's own valid CSRF token: refused, nothing changes.
    page.goto(f"{site.base}/audit")
    csrf = page.locator("header input[name='csrf']").get_attribute("value")
    before = len(site.events())
    attempts = {
        "/holds": {"kind": "litigation", "reason": "x", "student": "S1"},
        "/disposal/propose": {},
        "/disposal/B-1/approve": {"authorization": "X"},
        "/disposal/B-1/execute": {},
        "/schedule/STU-TEMPORARY/confirm": {},
        f"/review/{site.review_id}": {"student": "S1", "reason": "x"},
        "/nonrecords/confirm": {"record": site.ids["maya"]},
        "/quarantine/S-1/retry": {},
        "/users": {"name": "mallory", "role": "admin", "password": "long-enough-password"},
    }
    for path, data in attempts.items():
        refused = page.request.post(f"{site.base}{path}", form={"csrf": csrf, **data})
        assert refused.status == 403, (path, refused.status)
        assert "Traceback" not in refused.text()
    assert len(site.events()) == before
    _sign_out(page)


# --- accessibility basics ----------------------------------------------------------------


# Text whose contrast with its background is under WCAG AA's 4.5:1, as "tag: text (ratio)".
LOW_CONTRAST = """() => {
  const rgb = c => (c.match(/[0-9.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0) return c.slice(0, 3); }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.offsetParent) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName}: ${el.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)})`);
  }
  return low;
}"""


def test_every_field_has_a_label_and_sign_in_works_from_the_keyboard(site, page):
    page.goto(f"{site.base}/login")
    # The cursor starts in the first field. Chromium applies ``autofocus`` after the page
    # has loaded, a moment later on a busy machine: wait for it (not long) instead of
    # asking at once.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'username'", timeout=5000)
    page.keyboard.type("olivia")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["olivia"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#signed-in-user")
    assert "Start here" in page.locator("h1").inner_text()
    page.keyboard.press("Tab")  # the first stop on every page skips the menu
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    _shot(page, "home-officer")
    unlabelled = """() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.type !== 'hidden')
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.name || el.id)"""
    for path in ("/", "/upload", "/records", f"/records/{site.ids['maya']}", "/review", "/quarantine", "/nonrecords", "/holds",
                 "/disposal", "/due", "/notices", "/schedule", "/account"):
        page.goto(f"{site.base}{path}")
        assert page.evaluate(unlabelled) == [], path
        assert page.evaluate(LOW_CONTRAST) == [], path
    page.evaluate("""() => { const p = document.createElement('p'); p.textContent = 'faint grey'; p.style.color = '#aaaaaa';
                             document.querySelector('main').append(p); }""")  # (set through the CSSOM: the CSP blocks inline styles)
    assert [found for found in page.evaluate(LOW_CONTRAST) if "faint grey" in found]  # the check does catch faint text
    _sign_out(page)
    _sign_in(page, site, "admin")
    for path in ("/users", "/account"):
        page.goto(f"{site.base}{path}")
        assert page.evaluate(unlabelled) == [], path
    _shot(page, "users")
    _sign_out(page)
    _sign_in(page, site, "avery")
    for path in ("/audit", "/audit/access", "/audit/checkpoints"):
        page.goto(f"{site.base}{path}")
        assert page.evaluate(unlabelled) == [], path
