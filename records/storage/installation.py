"""One installation: its paths, settings, catalog, key store and content store together.

The command line and the web open an ``Installation`` and call storage services on it;
``initialize`` is what ``records init`` does, and is safe to run again to upgrade.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from records.config import DistrictSettings, Paths, load_settings, resolve_paths, write_default_settings
from records.retention.schedule import default_schedule
from records.storage import audit, schedules
from records.storage import catalog as migrations
from records.storage.db import Catalog


@dataclass
class Installation:
    paths: Paths
    settings: DistrictSettings
    catalog: Catalog

    @cached_property
    def keystore(self):  # type: ignore[no-untyped-def]
        from records.storage.keystore import KeyStore

        return KeyStore(self.paths.keystore)

    @cached_property
    def blobs(self):  # type: ignore[no-untyped-def]
        from records.storage.blobstore import open_blob_store

        return open_blob_store(self.paths.store_url)

    @cached_property
    def content(self):  # type: ignore[no-untyped-def]
        from records.storage.content import ContentStore

        return ContentStore(self.keystore, self.blobs)


def open_installation(home: Path | str | None = None, *, require_catalog: bool = True) -> Installation:
    """Open an installation; refuse a missing or out-of-date catalog unless told not to."""
    paths = resolve_paths(home)
    installation = Installation(paths=paths, settings=load_settings(paths), catalog=Catalog(paths.database_url))
    if require_catalog:
        migrations.require_current(installation.catalog)
    return installation


@dataclass
class InitReport:
    home: Path
    database: str
    keystore: Path
    revision_before: str | None
    revision_after: str
    settings_written: bool
    keystore_created: bool
    schedule_version: int | None
    schedule_loaded: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "database": self.database,
            "keystore": str(self.keystore),
            "migrated_from": self.revision_before,
            "revision": self.revision_after,
            "settings_written": self.settings_written,
            "keystore_created": self.keystore_created,
            "schedule_version": self.schedule_version,
            "schedule_loaded": self.schedule_loaded,
        }


def _private_sqlite_files(catalog: Catalog) -> None:
    """The SQLite catalog names students, parents and staff: owner-only, like the key store.

    SQLite creates the file with the process's umask (often 0644) and gives its journal
    files the same mode, so one chmod of the database covers them from then on; the home
    folder is private too, but a catalog elsewhere (RECORDS_DATABASE_URL) or copied out
    of it keeps its own protection.
    """
    if not catalog.is_sqlite:
        return
    database = catalog.engine.url.database
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(database + suffix)
        if path.exists():
            os.chmod(path, 0o600)


def initialize(home: Path | str | None = None, *, actor: str) -> InitReport:
    """Create or upgrade everything an installation needs; running it twice changes nothing."""
    paths = resolve_paths(home)
    for folder in (paths.home, paths.inbox, paths.reports):
        folder.mkdir(parents=True, exist_ok=True)
    if paths.is_sqlite:
        os.chmod(paths.home, 0o700)
    settings_written = write_default_settings(paths)
    installation = Installation(paths=paths, settings=load_settings(paths), catalog=Catalog(paths.database_url))
    keystore_created = installation.keystore.create()
    installation.blobs  # noqa: B018 - opening the store creates its folder and checks the URL
    before, after = migrations.upgrade(installation.catalog)
    _private_sqlite_files(installation.catalog)
    loaded = False
    with installation.catalog.writing() as session:
        version = schedules.current_version(session)
        if version is None:
            version = schedules.load_version(session, default_schedule(), actor=actor, source_name="default_schedule.yaml")
            loaded = True
        if before != after:
            audit.append(
                session,
                actor,
                "catalog.migrated",
                "catalog",
                "catalog",
                {"from": before, "to": after, "backend": installation.catalog.engine.dialect.name},
            )
    return InitReport(
        home=paths.home,
        database=migrations.safe_url(paths.database_url),
        keystore=paths.keystore,
        revision_before=before,
        revision_after=after,
        settings_written=settings_written,
        keystore_created=keystore_created,
        schedule_version=version,
        schedule_loaded=loaded,
    )
