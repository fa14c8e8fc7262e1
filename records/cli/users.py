"""``records user``: the people who may act, and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from records.cli.common import ActorOption, HomeOption, JsonOption, emit_json, new_app, note, open_installation
from records.errors import UsageError
from records.storage import users

app = new_app("Add, list, disable and unlock users (roles: clerk, officer, auditor, admin).")


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin was given but standard input held no password")
        return password
    if sys.stdin.isatty():
        first = typer.prompt("Password for the web sign-in (empty for none)", hide_input=True, default="", show_default=False)
        if not first:
            return None
        if typer.prompt("Repeat the password", hide_input=True) != first:
            raise UsageError("the two passwords differ; nothing was changed")
        return first
    return None


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name (lower-case letters, digits, . _ -).")],
    role: Annotated[str, typer.Option("--role", help="clerk, officer, auditor or admin.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the web password from standard input.")] = False,
    actor: ActorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user. The first user of a new catalog must be an admin and needs no --actor."""
    password = _read_password(password_stdin)
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        view = users.add_user(session, name, role, password, actor)
    if as_json:
        emit_json(view)
        return
    typer.echo(f"added {view.name} ({view.role})")
    if not view.has_password:
        note("no password set: this user can act from the command line but cannot sign in to the web")


@app.command("list")
def list_(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List users with their roles and whether they are active."""
    installation = open_installation(home)
    with installation.catalog.reading() as session:
        views = users.list_users(session)
    if as_json:
        emit_json(views)
        return
    table = Table("name", "role", "active", "password", "added", "by")
    for v in views:
        table.add_row(v.name, v.role, "yes" if v.active else "disabled", "set" if v.has_password else "none", v.created_at, v.created_by)
    Console().print(table)


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Disable a user: they keep their history but may no longer act."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        view = users.disable_user(session, name, actor)
    typer.echo(f"disabled {view.name}")


@app.command("unlock")
def unlock(
    name: Annotated[str, typer.Argument(help="The user locked out of the web sign-in.")],
    actor: ActorOption = None,
    home: HomeOption = None,
) -> None:
    """Lift a web sign-in lock-out (after repeated wrong passwords)."""
    installation = open_installation(home)
    with installation.catalog.writing() as session:
        view = users.unlock_user(session, name, actor)
    typer.echo(f"unlocked {view.name}")
