"""``records schedule``: the retention schedule in force."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, open_installation, parse_date
from records.errors import NotFound, UsageError
from records.storage import schedules
from records.storage.users import authorize

app = new_app("The retention schedule: series, periods, triggers and confirmations.")


@app.command("show")
def show(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Show the schedule version in force with each series and whether it is confirmed."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        view = schedules.show(session)
    if as_json:
        emit_json(view)
        return
    table = Table("code", "retention", "trigger", "max", "disposition", "approval", "confirmed", "title", title=f"schedule version {view.version}")
    for s in view.series:
        table.add_row(
            s.code,
            s.retention or "-",
            s.trigger,
            s.max or "-",
            s.disposition,
            "yes" if s.needs_approval else "no",
            "yes" if s.confirmed else "NO: to confirm",
            s.title,
        )
    Console().print(table)


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="The district's schedule (YAML, the keys of `schedule show --json`).")],
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a district's own schedule as a new version; the old one stays on record."""
    from records.retention.schedule import ScheduleError, parse_schedule

    if not file.is_file():
        raise NotFound(f"{file}: no such file")
    try:
        schedule = parse_schedule(file.read_text(encoding="utf-8"))
    except (ScheduleError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file.name}: {exc}; nothing was loaded") from None
    from records.flows.schedule import load_schedule

    view, changed = load_schedule(open_installation(home), schedule, actor=actor, source_name=file.name)
    version = view.version
    if as_json:
        emit_json(view)
        return
    unconfirmed = [s.code for s in view.series if not s.confirmed]
    typer.echo(f"schedule version {version} loaded from {file.name}; {changed} record(s) recomputed" + (f"; to confirm before anything under them is destroyed: {', '.join(unconfirmed)}" if unconfirmed else ""))


@app.command("confirm")
def confirm(
    code: Annotated[str, typer.Argument(help="The series code (see `records schedule show`).")],
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Confirm a series of the schedule in force (records officers only)."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "schedule.confirm")
        changed = schedules.confirm(session, code, actor=who)
    typer.echo(f"{code}: confirmed" if changed else f"{code}: was already confirmed")


@app.command("evaluate")
def evaluate(
    series: Annotated[str, typer.Option("--series", help="The series code.")],
    record_date: Annotated[str, typer.Option("--record-date", help="The record's date (YYYY-MM-DD).")],
    student_exit: Annotated[list[str] | None, typer.Option("--student-exit", help="A linked student's exit date, or `enrolled` (repeat for several).")] = None,
    staff_exit: Annotated[str | None, typer.Option("--staff-exit", help="The staff member's exit date (separation).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day to evaluate for (default today).")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """What-if: when a record of this series may go and must go."""
    from records.retention.eligibility import RecordDates, compute

    when = parse_date(record_date, "--record-date")
    exits = [None if value.strip().lower() == "enrolled" else parse_date(value, "--student-exit") for value in student_exit or []]
    staff_left = parse_date(staff_exit, "--staff-exit")
    today = parse_date(as_of, "--as-of") or dt.date.today()
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        terms = schedules.series_terms(session)
    if series not in terms:
        raise UsageError(f"--series {series}: not a series of the schedule in force ({', '.join(sorted(terms))})")
    settings = installation.settings
    zone = settings.zone
    moment = dt.datetime.combine(when, dt.time(12, 0), tzinfo=zone) if when else None
    result = compute(
        terms[series],
        RecordDates(moment, moment, student_exits=exits, staff_exit=staff_left),
        as_of=today,
        timezone=settings.timezone,
        grace_after_exit=settings.grace_after_exit,
        due_soon_days=settings.due_soon_days,
    )
    document = {
        "series": series,
        "trigger": result.trigger,
        "trigger_date": result.trigger_date,
        "eligible_on": result.eligible_on,
        "destroy_by": result.destroy_by,
        "disposition": result.disposition,
        "needs_approval": result.needs_approval,
        "confirmed": result.confirmed,
        "state": result.state,
        "as_of": today,
        "schedule_version": result.schedule_version,
        "reason": result.reason,
    }
    if as_json:
        emit_json(document)
        return
    for key, value in document.items():
        typer.echo(f"{key:16} {value if value is not None else '-'}")
