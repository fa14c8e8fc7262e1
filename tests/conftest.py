"""Shared fixtures: every catalog test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL tests need ``RECORDS_TEST_POSTGRES_URL`` (``.ci/run`` sets it). When it is set
and the server cannot be reached the whole run stops with an error instead of skipping,
so CI can never pass without having exercised PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from records.config import Paths, resolve_paths
from records.storage import catalog as catalog_migrations
from records.storage.db import Catalog, dispose_engines

POSTGRES_URL = os.environ.get("RECORDS_TEST_POSTGRES_URL")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
PG_SKIP_REASON = "PostgreSQL tests skipped: RECORDS_TEST_POSTGRES_URL is not set (.ci/run sets it)"

# Property tests (hypothesis): few examples in CI, many with RECORDS_HYPOTHESIS_PROFILE=long.
# No deadline: a reader's time depends on the machine's load, and hangs have their own guard.
settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
settings.register_profile("long", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("RECORDS_HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if not POSTGRES_URL:
        return
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect ends the run
        pytest.exit(f"RECORDS_TEST_POSTGRES_URL is set but PostgreSQL cannot be reached: {exc}", returncode=3)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"PostgreSQL: {'on, ' + make_url(POSTGRES_URL).render_as_string(hide_password=True) if POSTGRES_URL else PG_SKIP_REASON}"]
    lines.append(f"corpus: {CORPUS if CORPUS.exists() else 'absent (corpus tests will skip)'}")
    return lines


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    dispose_engines()


def _postgres_database() -> Iterator[str]:
    assert POSTGRES_URL
    name = f"records_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    url = make_url(POSTGRES_URL).set(database=name)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty catalog database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(PG_SKIP_REASON)
    yield from _postgres_database()


@pytest.fixture
def paths(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """An installation's paths under a temporary RECORDS_HOME, catalog on either backend."""
    home = tmp_path / "home"
    monkeypatch.setenv("RECORDS_HOME", str(home))
    monkeypatch.setenv("RECORDS_DATABASE_URL", database_url)
    monkeypatch.delenv("RECORDS_KEYSTORE", raising=False)
    monkeypatch.delenv("RECORDS_STORE_URL", raising=False)
    monkeypatch.delenv("RECORDS_ACTOR", raising=False)
    return resolve_paths()


@pytest.fixture
def catalog(paths: Paths) -> Catalog:
    """A catalog migrated to the newest revision (no schedule, no users)."""
    catalog = Catalog(paths.database_url)
    catalog_migrations.upgrade(catalog)
    return catalog


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server per test process (about 20 s to start; prefect-notes.md)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def installation(paths: Paths):  # type: ignore[no-untyped-def]
    """An initialised installation (catalog, key store, store, default schedule)."""
    from records.storage.installation import initialize, open_installation

    initialize(paths.home, actor="system:test")
    return open_installation(paths.home)
