"""``records hold place|release|list``: what must not be destroyed, and why."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, open_installation, parse_date
from records.errors import UsageError
from records.retention.holds import HOLD_KINDS, HoldError, criteria
from records.storage import retention
from records.storage.users import authorize

app = new_app("Holds: nothing under a hold is destroyed (litigation, audit, inspection and public-records requests).")


@app.command("place")
def place(
    kind: Annotated[str, typer.Option("--kind", help=f"One of {', '.join(HOLD_KINDS)}.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the case, the request, the audit).")],
    student: Annotated[list[str] | None, typer.Option("--student", help="Records linked to this student (repeat: either).")] = None,
    series: Annotated[list[str] | None, typer.Option("--series", help="Records of this series (repeat: either).")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Records whose dates reach this day or later.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Records whose dates start this day or earlier.")] = None,
    record: Annotated[list[str] | None, typer.Option("--record", help="These records (repeat).")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Place a hold. It also covers matching records ingested later."""
    try:
        made = criteria(kind, reason, students=student or (), series=series or (), date_from=parse_date(date_from, "--from"), date_to=parse_date(date_to, "--to"), records=record or ())
    except HoldError as exc:
        raise UsageError(str(exc)) from None
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "hold.place")
        hold_id, covers = retention.place_hold(session, kind, reason, made, actor=who, zone=installation.settings.zone)
    if as_json:
        emit_json({"hold_id": hold_id, "covers": covers})
        return
    typer.echo(f"hold {hold_id} placed: covers {covers} record(s) now, and matching records ingested later")


@app.command("release")
def release(
    hold_id: Annotated[str, typer.Argument(help="The hold's id (see `records hold list`).")],
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Release a hold; it stays on record with its history."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "hold.release")
        retention.release_hold(session, hold_id, actor=who, zone=installation.settings.zone)
    typer.echo(f"hold {hold_id} released")


@app.command("list")
def list_(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Every hold, in force or released, with what it covers now."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        rows = retention.list_holds(session, installation.settings.zone)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no holds")
        return
    table = Table("hold", "kind", "placed", "released", "covers", "criteria", "reason")
    for row in rows:
        crit = ", ".join(f"{k} {v if not isinstance(v, list) else ' or '.join(v)}" for k, v in row["criteria"].items() if v)
        table.add_row(row["hold_id"], row["kind"], f"{row['placed_at']:%Y-%m-%d} {row['placed_by']}", f"{row['released_at']:%Y-%m-%d}" if row["released_at"] else "in force", str(row["covers"]), crit, row["reason"])
    Console().print(table)
