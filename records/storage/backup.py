"""Backups of the catalog, the store and the key store, each on its own rotation.

design.md keeps the three apart: the key store is backed up on its own short rotation
(``[keystore] backup_rotation_days``), because a record's key surviving in a key-store
backup is the only way its destroyed content could ever be read again; catalog and store
backups may live longer (``[backup] catalog_rotation_days``, ``store_rotation_days``):
without the keys they hold only ciphertext.

Each backup is a dated entry in the folder given (``catalog-20261130T020000.123456Z.db``,
``store-...``, ``keys-...``), written under a hidden temporary name and renamed when
whole, so a backup killed half-way never looks complete. Every run then prunes that
component's backups older than its rotation (key-store backups are overwritten with
zeros before they are unlinked, as a destroyed key is). One ``backup.made`` event names
the backup and what was pruned.

- catalog: SQLite through its online backup API (consistent while others write);
  PostgreSQL with ``pg_dump --format=custom`` (restored with ``pg_restore``).
- store: a copy of the folder. A file already in the previous store backup with the same
  size and time is hard-linked, not copied again (single blobs never change; a blob
  pack changes only when a member is destroyed and zeroed in place, which moves its time).
- key store: a full copy (key packs change in place when a key is destroyed: never linked).

Restore never brings back what was destroyed after the backup without saying so: the
catalog is replaced whole; store and key store are only filled in with files they lack,
and ``records sweep`` then removes again every key and blob the catalog says was
destroyed (README, "Backups and restore").
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from records.config import DistrictSettings, Paths
from records.errors import ConfigurationError, DiskFull, RecordsError, Refused, is_disk_full
from records.storage import audit, facts

COMPONENTS = ("catalog", "store", "keys")
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_ENTRY = re.compile(r"^(catalog|store|keys)-(\d{8}T\d{6}\.\d{6}Z)(\.db|\.dump)?$")
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


def rotation_days(settings: DistrictSettings, component: str) -> int:
    return {
        "catalog": settings.catalog_backup_rotation_days,
        "store": settings.store_backup_rotation_days,
        "keys": settings.keystore_backup_rotation_days,
    }[component]


def fact_key(component: str) -> str:
    return f"backup.{component}.last"


@dataclass
class BackupReport:
    """The shape of ``records backup COMPONENT --json``."""

    component: str
    path: str
    at: str
    files: int
    bytes: int
    linked: int = 0  # store: blobs hard-linked from the previous backup
    rotation_days: int = 0
    pruned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "path": self.path,
            "at": self.at,
            "files": self.files,
            "bytes": self.bytes,
            "linked": self.linked,
            "rotation_days": self.rotation_days,
            "pruned": self.pruned,
        }


def backups_in(folder: Path, component: str) -> list[tuple[dt.datetime, Path]]:
    """This component's complete backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _ENTRY.match(entry.name)
        if match and match.group(1) == component:
            found.append((dt.datetime.strptime(match.group(2), _STAMP).replace(tzinfo=dt.UTC), entry))
    return sorted(found)


def _private_dir(folder: Path) -> None:
    folder.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(folder, _PRIVATE_DIR)


