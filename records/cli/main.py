"""The ``records`` command: one entry point, sub-commands grouped as in cli.md.

Commands of cli.md that are not built yet are absent, never stubs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from records.cli import audit, classify_cmd, directory, dispose, holds, intake, maintenance, records_cmd, schedule, users
from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, open_installation

app = new_app(
    "Records retention engine for public school districts: keep every record as long as "
    "the law says, destroy it when the law says, and prove each step."
)
app.add_typer(users.app, name="user")
app.add_typer(directory.roster_app, name="roster")
app.add_typer(directory.staff_app, name="staff")
app.add_typer(schedule.app, name="schedule")
app.add_typer(audit.app, name="audit")
app.command("ingest")(records_cmd.ingest)
app.command("list")(records_cmd.list_)
app.command("show")(records_cmd.show)
app.command("text")(records_cmd.text)
app.add_typer(records_cmd.quarantine_app, name="quarantine")
app.command("review")(classify_cmd.review)
app.command("classify")(classify_cmd.classify)
app.add_typer(classify_cmd.student_app, name="student")
app.add_typer(classify_cmd.nonrecord_app, name="nonrecord")
app.add_typer(holds.app, name="hold")
app.add_typer(dispose.app, name="dispose")
app.add_typer(maintenance.backup_app, name="backup")
app.command("sweep")(maintenance.sweep)
app.add_typer(intake.app, name="intake")


@app.command("nightly")
def nightly(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day to run for (default today); proposals never go past today.")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The nightly flow once (for cron or a systemd timer): it proposes, it never approves."""
    from records.cli.common import parse_date
    from records.flows.nightly import run_nightly

    installation = open_installation(home)
    report = run_nightly(str(installation.paths.home), parse_date(as_of, "--as-of"))
    if as_json:
        emit_json(report)
        return
    typer.echo(
        f"nightly as of {report['as_of']}: {report['recomputed']} record(s) recomputed, {len(report['batches'])} batch(es) proposed, "
        f"{report['due_soon']} due soon, {report['overdue']} overdue, {len(report['notices'])} exit notice(s)"
    )


@app.command("init")
def init(actor: ActorOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Create or upgrade the catalog, key store and store; load the default schedule."""
    from records.storage.installation import initialize
    from records.storage.users import system_actor

    report = initialize(home, actor=actor or system_actor())
    if as_json:
        emit_json(report.to_json())
        return
    typer.echo(f"records home: {report.home}")
    typer.echo(f"catalog: {report.database} at migration {report.revision_after}"
               + (f" (upgraded from {report.revision_before})" if report.revision_before and report.revision_before != report.revision_after else "")
               + (" (created)" if report.revision_before is None else ""))
    typer.echo(f"key store: {report.keystore}" + (" (created)" if report.keystore_created else ""))
    typer.echo(f"schedule: version {report.schedule_version}" + (" (default schedule loaded)" if report.schedule_loaded else ""))
    if report.settings_written:
        typer.echo(f"settings: wrote {report.home / 'records.toml'}; edit the district's name, address and signatory there")


@app.command("doctor")
def doctor(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Check catalog, schedule, audit chain, store, key store, libmagic and Tesseract."""
    from records.doctor import diagnose

    health = diagnose(home)
    if as_json:
        emit_json(health.to_json())
    else:
        marks = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}
        for check in health.checks:
            typer.echo(f"{marks[check.status]} {check.name}: {check.detail}")
    if not health.ok:
        raise typer.Exit(1)


@app.command("demo")
def demo(home: HomeOption = None) -> None:
    """Run the main job end to end on a generated fictional district."""
    from records.demo import run_demo

    if not run_demo(home):
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="The address to listen on (keep 127.0.0.1 behind a TLS proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 8000,
    home: HomeOption = None,
) -> None:
    """Start the web app (sign in at /login with the users of `records user add`)."""
    import uvicorn

    from records.web import create_app

    web = create_app(home)
    typer.echo(f"records web app on http://{host}:{port}/login (Ctrl-C to stop)", err=True)
    uvicorn.run(web, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1", log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
