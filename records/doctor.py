"""``records doctor``: is this installation healthy? Each check says what to do if not.

Checks only what exists so far; each later capability adds its own check here.
"""

from __future__ import annotations

import datetime as dt

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from records.config import Paths, resolve_paths
from records.errors import RecordsError
from records.intake import tesseract_engine


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warning | error
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Health:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != "error" for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}


def _catalog_checks(paths: Paths) -> list[Check]:
    from records.storage import audit, schedules
    from records.storage import catalog as migrations
    from records.storage.db import Catalog

    catalog = Catalog(paths.database_url)
    try:
        migrations.require_current(catalog)
    except RecordsError as exc:
        return [Check("catalog", "error", str(exc))]
    checks = [Check("catalog", "ok", f"{migrations.safe_url(paths.database_url)} at migration {migrations.head_revision()}")]
    with catalog.reading() as session:
        try:
            view = schedules.show(session)
            unconfirmed = [s.code for s in view.series if not s.confirmed]
            if unconfirmed:
                checks.append(
                    Check(
                        "schedule",
                        "warning",
                        f"version {view.version}; not confirmed (nothing under them can be destroyed): {', '.join(unconfirmed)}",
                    )
                )
            else:
                checks.append(Check("schedule", "ok", f"version {view.version}, every series confirmed"))
        except RecordsError as exc:
            checks.append(Check("schedule", "error", str(exc)))
        result = audit.verify(session)
        checks.append(_nightly_check(session))
        checks.extend(_backup_checks(session, paths))
        checks.append(_orphans_check(session, paths))
    if result.ok:
        checks.append(Check("audit chain", "ok", f"{result.events} events verified; head {result.head}"))
    else:
        checks.append(Check("audit chain", "error", f"broken at event {result.first_bad_seq}: {result.reason}"))
    return checks


NIGHTLY_STALE = dt.timedelta(hours=36)


def _nightly_check(session) -> Check:  # type: ignore[no-untyped-def]
    """The nightly flow proposes disposal and sends exit notices: a day and a half is too long."""
    from records.storage import facts

    last = facts.get(session, facts.LAST_NIGHTLY)
    if last is None:
        return Check("nightly", "warning", "the nightly flow has never run: deploy prefect.yaml or schedule `records nightly` with cron (README)")
    when = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    age = dt.datetime.now(dt.UTC) - when
    if age > NIGHTLY_STALE:
        return Check("nightly", "warning", f"last run {last}, {age.days} day(s) {age.seconds // 3600} hour(s) ago: is the schedule running?")
    return Check("nightly", "ok", f"last run {last}")


BACKUP_STALE = dt.timedelta(hours=36)


def _backup_checks(session, paths: Paths) -> list[Check]:  # type: ignore[no-untyped-def]
    """One check per component: backed up lately, and no key-store backup past its window."""
    from records.config import load_settings
    from records.storage import backup

    settings = load_settings(paths)
    now = dt.datetime.now(dt.UTC)
    checks = []
    for component in backup.COMPONENTS:
        name = f"backup {component}"
        rotation = backup.rotation_days(settings, component)
        last = backup.last_backup(session, component)
        if last is None:
            checks.append(Check(name, "warning", f"never backed up: schedule `records backup {component} --to DIR` daily (README, \"Backups and restore\")"))
            continue
        when, where = last
        age = now - when
        folder = Path(where).parent
        if component == "keys":
            # Certificates of destruction promise that no key outlives this window.
            expired = [p.name for taken, p in backup.backups_in(folder, "keys") if now - taken > dt.timedelta(days=rotation)]
            if expired:
                checks.append(
                    Check(name, "error", f"{len(expired)} key-store backup(s) in {folder} are older than the {rotation}-day rotation "
                          f"({', '.join(expired[:3])}): destroyed records stay readable from them; run `records backup keys --to {folder}` to prune")
                )
                continue
        if age > BACKUP_STALE:
            checks.append(Check(name, "warning", f"last backup {when:%Y-%m-%dT%H:%M:%SZ} ({age.days} day(s) ago) in {folder}; rotation {rotation} days: is the backup job running?"))
        else:
            checks.append(Check(name, "ok", f"last backup {when:%Y-%m-%dT%H:%M:%SZ} in {folder}; rotation {rotation} days"))
    return checks


