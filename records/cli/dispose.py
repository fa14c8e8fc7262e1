"""``records dispose``: plan, propose, list, approve, reject, execute.

Officers propose and approve (never the same one for one batch); execution re-checks
everything at the moment of destruction and ends with a certificate.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation, parse_date
from records.storage.users import authorize

app = new_app("Disposal: what may go, batches per series, approval, destruction and its certificate.")

AsOfOption = Annotated[str | None, typer.Option("--as-of", help="The day to plan for (default today).")]
BatchArgument = Annotated[str, typer.Argument(help="The batch id (see `records dispose list`).")]


def _today(installation) -> dt.date:  # type: ignore[no-untyped-def]
    return dt.datetime.now(installation.settings.zone).date()


@app.command("plan")
def plan(as_of: AsOfOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Dry run for any date: eligible, held, due soon, overdue, and unconfirmed series."""
    from records.storage import disposal

    installation = open_installation(home)
    day = parse_date(as_of, "--as-of") or _today(installation)
    with installation.catalog.reading() as session:
        result = disposal.plan(session, installation.settings, day)
    if as_json:
        emit_json(result.to_json())
        return
    typer.echo(f"as of {day}: {len(result.eligible)} eligible, {len(result.due_soon)} due soon, {len(result.overdue)} overdue, {len(result.held)} held")
    if result.unconfirmed_series:
        note(f"series still to confirm before approval: {', '.join(result.unconfirmed_series)} (`records schedule confirm CODE`)")


@app.command("propose")
def propose(as_of: AsOfOption = None, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Group eligible, unheld records into one batch per series; write the RMU-2 data."""
    from records.flows.disposal import propose_batches

    installation = open_installation(home)
    day = parse_date(as_of, "--as-of") or _today(installation)
    with installation.catalog.reading() as session:
        who = authorize(session, actor, "dispose.propose")
    batches = propose_batches(installation, day, actor=who)
    if as_json:
        emit_json({"batches": batches})
        return
    if not batches:
        typer.echo("nothing to propose")
    for batch in batches:
        typer.echo(
            f"{batch['batch_id']}: {batch['series']}, {len(batch['records'])} record(s)"
            + ("" if batch["confirmed"] else " (series NOT confirmed: approval will be refused until it is)")
            + (f"; application data {batch['application_pdf']}" if batch.get("application_pdf") else "")
        )


@app.command("list")
def list_(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Disposal batches and their state."""
    from records.storage import disposal

    installation = open_installation(home)
    with installation.catalog.reading() as session:
        rows = disposal.list_batches(session)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no disposal batches")
        return
    table = Table("batch", "series", "status", "records", "proposed by", "approved by", "authorization")
    for row in rows:
        table.add_row(row["batch_id"], row["series"], row["status"], str(row["records"]), row["proposed_by"], row["approved_by"] or "-", row["authorization"] or "-")
    Console().print(table)


@app.command("approve")
def approve(
    batch_id: BatchArgument,
    authorization: Annotated[str | None, typer.Option("--authorization", help="The Supervisor of Records' approval reference (RMU-2).")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Approve a proposed batch (another officer than the proposer)."""
    from records.storage import disposal

    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "dispose.approve")
        disposal.approve(session, batch_id, actor=who, authorization=authorization)
    typer.echo(f"{batch_id}: approved by {who}")


@app.command("reject")
def reject(
    batch_id: BatchArgument,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the batch is rejected.")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Reject a batch: its records return to the pool, the batch stays on record."""
    from records.storage import disposal

    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "dispose.reject")
        disposal.reject(session, batch_id, actor=who, reason=reason or "")
    typer.echo(f"{batch_id}: rejected")


@app.command("execute")
def execute(batch_id: BatchArgument, actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Destroy an approved batch; safe to rerun; ends with the certificate of destruction."""
    from records.flows.disposal import execute_batch

    installation = open_installation(home)
    with installation.catalog.reading() as session:
        who = authorize(session, actor, "dispose.execute")
    result = execute_batch(installation, batch_id, actor=who)
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{batch_id}: {len(result['destroyed'])} destroyed, {len(result['skipped'])} skipped; certificate {result['certificate']}")
    for item in result["skipped"]:
        note(f"{item['id']}: not destroyed: {item['reason']}")
