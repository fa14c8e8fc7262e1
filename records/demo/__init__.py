"""``records demo``: the main job end to end on a generated fictional district.

Each capability joins the demo as it lands. Running it twice is safe: what exists is
kept, and the second run shows re-imports as unchanged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console

from records.demo.district import write_district
from records.doctor import diagnose
from records.intake import directory_csv
from records.storage import audit, directory, users
from records.storage.checkpoint import write_checkpoint
from records.storage.installation import initialize, open_installation

DEMO_USERS = [
    ("admin", "admin"),
    ("casey.clerk", "clerk"),
    ("olivia.officer", "officer"),
    ("omar.officer", "officer"),
    ("avery.auditor", "auditor"),
]


def _ingest_week(installation, console: Console) -> None:  # type: ignore[no-untyped-def]
    """Ingest the week's printouts and exports through the ingest flow (Prefect)."""
    import os

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from records.demo.samples import write_samples
    from records.flows.ingest import ingest_flow
    from records.storage import record_views

    console.print("4. ingest: printouts and exports of the week (the first flow run starts Prefect, ~20 s) ...")
    samples = write_samples(installation.paths.home / "demo" / "week")
    counts: dict[str, int] = {}
    for owner, files in samples.items():
        result = ingest_flow([str(f) for f in files], home=str(installation.paths.home), actor="casey.clerk",
                             owner_staff_id=None if owner == "clerk" else owner)
        for status, n in result["counts"].items():
            counts[status] = counts.get(status, 0) + n
        for source in result["sources"]:
            if source["status"] == "quarantined":
                console.print(f"   quarantined {Path(source['path']).name}: {source['reason']}")
    with installation.catalog.reading() as session:
        records = record_views.list_records(session, record_views.RecordFilter())
    formats: dict[str, int] = {}
    series: dict[str, int] = {}
    for record in records:
        formats[record["format"]] = formats.get(record["format"], 0) + 1
        series[record["series"]["code"]] = series.get(record["series"]["code"], 0) + 1
    console.print(f"   sources: {counts}; records by format: {formats}")
    linked = sum(1 for record in records if record["students"])
    in_review = sum(1 for record in records if record["status"] == "in_review")
    console.print(f"   classified: {linked} linked to students; by series: {series}; {in_review} in review (records review)")


def run_demo(home: Path | str | None = None, console: Console | None = None) -> bool:
    """Run the demo; return whether the installation ended healthy."""
    console = console or Console()
    console.rule("[bold]records demo: a fictional district, end to end")

    report = initialize(home, actor="system:demo")
    console.print(f"1. catalog ready at [cyan]{report.database}[/], schedule version {report.schedule_version}")
    installation = open_installation(home)

    with installation.catalog.writing() as session:
        existing = {u.name for u in users.list_users(session)}
        for name, role in DEMO_USERS:
            if name not in existing:
                users.add_user(session, name, role, None, None if not existing and name == "admin" else "admin")
                existing.add(name)
    console.print(f"2. users: {', '.join(f'{n} ({r})' for n, r in DEMO_USERS)}")

    files = write_district(installation.paths.home / "demo")
    for kind, path in (("roster", files.roster), ("staff", files.staff)):
        parsed = directory_csv.parse_roster(path) if kind == "roster" else directory_csv.parse_staff(path)
        load = directory.import_students if kind == "roster" else directory.import_staff
        with installation.catalog.writing() as session:
            result = load(session, parsed, actor="casey.clerk", partial=False, source_name=path.name)
        console.print(
            f"3. {kind} import of {path.name}: {result.added} added, {result.updated} updated, "
            f"{result.unchanged} unchanged" + (f", newly exited {len(result.exited)}" if result.exited else "")
        )
        for problem in result.errors:
            console.print(f"   [red]{path.name} line {problem.line}: {problem.reason}[/]")
        if result.errors:
            return False

    _ingest_week(installation, console)

    from records.flows.nightly import run_nightly

    nightly = run_nightly(str(installation.paths.home))
    console.print(
        f"   nightly: {nightly['recomputed']} retention date(s) computed, {len(nightly['batches'])} disposal batch(es) proposed "
        f"(an officer approves them: records dispose list), {len(nightly['notices'])} exit notice(s) in {installation.paths.reports / 'notices'}"
    )

    with installation.catalog.reading() as session:
        verification = audit.verify(session)
    checkpoint_file = installation.paths.reports / f"checkpoint-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    with installation.catalog.writing() as session:
        signed = write_checkpoint(session, installation.paths.keystore, checkpoint_file, "avery.auditor")
    console.print(
        f"5. audit chain: {verification.events} events verified ({'ok' if verification.ok else 'BROKEN'}); "
        f"signed checkpoint of event {signed['seq']} in {checkpoint_file}"
    )

    health = diagnose(home)
    console.print("6. doctor:")
    for check in health.checks:
        colour = {"ok": "green", "warning": "yellow", "error": "red"}[check.status]
        console.print(f"   [{colour}]{check.status:<7}[/] {check.name}: {check.detail}")

    console.rule()
    console.print(
        "Next: [bold]records list[/], [bold]records show ID[/], [bold]records review[/], [bold]records nonrecord list[/], [bold]records dispose plan[/], [bold]records hold list[/], [bold]records quarantine list[/], [bold]records schedule show[/], "
        f"[bold]records audit log --as avery.auditor[/], [bold]records audit verify --checkpoint {checkpoint_file}[/]"
        f"  (with --home {installation.paths.home} or RECORDS_HOME set)"
    )
    console.print(
        "Web: give a user a password ([bold]records user add NAME --role clerk --password-stdin --actor admin[/]), "
        "start [bold]records serve[/] and open [bold]http://127.0.0.1:8000/login[/]"
    )
    return health.ok and verification.ok
