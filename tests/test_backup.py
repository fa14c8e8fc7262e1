"""Backups of catalog, store and key store on their own rotations, and the documented restore.

The restore of README "Backups and restore", step by step: back up; ingest more and
destroy records; lose everything; restore the catalog and store from before, the key
store from after the destruction; sweep. The catalog and store agree, what was kept
reads, what was destroyed stays unreadable, the chain verifies.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
from pathlib import Path

from sqlalchemy import select

from records.storage.models import AuditEventRow, Record
from records.storage.db import dispose_engines
from tests import fault_injection as faults
from tests.cli_helpers import run
from tests.test_classification_flow import _email, _ingest
from tests.test_disposal import WHEN, _setup


def _backup(component: str, folder: Path) -> dict:
    outcome = run("backup", component, "--to", str(folder), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.json()


def _lose_everything(paths) -> None:  # type: ignore[no-untyped-def]
    dispose_engines()
    if paths.is_sqlite:
        for suffix in ("", "-wal", "-shm"):
            Path(str(paths.home / "catalog.db") + suffix).unlink(missing_ok=True)
    shutil.rmtree(paths.home / "store")
    shutil.rmtree(paths.keystore)


def test_back_up_lose_everything_restore_and_destroyed_records_stay_unreadable(installation, tmp_path):
    paths = installation.paths
    _setup(tmp_path)
    leo = [_email(tmp_path / f"leo{i}.eml", "Ana Rivera <ana.rivera@example.net>", f"Leo {i}", f"Leo homework note number {i}.", WHEN + dt.timedelta(hours=i)) for i in range(3)]
    maya = _email(tmp_path / "maya.eml", "Ana Rivera <ana.rivera@example.net>", "Maya", "Maya Rivera was absent today with the flu.", WHEN)
    found = _ingest(installation, *leo, maya)
    leo_ids = [found[p.name][0] for p in leo]
    maya_id = found["maya.eml"][0]
    backups = tmp_path / "backups"

    first = {component: _backup(component, backups) for component in ("catalog", "store", "keys")}
    assert first["store"]["files"] > 0 and first["keys"]["files"] > 0
    assert stat.S_IMODE(os.stat(first["keys"]["path"]).st_mode) == 0o700  # a key store backup is as private as the key store
    assert first["keys"]["rotation_days"] == 35 and first["catalog"]["rotation_days"] == 90
    checks = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert all(checks[f"backup {c}"]["status"] == "ok" for c in ("catalog", "store", "keys")), checks

    # After the backup: a new record, and Leo's records destroyed.
    later = _ingest(installation, _email(tmp_path / "later.eml", "Ana Rivera <ana.rivera@example.net>", "Maya again", "Maya is back at school.", WHEN))["later.eml"][0]
    batch = next(b for b in run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] if b["series"] == "STU-TEMPORARY")
    assert run("dispose", "approve", batch["batch_id"], "--authorization", "SPR-1", "--actor", "omar").exit_code == 0
    assert run("dispose", "execute", batch["batch_id"], "--actor", "omar").exit_code == 0
    second_store = _backup("store", backups)
    assert second_store["linked"] > 0  # blobs never change: the unchanged ones are links, not copies
    newest_keys = _backup("keys", backups)  # the key store's own short rotation: taken after the destruction

    _lose_everything(paths)
    for component, backup in (("catalog", first["catalog"]["path"]), ("store", first["store"]["path"]), ("keys", newest_keys["path"])):
        outcome = run("backup", "restore", component, "--from", backup, "--json")
        assert outcome.exit_code == 0, outcome.stderr
    assert run("init").exit_code == 0
    swept = run("sweep", "--grace-hours", "0", "--json")
    assert swept.exit_code == 0, swept.stderr
    report = swept.json()
    # Leo's records were destroyed after the catalog backup: their keys are gone for good.
    assert sorted(report["keyless_records"]) == sorted(leo_ids)
    # The record ingested after the catalog backup left a key the restored catalog does not know.
    assert report["orphan_keys"]

    text = run("text", maya_id)
    assert text.exit_code == 0 and "absent today" in text.stdout
    for record_id in leo_ids:
        outcome = run("text", record_id)
        assert outcome.exit_code == 1 and "no longer exists" in outcome.stderr
    assert run("show", later, "--json").exit_code == 1  # unknown to the restored catalog
    with installation.catalog.reading() as session:
        shredded = {v for row in session.execute(select(Record.key_id, Record.blob_id, Record.text_blob_id).where(Record.id.in_(leo_ids))) for v in row if v}
        restored = list(session.execute(select(AuditEventRow.subject_id).where(AuditEventRow.action == "backup.restored")).scalars())
    assert sorted(restored) == ["catalog", "keys", "store"]
    assert faults.check_consistent(installation, may_be_shredded=shredded) == []
    assert faults.orphans(installation) == {"keys": 0, "blobs": 0, "temporaries": 0}
    assert run("audit", "verify").exit_code == 0
    doctor = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert doctor["orphans"]["status"] == "warning" and leo_ids[0] in doctor["orphans"]["detail"]


def test_a_restored_key_store_backup_older_than_a_destruction_does_not_bring_the_key_back(installation, tmp_path):
    _setup(tmp_path)
    leo = _ingest(installation, _email(tmp_path / "leo.eml", "Ana Rivera <ana.rivera@example.net>", "Leo", "Leo homework note.", WHEN))["leo.eml"][0]
    old_keys = _backup("keys", tmp_path / "backups")
    batch = next(b for b in run("dispose", "propose", "--actor", "olivia", "--json").json()["batches"] if b["series"] == "STU-TEMPORARY")
    assert run("dispose", "approve", batch["batch_id"], "--authorization", "SPR-1", "--actor", "omar").exit_code == 0
    assert run("dispose", "execute", batch["batch_id"], "--actor", "omar").exit_code == 0
    # Someone fills the live key store in from the older backup: Leo's key is back on disk ...
    assert run("backup", "restore", "keys", "--from", old_keys["path"]).exit_code == 0
    assert faults.orphans(installation)["keys"] >= 1
    # ... until the sweep, which removes it whatever its age: the catalog says it was destroyed.
    report = run("sweep", "--json").json()
    assert report["orphan_keys"] and report["keyless_records"] == []
    assert run("text", leo).exit_code == 1
    # Another installation's key store backup is refused outright.
    (tmp_path / "other").mkdir()
    foreign = tmp_path / "other" / Path(old_keys["path"]).name
    shutil.copytree(old_keys["path"], foreign)
    (foreign / "master.json").write_text("{}", encoding="utf-8")
    refused = run("backup", "restore", "keys", "--from", str(foreign))
    assert refused.exit_code == 1 and "another master key" in refused.stderr


def test_each_component_keeps_its_own_rotation_and_doctor_flags_expired_key_backups(installation, tmp_path):
    from records.storage import backup

    _setup(tmp_path)
    folder = tmp_path / "backups"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with installation.catalog.writing() as session:
        for component in ("catalog", "store", "keys"):
            backup.make_backup(session, installation.paths, installation.settings, component, folder, actor="system:test", now=old)
    doctor = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert doctor["backup keys"]["status"] == "error" and "35-day rotation" in doctor["backup keys"]["detail"]
    assert doctor["backup catalog"]["status"] == "warning"  # stale, but inside its 90 days
    assert run("doctor").exit_code == 1
    # The next key store backup prunes the one past 35 days; catalog and store keep theirs (90 days).
    keys = _backup("keys", folder)
    assert len(keys["pruned"]) == 1 and not (folder / keys["pruned"][0]).exists()
    assert _backup("catalog", folder)["pruned"] == []
    assert len(backup.backups_in(folder, "catalog")) == 2
    doctor = {c["name"]: c for c in run("doctor", "--json").json()["checks"]}
    assert doctor["backup keys"]["status"] == "ok"
    with installation.catalog.reading() as session:
        made = list(session.execute(select(AuditEventRow.subject_id).where(AuditEventRow.action == "backup.made")).scalars())
    assert sorted(made) == ["catalog", "catalog", "keys", "keys", "store"]
    # Clerks may not run maintenance; the admin may.
    assert run("backup", "keys", "--to", str(folder), "--actor", "casey").exit_code == 1
    assert run("backup", "keys", "--to", str(folder), "--actor", "admin").exit_code == 0
    assert run("backup", "nothing", "--to", str(folder)).exit_code == 2
