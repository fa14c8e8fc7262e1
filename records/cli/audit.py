"""``records audit``: verify, read, checkpoint and export the audit chain."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, error, new_app, open_installation, parse_date
from records.errors import UsageError
from records.storage import audit
from records.storage.users import authorize

app = new_app("The tamper-evident audit chain: verify it, read it, sign its head, export it.")


@app.command("verify")
def verify(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="A signed checkpoint: also catch events cut off the end.")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute every hash and link; name the first altered, removed or inserted event."""
    from records.storage.checkpoint import read_checkpoint

    installation = open_installation(home)
    expect = read_checkpoint(checkpoint, installation.paths.keystore) if checkpoint else None
    with installation.catalog.reading() as session:
        authorize(session, actor, "audit.verify", required=False)
        result = audit.verify(session, expect_head=expect)
    if as_json:
        emit_json(result)
    elif result.ok:
        covered = f"; matches the checkpoint at event {expect[0]}" if expect else ""
        typer.echo(f"ok: {result.events} events, head {result.head}{covered}")
    else:
        typer.echo(f"BROKEN at event {result.first_bad_seq}: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("log")
def log(
    record: Annotated[str | None, typer.Option("--record", help="Events about this record.")] = None,
    student: Annotated[str | None, typer.Option("--student", help="Events about or referring to this student id.")] = None,
    by: Annotated[str | None, typer.Option("--actor", help="Events by this actor (user or system:...).")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Events of this action, e.g. record.viewed.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to and including this date (YYYY-MM-DD, UTC).")] = None,
    as_user: Annotated[str | None, typer.Option("--as", envvar="RECORDS_ACTOR", help="The auditor reading the log (or $RECORDS_ACTOR).")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write CSV on stdout.")] = False,
) -> None:
    """Read the audit log, filtered; as a table, JSON or CSV."""
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    where = audit.LogFilter(
        record_id=record,
        student_id=student,
        actor=by,
        action=action,
        since=parse_date(since, "--since"),
        until=parse_date(until, "--until"),
    )
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        authorize(session, as_user, "audit.log", required=False)
        events = audit.iter_events(session, where)
        if as_json:
            # Streamed as one JSON array so a long chain never sits in memory.
            out = sys.stdout
            out.write("[")
            for i, event in enumerate(events):
                out.write(("," if i else "") + "\n  " + json.dumps(event.to_json(), ensure_ascii=False))
            out.write("\n]\n")
        elif as_csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(["seq", "at", "actor", "action", "subject_type", "subject_id", "payload", "prev_hash", "hash"])
            for event in events:
                writer.writerow(
                    [event.seq, event.at, event.actor, event.action, event.subject_type, event.subject_id,
                     json.dumps(event.payload, ensure_ascii=False, sort_keys=True), event.prev_hash, event.hash]
                )
        else:
            for event in events:
                typer.echo(f"{event.seq:>7}  {event.at[:19]}Z  {event.actor:<20} {event.action:<22} {event.subject_type}:{event.subject_id}")


@app.command("checkpoint")
def checkpoint(
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed checkpoint (JSON).")],
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign the chain's head (Ed25519) so that later verification also catches a cut tail."""
    from records.storage.checkpoint import write_checkpoint

    installation = open_installation(home)
    with installation.catalog.writing() as session:
        recorded_actor = authorize(session, actor, "audit.checkpoint", required=False)
        document = write_checkpoint(session, installation.paths.keystore, out, recorded_actor)
    if as_json:
        emit_json(document)
    else:
        typer.echo(f"checkpoint of event {document['seq']} ({document['hash']}) written to {out}")


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="A folder for events.jsonl and the standalone verifier.")],
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the chain as JSON Lines with a verifier that needs only Python's standard library."""
    from records.storage.audit_export import export_chain

    installation = open_installation(home)
    if out.exists() and any(out.iterdir()) if out.is_dir() else out.exists():
        error(f"{out} exists and is not an empty folder: choose a new folder so no earlier export is overwritten")
    with installation.catalog.reading() as session:
        recorded_actor = authorize(session, actor, "audit.export", required=False)
        summary = export_chain(session, out, installation.paths.keystore)
    with installation.catalog.writing() as session:
        audit.append(session, recorded_actor, "audit.exported", "audit", "chain", {"events": summary["events"], "head": summary["head"]})
    if as_json:
        emit_json(summary)
    else:
        typer.echo(f"exported {summary['events']} events to {out}; check them with: python3 {out / 'verify_chain.py'} {out / 'events.jsonl'}")
