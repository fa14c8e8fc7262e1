"""Create or upgrade the catalog with Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from records.errors import ConfigurationError
from records.storage.db import Catalog

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def current_revision(catalog: Catalog) -> str | None:
    try:
        with catalog.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise ConfigurationError(f"cannot open the catalog at {safe_url(catalog.url)}: {exc.orig}") from exc


def upgrade(catalog: Catalog) -> tuple[str | None, str]:
    """Bring the catalog to the newest migration; return (before, after) revisions."""
    before = current_revision(catalog)
    config = alembic_config(catalog.url)
    try:
        with catalog.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"could not migrate the catalog at {safe_url(catalog.url)}: {exc}") from exc
    return before, head_revision()


def require_current(catalog: Catalog) -> None:
    """Refuse to work on a catalog that is missing or older than this code."""
    current = current_revision(catalog)
    if current is None:
        raise ConfigurationError("no catalog here yet: run `records init` first")
    if current != head_revision():
        raise ConfigurationError(
            f"the catalog is at migration {current}, this version needs {head_revision()}: run `records init` to upgrade it"
        )


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
