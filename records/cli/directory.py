"""``records roster import`` and ``records staff import``: the district's directories."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, error, new_app, note, open_installation
from records.errors import NotFound
from records.storage.users import authorize

roster_app = new_app("Import the student roster (roster.csv).")
staff_app = new_app("Import the staff directory (staff.csv).")

FileArgument = Annotated[Path, typer.Argument(help="The CSV file (columns in any order; see cli.md).")]
PartialOption = Annotated[bool, typer.Option("--partial", help="Load the good rows even when some rows are bad.")]


def _run(kind: str, file: Path, partial: bool, actor: str | None, home: Path | None, as_json: bool) -> None:
    from records.intake import directory_csv
    from records.storage import directory

    if not file.is_file():
        raise NotFound(f"{file}: no such file")
    parse = directory_csv.parse_roster if kind == "roster" else directory_csv.parse_staff
    load = directory.import_students if kind == "roster" else directory.import_staff
    parsed = parse(file)
    digest = parsed.sha256 or hashlib.sha256(file.read_bytes()).hexdigest()
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        recorded_actor = authorize(session, actor, "directory.import", required=False)
        report = load(session, parsed, actor=recorded_actor, partial=partial, source_name=file.name, source_sha256=digest)
    document = report.to_json()
    if report.written and (report.added or report.updated):
        # New students, guardians or contacts change who records are about.
        from records.flows.classify import reclassify_all

        document["reclassified"] = reclassify_all(installation, actor="engine").to_json()
        # Exit dates start retention clocks (and separations for staff).
        from records.flows.classify import recompute_retention

        document["retention_changed"] = recompute_retention(installation)
    if as_json:
        emit_json(document)
    else:
        what = "students" if kind == "roster" else "staff"
        typer.echo(f"{what}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")
        if "reclassified" in document:
            typer.echo(f"records re-evaluated: {document['reclassified']['classified']}, changed: {document['reclassified']['changed']}")
        if report.exited:
            typer.echo(f"newly exited: {', '.join(report.exited)}")
        if report.missing_from_file:
            typer.echo(
                f"in the catalog but not in this file (kept, not exited): {', '.join(report.missing_from_file)}"
            )
        for warning in report.warnings:
            note(f"{file.name}: line {warning.line}: warning: {warning.reason}")
        for problem in report.errors:
            note(f"{file.name}: line {problem.line}: {problem.reason}")
    if parsed.unreadable:
        error(f"{file.name}: the file cannot be read as a {kind} CSV; nothing was imported (see the reasons above)")
    if report.errors and not report.written:
        error(f"{file.name}: {len(report.errors)} bad row(s); nothing was imported. Fix them, or use --partial to load the good rows")


@roster_app.command("import")
def roster_import(file: FileArgument, partial: PartialOption = False, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Import or update students. Students missing from the file are reported, never removed."""
    _run("roster", file, partial, actor, home, as_json)


@staff_app.command("import")
def staff_import(file: FileArgument, partial: PartialOption = False, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Import or update the staff directory."""
    _run("staff", file, partial, actor, home, as_json)
