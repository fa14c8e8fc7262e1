"""``records ingest``, ``list``, ``show``, ``text`` and ``quarantine``: the clerk's daily work.

Only ``ingest`` and ``quarantine retry`` import Prefect (slow to import): reading
commands must stay instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation, parse_date
from records.retention.eligibility import STATES
from records.errors import UsageError
from records.storage import directory, record_views
from records.storage.users import authorize

quarantine_app = new_app("Files that could not be read, with the reason and how to fix it.")

STATUS_COLOURS = {"ingested": "green", "partial": "yellow", "duplicate": "cyan", "quarantined": "red"}


def _quiet_prefect() -> None:
    """Clerks need our summary, not Prefect's run chatter (unless they ask for it)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (read recursively).", show_default=False)],
    staff: Annotated[str | None, typer.Option("--staff", help="The staff member whose export or printouts these are.")] = None,
    password: Annotated[str | None, typer.Option("--password", help="Password for encrypted PDFs.")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest saved printouts and exports: detect by content, extract, store encrypted."""
    from records.intake.collect import MissingPath, collect_files

    try:
        files = collect_files(paths)
    except MissingPath as exc:
        raise UsageError(str(exc)) from None
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        recorded_actor = authorize(session, actor, "ingest", required=False)
        if staff and not directory.staff_exists(session, staff):
            raise UsageError(f"--staff {staff}: no such staff member; import the staff directory first")
    if not files:
        raise UsageError("no files found under the paths given")
    _quiet_prefect()
    from records.flows import progress
    from records.flows.ingest import ingest_flow

    show_bar = sys.stdout.isatty() and not as_json
    if show_bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        task_id = bar.add_task("ingesting", total=len(files))
        progress.listen(lambda done, total: bar.update(task_id, completed=done, total=total))
        bar.start()
    try:
        result = ingest_flow(
            [str(p) for p in files],
            home=str(installation.paths.home),
            actor=recorded_actor,
            owner_staff_id=staff,
            password=password,
        )
    finally:
        if show_bar:
            bar.stop()
        progress.listen(None)
    if as_json:
        emit_json(result)
        return
    _print_ingest(result)


def _print_ingest(result: dict[str, Any]) -> None:
    console = Console()
    table = Table("status", "source", "file", "records", "reason")
    for source in result["sources"]:
        colour = STATUS_COLOURS.get(source["status"], "white")
        table.add_row(
            f"[{colour}]{source['status']}[/]",
            source["id"],
            Path(source["path"]).name,
            ", ".join(source["records"]) or "-",
            source["reason"] or "",
        )
    console.print(table)
    counts = result["counts"]
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()))
    console.print("classified on the way in: see [bold]records review[/] for what the engine left to you")


def list_(
    student: Annotated[str | None, typer.Option("--student", help="Records linked to this student id.")] = None,
    series: Annotated[str | None, typer.Option("--series", help="Records of this series code.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="active, in_review, proposed or destroyed.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Retention state: retain, eligible, due_soon, overdue, held, proposed, destroyed.")] = None,
    format_: Annotated[str | None, typer.Option("--format", help="printout-scan, printout-pdf, email, ...")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Records cut from this source id.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day retention states are computed for (default today).")] = None,
    dated_from: Annotated[str | None, typer.Option("--from", help="Records with a date on or after this day (YYYY-MM-DD, district time).", show_default=False)] = None,
    dated_to: Annotated[str | None, typer.Option("--to", help="... and on or before this day.", show_default=False)] = None,
    words: Annotated[str | None, typer.Option("--text", help="Only records whose text holds every one of these words (needs --purpose; an access event).", show_default=False)] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Why you search the records' text: it goes into each matched student's access log.", show_default=False)] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List records, filtered (by dates, and by words in their text)."""
    if state and state not in STATES:
        raise UsageError(f"--state {state!r}: use one of {', '.join(STATES)}")
    day = parse_date(as_of, "--as-of")
    start, end = parse_date(dated_from, "--from"), parse_date(dated_to, "--to")
    if start and end and start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    if purpose is not None and words is None:
        raise UsageError("--purpose goes with --text (a search of the records' text)")
    installation = open_installation(home)
    where = record_views.RecordFilter(
        student_id=student, series=series, status=status, format=format_, source_id=source, state=state, dated_from=start, dated_to=end
    )
    context = record_views.ViewContext.for_settings(installation.settings, day)
    if words is not None:
        from records.flows.search import search_records

        found = search_records(installation, where, words, purpose=purpose or "", actor=actor, context=context)
        views = found.records
        if not as_json:
            note(f"searched the text of {found.read} record(s); {len(views)} match (logged as records.searched)")
    else:
        with installation.catalog.reading() as session:
            views = record_views.list_records(session, where, context)
    if as_json:
        emit_json(views)
        return
    table = Table("id", "format", "first sent", "last sent", "pages", "chars", "series", "status")
    for v in views:
        table.add_row(
            v["id"], v["format"], v["sent_at_first"] or "-", v["sent_at_last"] or "-", str(len(v["pages"])), str(v["text_chars"]), v["series"]["code"], v["status"]
        )
    Console().print(table)


def show(
    record_id: Annotated[str, typer.Argument(help="The record's id (see `records list`).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day the retention state is computed for (default today).")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one record: where it came from, who is in it, how it was read, when it may go."""
    day = parse_date(as_of, "--as-of")
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        view = record_views.show_record(session, record_id, record_views.ViewContext.for_settings(installation.settings, day))
    if as_json:
        emit_json(view)
        return
    lines = [
        f"record     {view['id']} ({view['status']})",
        f"format     {view['format']}" + (f"  locator {view['locator']}" if view["locator"] else ""),
        f"source     {', '.join(view['source_ids'])}  sha256 {view['source_sha256']}",
        f"sent       {view['sent_at_first'] or '-'} .. {view['sent_at_last'] or '-'}",
        f"series     {view['series']['code']} (confidence {view['series']['confidence']:.2f}, {view['series']['decided_by']})",
        f"text       {view['text_chars']} characters",
        "retention  " + (
            f"{view['retention']['state']}: eligible on {view['retention']['eligible_on'] or '-'}, destroy by {view['retention']['destroy_by'] or '-'} "
            f"({view['retention']['trigger']} {view['retention']['trigger_date'] or '?'}, schedule v{view['retention']['schedule_version']})"
            if view["retention"]["state"] else "not computed yet"
        ),
    ]
    if view["holds"]:
        lines.append(f"holds      {', '.join(view['holds'])}")
    for link in view["students"]:
        evidence = "; ".join(str(e.get("detail")) for e in link["evidence"])
        lines.append(f"student    {link['student_id']} (confidence {link['confidence']:.2f}): {evidence}")
    for p in view["participants"]:
        lines.append(f"participant {p.get('name') or '-'} <{p.get('address') or '-'}> {p.get('role')}")
    for page in view["pages"]:
        how = f"OCR, confidence {page['confidence']:.2f}" if page["ocr"] and page["confidence"] is not None else ("OCR" if page["ocr"] else "text layer")
        lines.append(f"page {page['number']:>3}   {page['chars']} characters, {how}")
    for e in view["extraction_evidence"]:
        lines.append(f"evidence   {e['kind']}: {e['detail']}")
    typer.echo("\n".join(lines))


def text(
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    purpose: Annotated[str | None, typer.Option("--purpose", help="Why you read it (kept in the access log).")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Print the record's text. Reading it is logged as an access event."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        reader = authorize(session, actor, "read", required=False)
        content = record_views.read_text(session, installation.content, record_id, actor=reader, purpose=purpose)
    sys.stdout.write(content if content.endswith("\n") else content + "\n")


@quarantine_app.command("list")
def quarantine_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Sources that could not be read, with the reason and what to do."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        rows = record_views.quarantined(session)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("nothing in quarantine")
        return
    table = Table("source", "received", "file", "reason")
    for row in rows:
        table.add_row(row["source_id"], row["at"], Path(row["path"]).name, row["reason"])
    Console().print(table)


@quarantine_app.command("retry")
def quarantine_retry(
    source_id: Annotated[str, typer.Argument(help="The quarantined source's id.")],
    password: Annotated[str | None, typer.Option("--password", help="The document's password (encrypted PDFs).")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a quarantined file again, from its kept copy (with a password, say)."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        recorded_actor = authorize(session, actor, "quarantine.retry", required=False)
    from records.flows.ingest import retry_source

    report = retry_source(installation, source_id, actor=recorded_actor, password=password)
    if as_json:
        emit_json(report.to_json())
        return
    typer.echo(f"{report.id}: {report.status}" + (f" ({report.reason})" if report.reason else "") + (f"; records {', '.join(report.records)}" if report.records else ""))
    if report.status == "quarantined":
        note("still quarantined: see the reason above")