def _orphans_check(session, paths: Paths) -> Check:  # type: ignore[no-untyped-def]
    """Content no row needs (a killed ingest) and records without a key (a restore)."""
    from records.storage.content import ContentStore
    from records.storage.sweep import sweep

    try:
        report = sweep(session, ContentStore.from_paths(paths), actor="doctor", dry_run=True)
    except (RecordsError, OSError) as exc:
        return Check("orphans", "error", f"cannot list the store and key store: {exc}")
    problems = []
    if report.found:
        problems.append(
            f"{len(report.orphan_keys)} key(s), {len(report.orphan_blobs)} blob(s) and {report.temporaries} temporary file(s) older than "
            f"{report.grace_hours:g} h that no record needs (an interrupted ingest): run `records sweep`"
        )
    if report.keyless_records:
        problems.append(
            f"{len(report.keyless_records)} record(s) whose key is gone (destroyed after the restored catalog backup was taken, "
            "or by a disposal interrupted before its tombstone: rerun `records dispose execute`): "
            f"{', '.join(report.keyless_records[:5])}"
        )
    if problems:
        return Check("orphans", "warning", "; ".join(problems))
    return Check("orphans", "ok", "every key and blob belongs to a record or source" + (f" ({report.young} in flight)" if report.young else ""))


def _prefect_check() -> Check:
    """The Prefect server the deployments run on, when one is configured (never imports Prefect)."""
    import json
    import urllib.error
    import urllib.request

    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return Check("prefect", "ok", "no PREFECT_API_URL: flows run on Prefect's temporary local API; schedule `records nightly` with cron")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5) as answer:  # noqa: S310 - the operator's own URL
            healthy = json.loads(answer.read() or b"false")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("prefect", "error", f"the Prefect server at {url} does not answer ({exc}): start it (`prefect server start`) or fix PREFECT_API_URL")
    if healthy is not True:
        return Check("prefect", "error", f"the Prefect server at {url} reports itself unhealthy")
    return Check("prefect", "ok", f"server at {url} is healthy")


def _store_check(paths: Paths) -> Check:
    from records.storage.blobstore import open_blob_store

    try:
        store = open_blob_store(paths.store_url)
    except RecordsError as exc:
        return Check("store", "error", str(exc))
    root = getattr(store, "root", None)
    if isinstance(root, Path):
        if not root.is_dir():
            return Check("store", "error", f"{root} is missing: run `records init`")
        if not os.access(root, os.W_OK):
            return Check("store", "error", f"{root} is not writable by this user")
        mode = root.stat().st_mode & 0o777
        if mode & 0o077:
            return Check("store", "warning", f"{root} is readable by other users (mode {mode:o}); chmod 700 it")
    return Check("store", "ok", paths.store_url)


def _keystore_check(paths: Paths) -> Check:
    from records.storage.keystore import KeyStore

    problems = KeyStore(paths.keystore).problems()
    if problems:
        return Check("key store", "error", "; ".join(problems))
    separate = "" if paths.keystore.parent != paths.home else " (inside RECORDS_HOME: in production put it on its own volume with RECORDS_KEYSTORE)"
    return Check("key store", "ok", f"{paths.keystore}, private to this user{separate}")


def _libmagic_check() -> Check:
    try:
        import magic

        found = magic.from_buffer(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", mime=True)
    except Exception as exc:  # noqa: BLE001 - ImportError or libmagic missing at load time
        return Check("libmagic", "error", f"not usable ({exc}); install it: apt-get install libmagic1")
    if found != "application/pdf":
        return Check("libmagic", "error", f"answers {found!r} for a PDF; its magic database looks broken")
    return Check("libmagic", "ok", "recognises file types by content")


def _tesseract_check() -> Check:
    """Start the OCR engine as a reader would: tesserocr's Tesseract with the machine's
    English data (the ``tesseract`` command itself is not what reads pages)."""
    try:
        with tesseract_engine.engine() as started:
            return Check("tesseract", "ok", f"Tesseract {started.version}, English data in {started.tessdata}")
    except tesseract_engine.TesseractMissing as exc:
        return Check("tesseract", "error", str(exc))


def diagnose(home: Path | str | None = None) -> Health:
    paths = resolve_paths(home)
    checks: list[Check] = []
    try:
        checks.extend(_catalog_checks(paths))
    except RecordsError as exc:
        checks.append(Check("catalog", "error", str(exc)))
    checks.append(_store_check(paths))
    checks.append(_keystore_check(paths))
    checks.append(_libmagic_check())
    checks.append(_tesseract_check())
    checks.append(_prefect_check())
    return Health(checks)
