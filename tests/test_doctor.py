"""``records doctor`` reports the health of what exists and fails on errors."""

from __future__ import annotations

import os

from tests.cli_helpers import run, setup_users


def test_doctor_on_a_healthy_installation(paths, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    setup_users()
    outcome = run("doctor", "--json")
    report = outcome.json()
    checks = {c["name"]: c for c in report["checks"]}
    assert {"catalog", "schedule", "audit chain", "store", "key store", "libmagic", "tesseract", "nightly", "prefect", "orphans"} <= checks.keys()
    # Never backed up yet: a warning per component, each naming the command to schedule.
    for component in ("catalog", "store", "keys"):
        check = checks[f"backup {component}"]
        assert check["status"] == "warning" and f"records backup {component}" in check["detail"]
    assert checks["orphans"]["status"] == "ok"
    assert checks["prefect"]["status"] == "ok"  # no server configured: the temporary API is used
    assert checks["catalog"]["status"] == "ok"
    assert checks["audit chain"]["status"] == "ok"
    assert checks["key store"]["status"] == "ok"
    # The provisional series are not confirmed yet: a warning, not an error.
    assert checks["schedule"]["status"] == "warning" and "CORR-ADMIN" in checks["schedule"]["detail"]
    assert report["ok"] is (outcome.exit_code == 0)
    assert checks["libmagic"]["status"] == "ok"
    assert checks["tesseract"]["status"] == "ok", checks["tesseract"]["detail"]


def test_doctor_fails_on_an_exposed_key_store(paths):
    setup_users()
    os.chmod(paths.keystore / "master.json", 0o644)
    outcome = run("doctor", "--json")
    assert outcome.exit_code == 1
    checks = {c["name"]: c for c in outcome.json()["checks"]}
    assert checks["key store"]["status"] == "error" and "master.json" in checks["key store"]["detail"]


def test_doctor_fails_on_a_broken_chain(paths, catalog):
    setup_users()
    from sqlalchemy import text

    with catalog.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    outcome = run("doctor", "--json")
    assert outcome.exit_code == 1
    checks = {c["name"]: c for c in outcome.json()["checks"]}
    assert checks["audit chain"]["status"] == "error" and "event 2" in checks["audit chain"]["detail"]


def test_doctor_without_a_catalog_says_run_init(paths):
    outcome = run("doctor")
    assert outcome.exit_code == 1
    assert "records init" in outcome.stdout


def test_doctor_reports_an_unreachable_prefect_server(paths, monkeypatch):
    setup_users()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # the discard port: nothing answers
    outcome = run("doctor", "--json")
    checks = {c["name"]: c for c in outcome.json()["checks"]}
    assert checks["prefect"]["status"] == "error" and "127.0.0.1:9" in checks["prefect"]["detail"]
    assert outcome.exit_code == 1


def test_doctor_warns_of_content_no_record_needs(paths):
    setup_users()
    from records.storage.content import ContentStore

    content = ContentStore.from_paths(paths)
    (key_id, primitive), = content.new_keys(1)
    content.put_text(key_id, "left behind by a killed ingest", primitive=primitive)
    # Young content may be a batch about to commit: reported as in flight, not as orphans.
    checks = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert checks["orphans"]["status"] == "ok" and "in flight" in checks["orphans"]["detail"]
    old = 3 * 24 * 3600
    for folder in (paths.keystore / "packs", paths.home / "store"):
        for file in folder.rglob("*"):
            if file.is_file():
                stamp = file.stat().st_mtime - old
                os.utime(file, (stamp, stamp))
    outcome = run("doctor", "--json")
    checks = {c["name"]: c for c in outcome.json()["checks"]}
    assert checks["orphans"]["status"] == "warning" and "records sweep" in checks["orphans"]["detail"]
    assert outcome.exit_code == 0  # a warning alone
    assert run("sweep").exit_code == 0
    checks = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert checks["orphans"]["status"] == "ok"
