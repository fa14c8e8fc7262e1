"""Migrations, init, settings and the default schedule, on SQLite and PostgreSQL."""

from __future__ import annotations

import tomllib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from records.config import load_settings
from records.storage import catalog as migrations
from records.storage.db import Catalog
from records.storage.models import Base
from tests.cli_helpers import run


def test_migrations_build_every_table_from_empty(paths):
    catalog = Catalog(paths.database_url)
    assert migrations.current_revision(catalog) is None
    before, after = migrations.upgrade(catalog)
    assert before is None and after == migrations.head_revision()
    tables = set(inspect(catalog.engine).get_table_names())
    assert {"users", "students", "staff", "sources", "records", "tombstones", "audit_events", "series"} <= tables
    # The migrations and the models describe the same schema: no drift for later issues.
    with catalog.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_init_creates_everything_and_is_idempotent(paths):
    first = run("init", "--json")
    assert first.exit_code == 0, first.stderr
    report = first.json()
    assert report["migrated_from"] is None and report["schedule_loaded"] is True
    assert report["schedule_version"] == 1 and report["keystore_created"] is True
    assert (paths.home / "records.toml").exists()
    assert (paths.keystore / "master.json").exists()

    again = run("init", "--json").json()
    assert again["migrated_from"] == again["revision"]
    assert again["schedule_loaded"] is False and again["schedule_version"] == 1
    assert again["keystore_created"] is False and again["settings_written"] is False


def test_records_toml_is_commented_and_complete(paths):
    run("init")
    text = (paths.home / "records.toml").read_text()
    assert text.count("#") > 10
    data = tomllib.loads(text)
    assert data["district"]["timezone"] == "America/New_York"
    assert data["keystore"]["backup_rotation_days"] > 0
    assert {"student", "series"} <= data["review"].keys()
    assert data["retention"]["grace_after_exit"] == "P0D"
    settings = load_settings(paths)
    assert settings.keystore_backup_rotation_days == data["keystore"]["backup_rotation_days"]


def test_broken_settings_file_is_a_clear_error(paths):
    run("init")
    (paths.home / "records.toml").write_text("[district]\ntimezone = 'Mars/Olympus'\n")
    outcome = run("schedule", "show")
    assert outcome.exit_code == 1
    assert "records.toml" in outcome.stderr and "Traceback" not in outcome.stderr


def test_default_schedule_is_version_one_with_verified_series_confirmed(paths):
    run("init")
    shown = run("schedule", "show", "--json")
    assert shown.exit_code == 0
    schedule = shown.json()
    assert schedule["version"] == 1
    series = {s["code"]: s for s in schedule["series"]}
    assert set(series) == {
        "STU-TRANSCRIPT", "STU-TEMPORARY", "STU-SPED", "CORR-TRANSITORY", "CORR-ADMIN",
        "PUBLIC-RECORDS-REQUEST", "PERSONNEL", "NON-RECORD", "UNSCHEDULED",
    }
    for code in ("STU-TRANSCRIPT", "STU-TEMPORARY", "STU-SPED", "NON-RECORD", "UNSCHEDULED"):
        assert series[code]["confirmed"] is True, code
    for code in ("CORR-TRANSITORY", "CORR-ADMIN", "PUBLIC-RECORDS-REQUEST", "PERSONNEL"):
        assert series[code]["confirmed"] is False, code
    temporary = series["STU-TEMPORARY"]
    assert (temporary["retention"], temporary["trigger"], temporary["max"]) == ("P0D", "student_exit", "P7Y")
    assert series["STU-TRANSCRIPT"]["retention"] == "P60Y" and series["STU-TRANSCRIPT"]["max"] is None
    assert series["NON-RECORD"]["needs_approval"] is False
    assert series["UNSCHEDULED"]["trigger"] == "latest_entry"
    for entry in schedule["series"]:
        assert {"code", "title", "retention", "trigger", "max", "disposition", "needs_approval", "confirmed", "citation"} <= entry.keys()


def test_commands_refuse_a_missing_catalog(paths):
    outcome = run("schedule", "show")
    assert outcome.exit_code == 1
    assert "records init" in outcome.stderr


def test_upgrading_to_an_unindexed_audit_hash_keeps_the_chain_and_its_indexes(paths):
    """Migration 0010 rebuilds the audit table on SQLite: every event, its hash chain and
    the indexes the log is searched by survive it; only the unique index on hash goes."""
    from alembic import command

    from records.storage import audit

    catalog = Catalog(paths.database_url)
    config = migrations.alembic_config(catalog.url)
    with catalog.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
    with catalog.writing() as session:
        for n in range(3):
            audit.append(session, "system:test", "record.extracted", "record", f"R-{n}", {"n": n, "note": "Zoë"})
    with catalog.reading() as session:
        before = [(e.seq, e.hash, e.payload) for e in audit.iter_events(session)]
        assert audit.verify(session).ok and len(before) == 3
    assert migrations.upgrade(catalog)[1] == "0010" == migrations.head_revision()
    inspector = inspect(catalog.engine)
    assert not [c for c in inspector.get_unique_constraints("audit_events") if c["column_names"] == ["hash"]]
    assert not [i for i in inspector.get_indexes("audit_events") if i["column_names"] == ["hash"]]
    assert {"ix_audit_subject", "ix_audit_actor", "ix_audit_action", "ix_audit_at"} <= {i["name"] for i in inspector.get_indexes("audit_events")}
    with catalog.writing() as session:
        audit.append(session, "system:test", "record.seen", "record", "R-1", {})
    with catalog.reading() as session:
        result = audit.verify(session)
        assert result.ok and audit.count(session) == 4
        assert [(e.seq, e.hash, e.payload) for e in audit.iter_events(session)][:3] == before
