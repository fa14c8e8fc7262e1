"""The command line as a product surface: help everywhere, no stack traces, JSON only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.main import get_command

from records.cli.main import app
from tests.cli_helpers import run, setup_users


def _walk(command, path=()):  # type: ignore[no-untyped-def]
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def test_every_command_and_option_has_help_text():
    missing = []
    for path, command in _walk(get_command(app)):
        if not (command.help or "").strip():
            missing.append(" ".join(path) or "records")
        for param in command.params:
            if param.param_type_name == "option" and not (getattr(param, "help", None) or "").strip() and param.name != "help":
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def test_every_command_takes_home(paths):
    for path, command in _walk(get_command(app)):
        if getattr(command, "commands", None):
            continue
        assert any("--home" in p.opts for p in command.params), " ".join(path)


def test_no_stack_trace_reaches_the_user(tmp_path: Path):
    """A real process: an unreachable catalog is one readable line on stderr, exit 1."""
    env = {**os.environ, "RECORDS_HOME": str(tmp_path / "h"), "RECORDS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = subprocess.run([sys.executable, "-m", "records.cli.main", "schedule", "show", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(paths):
    setup_users()
    outcome = run("audit", "log", "--since", "last tuesday")
    assert outcome.exit_code == 2 and "YYYY-MM-DD" in outcome.stderr
    assert run("user", "add").exit_code == 2


def test_json_output_is_one_document(paths):
    setup_users()
    for args in (("schedule", "show", "--json"), ("user", "list", "--json"), ("audit", "verify", "--json"), ("doctor", "--json")):
        outcome = run(*args)
        outcome.json()  # raises if stdout holds anything but one JSON document
