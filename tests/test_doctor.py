"""``records doctor`` reports the health of what exists and fails on errors."""

from __future__ import annotations

import os

from tests.cli_helpers import run, setup_users


def test_doctor_on_a_healthy_installation(paths):
    setup_users()
    outcome = run("doctor", "--json")
    report = outcome.json()
    checks = {c["name"]: c for c in report["checks"]}
    assert {"catalog", "schedule", "audit chain", "store", "key store", "libmagic", "tesseract"} <= checks.keys()
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
