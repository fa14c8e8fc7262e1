"""``records schedule``: the retention schedule in force."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from records.cli.common import HomeOption, JsonOption, emit_json, new_app, open_installation
from records.storage import schedules

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
