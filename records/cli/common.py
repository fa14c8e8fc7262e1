"""What every command shares: options, JSON output, errors without stack traces.

cli.md is the contract: ``--json`` prints one JSON document and nothing else on stdout;
errors are one readable line on stderr; exit 1 when the command could not do its job,
2 for usage errors.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from records.errors import RecordsError, UsageError

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="The installation's data folder (default: $RECORDS_HOME or ./records-data).", show_default=False),
]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", envvar="RECORDS_ACTOR", help="The user who acts (or $RECORDS_ACTOR).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]


class RecordsGroup(TyperGroup):
    """Turns every ``RecordsError`` into one line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RecordsError as exc:
            error(str(exc), exc.exit_code)
        except (Exit, Abort, TyperException, SystemExit):
            raise
        except KeyboardInterrupt:
            error("interrupted", 130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against stack traces
            if os.environ.get("RECORDS_DEBUG"):
                raise
            if catalog_full(exc):
                error(
                    "the catalog database's volume is full (no space left on device): this command's transaction was "
                    "rolled back and nothing stored before was changed; free space there and run the same command again",
                    1,
                )
            error(
                f"unexpected error ({type(exc).__name__}: {exc}). This is a bug in the records engine; "
                "rerun with RECORDS_DEBUG=1 to see the details and report them.",
                1,
            )


def catalog_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full", PostgreSQL's disk_full (SQLSTATE 53100)."""
    original = getattr(exc, "orig", None)
    return "database or disk is full" in str(exc) or getattr(original, "sqlstate", None) == "53100"


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=RecordsGroup,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )


def error(message: str, code: int = 1) -> NoReturn:
    """One readable line on stderr (a driver's multi-line message is folded), then exit."""
    one_line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.echo(f"error: {one_line}", err=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """Human progress and remarks go to stderr so stdout stays clean for pipes."""
    typer.echo(message, err=True)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


def open_installation(home: Path | None):  # type: ignore[no-untyped-def]
    from records.storage.installation import open_installation as _open

    return _open(home)
