"""Running the ``records`` command inside the test process, as a user would type it."""

from __future__ import annotations

import json
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from records.cli.main import app


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(*args: str, input: str | None = None) -> Outcome:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def setup_users(*extra: tuple[str, str]) -> None:
    """An initialised installation with an admin and one user of each other role."""
    assert run("init").exit_code == 0
    assert run("user", "add", "admin", "--role", "admin").exit_code == 0
    for name, role in (("casey", "clerk"), ("olivia", "officer"), ("omar", "officer"), ("avery", "auditor"), *extra):
        outcome = run("user", "add", name, "--role", role, "--actor", "admin")
        assert outcome.exit_code == 0, outcome.stderr


def import_directories(folder: Path, roster: str, staff: str) -> None:
    """Write a roster and a staff directory into ``folder`` and import both with the CLI."""
    (folder / "roster.csv").write_text(roster, encoding="utf-8")
    (folder / "staff.csv").write_text(staff, encoding="utf-8")
    assert run("roster", "import", str(folder / "roster.csv")).exit_code == 0
    assert run("staff", "import", str(folder / "staff.csv")).exit_code == 0
