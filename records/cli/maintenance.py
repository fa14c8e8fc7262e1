"""``records sweep`` and ``records backup``: the operations an IT person runs from cron.

Both are maintenance, an admin's right (``--actor``); from cron without an actor they
record ``system:<os user>``, as imports do. The work is in ``storage/sweep.py`` and
``storage/backup.py``; this module parses options and prints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation
from records.errors import RecordsError, UsageError
from records.storage.users import authorize

backup_app = new_app(
    "Back up the catalog, the store and the key store, each on its own rotation, and restore them "
    "(README, \"Backups and restore\")."
)

ToOption = Annotated[
    Path,
    typer.Option("--to", envvar="RECORDS_BACKUP_DIR", help="The folder that holds this component's backups (or $RECORDS_BACKUP_DIR).", show_default=False),
]
FromOption = Annotated[Path, typer.Option("--from", help="The backup to restore: a catalog-*, store-* or keys-* entry of a backup folder.", show_default=False)]


def sweep(
    grace_hours: Annotated[float, typer.Option("--grace-hours", help="Leave content younger than this alone (another process may be about to commit it).")] = 24.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be removed; remove nothing.")] = False,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove keys and blobs no catalog row needs (left by a killed ingest or a restore)."""
    from records.storage.sweep import sweep as run_sweep

    if grace_hours < 0:
        raise UsageError("--grace-hours must be 0 or more")
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        recorded = authorize(session, actor, "maintenance", required=False)
        report = run_sweep(session, installation.content, actor=recorded, grace=dt.timedelta(hours=grace_hours), dry_run=dry_run)
    if as_json:
        emit_json(report.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"sweep: {verb} {len(report.orphan_keys)} key(s), {len(report.orphan_blobs)} blob(s) and {report.temporaries} temporary file(s) "
        f"no record needs; {report.young} unreferenced item(s) younger than {grace_hours:g} h left alone"
    )
    if report.keyless_records:
        note(
            f"{len(report.keyless_records)} record(s) have no key in the key store (destroyed after the restored catalog backup "
            f"was taken, or by a disposal interrupted before its tombstone: rerun `records dispose execute`): {', '.join(report.keyless_records[:10])}"
        )


def _backup(component: str, to: Path, actor: str | None, home: Path | None, as_json: bool) -> None:
    from records.storage.backup import make_backup

    installation = open_installation(home)
    with installation.catalog.writing() as session:
        recorded = authorize(session, actor, "maintenance", required=False)
        report = make_backup(session, installation.paths, installation.settings, component, to, actor=recorded)
    if as_json:
        emit_json(report.to_json())
        return
    linked = f", {report.linked} unchanged blob(s) linked to the previous backup" if report.linked else ""
    typer.echo(f"{component} backed up to {report.path}: {report.files} file(s), {report.bytes} bytes{linked}")
    if report.pruned:
        typer.echo(f"pruned (older than {report.rotation_days} days): {', '.join(report.pruned)}")


@backup_app.command("catalog")
def backup_catalog(to: ToOption, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Back the catalog up (SQLite online backup, or pg_dump); prune past [backup] catalog_rotation_days."""
    _backup("catalog", to, actor, home, as_json)


@backup_app.command("store")
def backup_store(to: ToOption, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Back the blob store up (ciphertext only; unchanged blobs are hard-linked); prune past [backup] store_rotation_days."""
    _backup("store", to, actor, home, as_json)


@backup_app.command("keys")
def backup_keys(to: ToOption, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Back the key store up; prune past [keystore] backup_rotation_days (keep that folder private)."""
    _backup("keys", to, actor, home, as_json)


@backup_app.command("restore")
def restore(
    component: Annotated[str, typer.Argument(help="catalog, store or keys.", show_default=False)],
    source: FromOption,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore one component: the catalog is replaced; store and key store only gain files they lack."""
    from sqlalchemy.exc import SQLAlchemyError

    from records.config import resolve_paths
    from records.storage import backup

    if component not in backup.COMPONENTS:
        raise UsageError(f"{component!r}: restore catalog, store or keys")
    paths = resolve_paths(home)
    restorer = {"catalog": backup.restore_catalog, "store": backup.restore_store, "keys": backup.restore_keys}[component]
    if component != "catalog":
        with open_installation(home).catalog.reading() as session:
            authorize(session, actor, "maintenance", required=False)
    report = restorer(paths, source)
    try:
        installation = open_installation(home)
        with installation.catalog.writing() as session:
            recorded = authorize(session, actor, "maintenance", required=False)
            backup.record_restore(session, report, actor=recorded)
    except (RecordsError, SQLAlchemyError) as exc:  # the restore is done; say what is left to do
        note(f"restored, but the event could not be recorded yet ({exc}); run `records init`, then `records sweep --grace-hours 0`")
    if as_json:
        emit_json(report.to_json())
        return
    kept = f" ({report.kept} file(s) already there kept)" if report.kept else ""
    typer.echo(f"{component} restored from {report.source}: {report.files} file(s){kept}")
    note("when catalog, store and key store are all restored: `records init`, `records sweep --grace-hours 0`, `records audit verify`, `records doctor`")
