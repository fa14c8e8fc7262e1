"""Many rows of one table inserted with one statement, without the ORM's work per row.

An mbox's ingest inserts a record row, a record-source row and an audit event per
message: tens of thousands of rows of 27, 2 and 9 columns. Handed to
``session.execute(insert(table), rows)``, SQLAlchemy rebuilt every row's parameters
through its general machinery (each value looked up by name, each passed through its
type's converter in a loop made for every statement there is), and that took more time
than SQLite took to store the rows. Here the statement is compiled once per table,
columns and database, each column's converter is looked up once, and the rows go to the
driver's ``executemany`` as the statement's parameters: the same SQL, the same converted
values (the types' own ``bind_processor``s: JSON text, naive UTC datetimes), on SQLite
and PostgreSQL alike, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class _Statement:
    """An INSERT compiled for one dialect and one set of columns."""

    sql: str
    names: tuple[str, ...]  # the row keys, in the statement's parameter order
    converters: tuple[Callable[[Any], Any] | None, ...]
    positional: bool  # parameters as tuples (``?``, ``%s``) or as mappings (``%(name)s``)
    constants: Mapping[str, Any]  # the constant defaults of the columns the rows leave out


_compiled: dict[tuple[str, str, tuple[str, ...]], _Statement | None] = {}


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each a mapping of column key to value) into ``table``.

    Rows must all name the same columns (SQLAlchemy refuses others, and so does this). A
    row set this path cannot take exactly as SQLAlchemy would (a column left out that has
    a Python-side default, keys that are not plain columns, rows of different columns)
    goes through ``session.execute`` instead: the same result or error, slower.
    """
    if not rows:
        return
    connection = session.connection()
    keys = tuple(rows[0])
    same = set(keys)
    statement = _statement(connection.dialect, table, keys)
    if statement is None or any(row.keys() != same for row in rows):
        session.execute(insert(table), list(rows))
        return
    names, converters = statement.names, statement.converters
    if statement.constants:
        rows = [{**statement.constants, **row} for row in rows]
    params: list[Any]
    if statement.positional:
        params = [tuple(_converted(row[name], convert) for name, convert in zip(names, converters, strict=True)) for row in rows]
    else:
        params = [{name: _converted(row[name], convert) for name, convert in zip(names, converters, strict=True)} for row in rows]
    connection.exec_driver_sql(statement.sql, params)


def _converted(value: Any, convert: Callable[[Any], Any] | None) -> Any:
    # Called for None too, as SQLAlchemy does: a JSON column stores None as JSON null.
    return value if convert is None else convert(value)


def _statement(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Statement | None:
    cache_key = (dialect.name, table.name, keys)
    if cache_key not in _compiled:
        _compiled[cache_key] = _compile(dialect, table, keys)
    return _compiled[cache_key]


def _compile(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Statement | None:
    columns = table.c
    if any(key not in columns for key in keys):
        return None
    left_out = [column for column in columns if column.key not in keys]
    if any(column.onupdate is not None or (column.default is not None and not column.default.is_scalar) for column in left_out):
        return None  # SQLAlchemy would call Python to fill that column in
    # A left-out column with a constant default gets it, as SQLAlchemy's INSERT gives it.
    constants = {column.key: column.default.arg for column in left_out if column.default is not None}
    compiled = insert(table).compile(dialect=dialect, column_keys=[*keys, *constants])
    if compiled.positional:
        names = tuple(compiled.positiontup or ())
    else:
        names = tuple(compiled.binds)
    if sorted(names) != sorted([*keys, *constants]):
        return None  # a statement whose parameters are not exactly the row's columns
    converters = tuple(columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    return _Statement(str(compiled), names, converters, bool(compiled.positional), constants)


__all__ = ["insert_rows"]