def _catalog_backup(paths: Paths, target: Path) -> None:
    url = make_url(paths.database_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(_read_only(Path(url.database)), target)
        os.chmod(target, _PRIVATE_FILE)
        return
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={target}", f"--dbname={_libpq_url(paths)}"])
    os.chmod(target, _PRIVATE_FILE)


def _sqlite_copy(source_uri: str, destination: Path | str) -> None:
    """SQLite's online backup, page by page: consistent even while others write the source."""
    source = sqlite3.connect(source_uri, uri=True)
    target = sqlite3.connect(destination)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()


def _read_only(database: Path) -> str:
    """A SQLite URI opening ``database`` read-only (quoted: a path may hold ``?`` or ``#``)."""
    return f"{database.resolve().as_uri()}?mode=ro"


def _libpq_url(paths: Paths) -> str:
    """The catalog URL as libpq spells it (no ``+psycopg`` driver suffix)."""
    return make_url(paths.database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(tool: str, arguments: list[str]) -> None:
    binary = shutil.which(tool)
    if binary is None:
        raise ConfigurationError(f"{tool} is not installed: apt-get install postgresql-client (its major version at least the server's)")
    done = subprocess.run([binary, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise RecordsError(f"{tool} failed: {detail[-1] if detail else f'exit {done.returncode}'}")


def _copy_tree(source: Path, target: Path, *, link_from: Path | None) -> tuple[int, int, int]:
    """Copy ``source`` into the new folder ``target`` (0700 folders, 0600 files), skipping
    temporary files; with ``link_from``, hard-link files of the same name, size and time there.
    Returns (files, bytes, linked)."""
    files = size = linked = 0
    _private_dir(target)
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = Path(folder).relative_to(source)
        _private_dir(target / relative)
        for name in sorted(names):
            if name.startswith("."):
                continue  # an interrupted write's temporary file: never a blob or key anyone holds
            original = Path(folder) / name
            copy = target / relative / name
            try:
                status = original.stat()
            except FileNotFoundError:
                continue  # destroyed while we walked: rightly absent from the backup
            length = status.st_size
            previous = link_from / relative / name if link_from else None
            try:
                # Same name, size and time: the same bytes. The time matters for a blob pack,
                # whose destroyed members are zeroed in place (same size, a new time).
                if previous is not None and previous.is_file() and _same_file(previous.stat(), status):
                    os.link(previous, copy)
                    linked += 1
                else:
                    shutil.copy2(original, copy)
                    os.chmod(copy, _PRIVATE_FILE)
            except FileNotFoundError:
                continue
            files += 1
            size += length
    return files, size, linked


def _same_file(previous: os.stat_result, current: os.stat_result) -> bool:
    return previous.st_size == current.st_size and previous.st_mtime_ns == current.st_mtime_ns


def _remove_backup(path: Path, component: str) -> None:
    """Delete a pruned backup; a key-store backup's files are zeroed first (best effort)."""
    if path.is_dir():
        if component == "keys":
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    _zero(file)
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _zero(file: Path) -> None:
    fd = os.open(file, os.O_WRONLY)
    try:
        remaining = os.fstat(fd).st_size
        while remaining > 0:
            remaining -= os.write(fd, bytes(min(remaining, 1 << 20)))
        os.fsync(fd)
    finally:
        os.close(fd)


def make_backup(
    session: Session,
    paths: Paths,
    settings: DistrictSettings,
    component: str,
    folder: Path,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> BackupReport:
    """Back ``component`` up into ``folder``, prune past its rotation, record the event.

    ``session`` is a write transaction on the catalog; the catalog copy is taken from the
    database itself (the online backup sees every committed transaction, not this one's
    event, which is appended after it).
    """
    if component not in COMPONENTS:
        raise ValueError(f"unknown backup component {component!r}")
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime(_STAMP)
    folder = Path(folder).expanduser().resolve()
    try:
        _private_dir(folder)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the backup folder {folder}: {exc}") from exc
    earlier = backups_in(folder, component)
    suffix = {"catalog": ".db" if paths.is_sqlite else ".dump"}.get(component, "")
    name = f"{component}-{stamp}{suffix}"
    final = folder / name
    if final.exists():
        raise Refused(f"a {component} backup named {name} exists already in {folder}: run it again")
    partial = folder / f".{name}.partial"
    linked = 0
    try:
        if component == "catalog":
            _catalog_backup(paths, partial)
            files, size = 1, partial.stat().st_size
        elif component == "store":
            root = _store_root(paths)
            link_from = earlier[-1][1] if earlier else None
            files, size, linked = _copy_tree(root, partial, link_from=link_from)
        else:
            if not (paths.keystore / "master.json").is_file():
                raise ConfigurationError(f"the key store {paths.keystore} has no master key: nothing to back up (RECORDS_KEYSTORE?)")
            files, size, _ = _copy_tree(paths.keystore, partial, link_from=None)
        os.replace(partial, final)
    except BaseException as exc:
        if partial.exists():
            _remove_backup(partial, component)
        if is_disk_full(exc):
            raise DiskFull("backup folder", folder) from exc
        raise
    rotation = rotation_days(settings, component)
    pruned = []
    for taken, path in earlier:
        if now - taken > dt.timedelta(days=rotation):
            _remove_backup(path, component)
            pruned.append(path.name)
    report = BackupReport(component, str(final), now.strftime("%Y-%m-%dT%H:%M:%SZ"), files, size, linked, rotation, pruned)
    facts.put(session, fact_key(component), f"{report.at} {final}")
    from records import logs

    logs.get("backup").info("backup.made", backup=component, files=files, bytes=size, linked=linked, pruned=len(pruned))
    audit.append_many(
        session,
        [audit.PendingEvent(actor, "backup.made", "backup", component, {"name": name, "folder": str(folder), "files": files, "bytes": size, "rotation_days": rotation, "pruned": pruned})],
        now=now,
    )
    return report


def _store_root(paths: Paths) -> Path:
    from records.storage.blobstore import open_blob_store

    store = open_blob_store(paths.store_url)
    root = getattr(store, "root", None)
    if not isinstance(root, Path):
        raise ConfigurationError(f"the store {paths.store_url} is not a folder: back it up with its own tools")
    return root


def last_backup(session: Session, component: str) -> tuple[dt.datetime, str] | None:
    """When and where this component was last backed up, from the catalog's facts."""
    value = facts.get(session, fact_key(component))
    if not value:
        return None
    at, _, where = value.partition(" ")
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")), where


# --- restore ---------------------------------------------------------------------------


@dataclass
class RestoreReport:
    component: str
    source: str
    files: int
    kept: int = 0  # files the target had already (store, keys: never overwritten)

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "from": self.source, "files": self.files, "kept": self.kept}


def _check_backup(path: Path, component: str) -> Path:
    path = Path(path).expanduser().resolve()
    match = _ENTRY.match(path.name)
    if not path.exists() or not match or match.group(1) != component:
        raise RecordsError(f"{path} is not a {component} backup (a `{component}-YYYYMMDDTHHMMSS.ffffffZ` entry written by `records backup {component}`)")
    return path


def restore_catalog(paths: Paths, backup: Path) -> RestoreReport:
    """Replace the catalog with the backup (the catalog is the one thing restored whole)."""
    from records.storage.db import dispose_engines

    backup = _check_backup(backup, "catalog")
    dispose_engines()
    url = make_url(paths.database_url)
    if url.get_backend_name() == "sqlite":
        if backup.suffix != ".db":
            raise RecordsError(f"{backup} is a PostgreSQL dump; the catalog is SQLite ({paths.database_url})")
        assert url.database
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(_read_only(backup), url.database)
    else:
        if backup.suffix != ".dump":
            raise RecordsError(f"{backup} is a SQLite catalog; the catalog is PostgreSQL: restore it with RECORDS_DATABASE_URL unset")
        _pg_tool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={_libpq_url(paths)}", str(backup)])
    return RestoreReport("catalog", str(backup), 1)


def _fill_in(backup: Path, target: Path) -> tuple[int, int]:
    """Copy into ``target`` the files of ``backup`` it lacks; never overwrite one it has."""
    copied = kept = 0
    _private_dir(target)
    for folder, dirs, names in os.walk(backup):
        dirs.sort()
        relative = Path(folder).relative_to(backup)
        _private_dir(target / relative)
        for name in sorted(names):
            destination = target / relative / name
            if destination.exists():
                kept += 1
                continue
            shutil.copy2(Path(folder) / name, destination)
            os.chmod(destination, _PRIVATE_FILE)
            copied += 1
    return copied, kept


def restore_store(paths: Paths, backup: Path) -> RestoreReport:
    backup = _check_backup(backup, "store")
    copied, kept = _fill_in(backup, _store_root(paths))
    return RestoreReport("store", str(backup), copied, kept)


def restore_keys(paths: Paths, backup: Path) -> RestoreReport:
    """Fill the key store in from a backup; refuse a backup of another installation's keys."""
    backup = _check_backup(backup, "keys")
    master = paths.keystore / "master.json"
    if master.is_file() and (backup / "master.json").is_file() and master.read_bytes() != (backup / "master.json").read_bytes():
        raise Refused(
            f"{backup} holds another master key than the key store {paths.keystore}: it is another installation's key "
            "store backup (or RECORDS_KEYSTORE points at the wrong folder)"
        )
    copied, kept = _fill_in(backup, paths.keystore)
    return RestoreReport("keys", str(backup), copied, kept)


def record_restore(session: Session, report: RestoreReport, *, actor: str) -> None:
    audit.append(session, actor, "backup.restored", "backup", report.component, report.to_json())


__all__ = [
    "COMPONENTS",
    "BackupReport",
    "RestoreReport",
    "backups_in",
    "last_backup",
    "make_backup",
    "record_restore",
    "restore_catalog",
    "restore_keys",
    "restore_store",
    "rotation_days",
]
