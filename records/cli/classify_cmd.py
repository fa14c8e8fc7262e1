"""``records review``, ``classify``, ``student identify`` and ``nonrecord``: the clerk's judgement.

The engine asks when unsure; these commands answer. Every answer names who decided and
why, and the engine never overwrites it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation
from records.storage import classification
from records.storage.users import authorize

student_app = new_app("Teach the engine who a student is (an X id, a phone, a display name).")
nonrecord_app = new_app("Personal content the engine found in staff exports: list it, confirm its purge.")


def _evidence_line(evidence: list[dict[str, object]]) -> str:
    return "; ".join(f"{e.get('kind')}: {e.get('detail')}" for e in evidence)


def review(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The questions the engine left to a person, with each candidate's evidence."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        items = classification.review_queue(session)
    if as_json:
        emit_json(items)
        return
    if not items:
        typer.echo("nothing to review")
        return
    console = Console()
    for item in items:
        table = Table("candidate", "confidence", "evidence", title=f"record {item['record_id']}: which {item['question']}?", title_justify="left")
        for candidate in item["candidates"]:
            table.add_row(str(candidate.get("value")), f"{float(candidate.get('confidence') or 0):.2f}", _evidence_line(candidate.get("evidence") or []))
        if not item["candidates"]:
            table.add_row("(none found)", "", "nothing in the record names the student: name them with --student ID, or --no-student")
        console.print(table)
    typer.echo(f"{len(items)} question(s). Answer with: records classify RECORD_ID --student ID | --no-student | --series CODE --actor YOU --reason WHY")


def classify(
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    student: Annotated[list[str] | None, typer.Option("--student", help="A student the record is about (repeat for several).")] = None,
    no_student: Annotated[bool, typer.Option("--no-student", help="The record is about no student.")] = False,
    series: Annotated[str | None, typer.Option("--series", help="The record's series code (see `records schedule show`).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit log).")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a person's decision on a record's students and/or series."""
    from records.flows.classify import decide_by_person

    installation = open_installation(home)
    result = decide_by_person(installation, record_id, students=student, no_student=no_student, series=series, reason=reason or "", actor=actor)
    learned = result.get("learned_identifiers") or []
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{record_id}: {result['status']}" + (f"; students {', '.join(result['students']) or 'none'}" if "students" in result else "") + (f"; series {result['series']}" if "series" in result else ""))
    for ident in learned:
        note(f"learned: this record's counterpart ({ident['kind']}) now points to {ident['student_id']} in other records")


@student_app.command("identify")
def identify(
    student_id: Annotated[str, typer.Argument(help="The student's id on the roster.")],
    identifier: Annotated[str, typer.Option("--identifier", help="KIND:VALUE, KIND one of email, phone, handle, x, name.")],
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Tie an identifier to a student; records where it appears are re-evaluated."""
    from records.flows.classify import identify as identify_flow

    result = identify_flow(open_installation(home), student_id, identifier, actor=actor)
    if as_json:
        emit_json(result)
        return
    typer.echo(
        f"{student_id}: {result['kind']} identifier {'added' if result['added'] else 'already known'}; "
        f"{result['reevaluated']} record(s) re-evaluated, {result['changed']} changed"
    )


@nonrecord_app.command("list")
def nonrecord_list(
    source: Annotated[str | None, typer.Option("--source", help="Only records cut from this source (an export).")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The engine's NON-RECORD decisions, waiting for a person to confirm the purge."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        authorize(session, None, "nonrecord.list", required=False)
        rows = classification.nonrecords(session, source)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no NON-RECORD decisions waiting")
        return
    table = Table("record", "source", "format", "confidence", "evidence")
    for row in rows:
        table.add_row(row["record_id"], row["source_id"], row["format"], f"{row['confidence']:.2f}", _evidence_line(row["evidence"]))
    Console().print(table)


@nonrecord_app.command("confirm")
def nonrecord_confirm(
    record_ids: Annotated[list[str] | None, typer.Argument(help="The records to purge.", show_default=False)] = None,
    source: Annotated[str | None, typer.Option("--source", help="Every NON-RECORD decision of this export.")] = None,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Confirm NON-RECORD decisions: the content is purged, a tombstone and the audit remain."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "nonrecord.confirm")
        result = classification.confirm_nonrecords(session, installation.content, record_ids=record_ids or [], source_id=source, actor=who)
    if as_json:
        emit_json(result)
        return
    typer.echo(f"purged {len(result['purged'])} record(s)" + (f"; container key destroyed for {', '.join(result['containers_released'])}" if result["containers_released"] else ""))
    for refusal in result["refused"]:
        note(f"{refusal['id']}: not purged: {refusal['reason']}")
