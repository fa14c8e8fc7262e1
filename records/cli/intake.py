"""``records intake jobs`` and ``records intake retry``: the intake queue, for IT.

Workers of a pool (README, "Scaling out") and the inbox take files from the intake
queue; a file that stopped three workers is given up rather than retried forever. These
commands show the queue and hand given-up files back once the cause is dealt with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.records_cmd import _quiet_prefect
from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation
from records.errors import UsageError
from records.storage import intake_queue

app = new_app("The intake queue that the inbox and the workers of a pool take files from: see it, retry what was given up.")
STATES = ("waiting", "claimed", "done", "failed")


@app.command("jobs")
def jobs(
    state: Annotated[str | None, typer.Option("--state", help="waiting, claimed, done or failed (default: all).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 200,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The queue's jobs, newest first, with why a failed one was given up."""
    if state is not None and state not in STATES:
        raise UsageError(f"--state {state!r}: use one of {', '.join(STATES)}")
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        rows = intake_queue.list_jobs(session, (state,) if state else None, limit=limit)
        counts = intake_queue.counts(session)
    if as_json:
        emit_json(rows)
        return
    typer.echo("intake queue: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if not rows:
        return
    table = Table()
    for column in ("job", "state", "submitted", "file"):
        table.add_column(column, no_wrap=True)  # ids and names are copied into the next command
    table.add_column("attempts", justify="right")
    table.add_column("outcome")
    for row in rows:
        outcome = row["error"] if row["state"] == "failed" else (row["status"] or row["worker"] or "")
        table.add_row(row["id"], row["state"], row["submitted_at"], Path(row["path"]).name, str(row["attempts"]), outcome or "")
    Console().print(table)


@app.command("retry")
def retry(
    job_ids: Annotated[list[str] | None, typer.Argument(help="The failed jobs to hand back (see `records intake jobs --state failed`).", show_default=False)] = None,
    all_failed: Annotated[bool, typer.Option("--failed", help="Every failed job.")] = False,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hand given-up jobs back to the queue and ingest them now."""
    if bool(job_ids) == all_failed:
        raise UsageError("name the failed jobs to retry, or give --failed for all of them (not both)")
    installation = open_installation(home)
    _quiet_prefect()
    from records.flows.intake_jobs import retry_failed

    result = retry_failed(installation, None if all_failed else list(job_ids or []), actor=actor)
    if as_json:
        emit_json(result)
        return
    if not result["requeued"]:
        note("no failed job to retry" + (f" among {', '.join(job_ids or [])}" if job_ids else ""))
        return
    counts = result["counts"]
    typer.echo(f"retried {len(result['requeued'])} job(s): " + ", ".join(f"{n} {name}" for name, n in counts.items() if n))
