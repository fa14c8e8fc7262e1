"""Engines and transactions for SQLite (embedded) and PostgreSQL (production).

Two kinds of unit of work exist: ``reading`` (a plain transaction) and ``writing``. On
SQLite a writing transaction starts with ``BEGIN IMMEDIATE`` so that two processes never
both read the audit chain's head and then race to append; on PostgreSQL the audit chain
takes its own advisory lock (see ``audit.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from records.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 60_000
# Pages SQLite keeps in memory per connection, at most (its default is 2 MB). A large ingest
# inserts into indexes keyed by message id, all over the B-tree: with 2 MB each chunk read
# those pages back from the OS again, and a 256 MB mbox stored about 5% slower. The pages
# are taken only as they are touched: a short command stays small.
SQLITE_CACHE_KIB = 64 * 1024
# Pages the write-ahead log gathers before SQLite copies them into the database file
# (its default is 1,000, about 4 MB). Each copy writes the pages at their places all over
# the file and syncs it; a large ingest's index pages (message ids and origin keys, all
# random) were copied again at nearly every commit. With 10,000 a page
# changed by several commits is copied once: storing a 256 MB mbox spent a third less
# time in the kernel. The log grows to about 40 MB between copies.
SQLITE_WAL_CHECKPOINT_PAGES = 10_000


def _prepare_sqlite(engine: Engine) -> None:
    """Own SQLite's transactions: WAL, foreign keys, and IMMEDIATE for writers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        mode = "IMMEDIATE" if connection.get_execution_options().get("records_write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """One engine per catalog URL per process."""
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"RECORDS_DATABASE_URL is not a database URL: {url!r}") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _prepare_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigurationError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql+psycopg://") from exc
    _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that fork, call this)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


class Catalog:
    """A handle on one catalog database: hands out reading and writing sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = get_engine(url)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(records_write=True), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: everything inside commits together or not at all."""
        with self._writer() as session, session.begin():
            yield session
