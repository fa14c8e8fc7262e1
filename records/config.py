"""Where an installation keeps its data, and the district's own settings.

Paths come from the environment (``RECORDS_HOME``, ``RECORDS_DATABASE_URL``,
``RECORDS_KEYSTORE``, ``RECORDS_STORE_URL``) or ``--home``; the district's settings come
from ``RECORDS_HOME/records.toml``, which ``records init`` writes with comments so that
a records officer can edit it without a manual.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from records.errors import ConfigurationError

DEFAULT_HOME = Path("records-data")


@dataclass(frozen=True)
class Paths:
    """The places one installation uses. The key store is deliberately separate."""

    home: Path
    database_url: str
    keystore: Path
    store_url: str

    @property
    def settings_file(self) -> Path:
        return self.home / "records.toml"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def resolve_paths(home: Path | str | None = None) -> Paths:
    """Work out the installation's paths: ``--home`` wins over ``RECORDS_HOME``."""
    base = Path(home) if home else Path(os.environ.get("RECORDS_HOME") or DEFAULT_HOME)
    base = base.expanduser().resolve()
    database_url = os.environ.get("RECORDS_DATABASE_URL") or f"sqlite:///{base / 'catalog.db'}"
    keystore = Path(os.environ.get("RECORDS_KEYSTORE") or base / "keys").expanduser().resolve()
    store_url = os.environ.get("RECORDS_STORE_URL") or f"file://{base / 'store'}"
    return Paths(home=base, database_url=database_url, keystore=keystore, store_url=store_url)


@dataclass(frozen=True)
class ReviewThresholds:
    """Below these confidences the engine asks a person instead of guessing."""

    student: float = 0.85
    series: float = 0.75


@dataclass(frozen=True)
class DistrictSettings:
    """The district's settings from ``records.toml``; defaults apply to what is absent."""

    name: str = "Example Public Schools"
    address: str = ""
    signatory: str = ""
    signatory_title: str = "Records Access Officer"
    timezone: str = "America/New_York"
    grace_after_exit: str = "P0D"
    due_soon_days: int = 90
    keystore_backup_rotation_days: int = 35
    catalog_backup_rotation_days: int = 90
    store_backup_rotation_days: int = 90
    task_runner: str = "threads"
    dask_address: str = ""
    dask_workers: int = 2
    review: ReviewThresholds = field(default_factory=ReviewThresholds)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(paths: Paths) -> DistrictSettings:
    """Read ``records.toml``; a missing file means the defaults, a broken one is an error."""
    file = paths.settings_file
    if not file.exists():
        return DistrictSettings()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file}: not valid TOML ({exc}); fix the file or move it away and run `records init`") from exc
    district = data.get("district", {})
    retention = data.get("retention", {})
    review = data.get("review", {})
    keystore = data.get("keystore", {})
    backup = data.get("backup", {})
    scale = data.get("scale", {})
    try:
        settings = DistrictSettings(
            name=str(district.get("name", DistrictSettings.name)),
            address=str(district.get("address", "")),
            signatory=str(district.get("signatory", "")),
            signatory_title=str(district.get("signatory_title", DistrictSettings.signatory_title)),
            timezone=str(district.get("timezone", DistrictSettings.timezone)),
            grace_after_exit=str(retention.get("grace_after_exit", "P0D")),
            due_soon_days=int(retention.get("due_soon_days", 90)),
            keystore_backup_rotation_days=int(keystore.get("backup_rotation_days", 35)),
            catalog_backup_rotation_days=int(backup.get("catalog_rotation_days", 90)),
            store_backup_rotation_days=int(backup.get("store_rotation_days", 90)),
            task_runner=str(scale.get("task_runner", "threads")),
            dask_address=str(scale.get("dask_address", "")),
            dask_workers=int(scale.get("dask_workers", 2)),
            review=ReviewThresholds(
                student=float(review.get("student", ReviewThresholds.student)),
                series=float(review.get("series", ReviewThresholds.series)),
            ),
        )
        settings.zone  # noqa: B018 - validates the time zone name now, not at 2 a.m.
    except (TypeError, ValueError, ZoneInfoNotFoundError) as exc:
        raise ConfigurationError(f"{file}: a setting has a wrong value ({exc}); see the comments in the file") from exc
    return settings


SETTINGS_TEMPLATE = """\
# records.toml: the district's settings for the records retention engine.
# Written by `records init`; edit freely. Lines starting with # are comments.
# Durations are ISO 8601 (P0D = none, P30D = 30 days, P1Y = one year).

[district]
# The district's legal name, as it appears on certificates of destruction and
# applications to the Supervisor of Records (form RMU-2).
name = "Example Public Schools"
# Postal address printed on certificates and notices.
address = ""
# Who signs certificates of destruction and exit notices.
signatory = ""
signatory_title = "Records Access Officer"
# Time zone that turns timestamps into dates and bounds the school year
# (July 1 to June 30).
timezone = "America/New_York"

[retention]
# Grace period after a student's exit before student records become eligible
# for disposal (603 CMR 23.06 allows destruction once the student has left).
grace_after_exit = "P0D"
# A record whose destroy-by date falls within this many days is "due soon".
due_soon_days = 90

[review]
# Below these confidences (0 to 1) the engine puts the question to a clerk in
# `records review` instead of deciding itself.
student = 0.85
series = 0.75

[keystore]
# How long backups of the key store are kept. After a record's key is destroyed,
# key-store backups younger than this are the only place a copy of the key
# survives; certificates of destruction state this window. Keep it short and
# back the key store up on its own rotation, apart from catalog and store.
backup_rotation_days = 35

[backup]
# How long `records backup catalog` and `records backup store` keep their backups.
# Both may be kept longer than the key store's: without the keys, a destroyed
# record's content in them can never be read again.
catalog_rotation_days = 90
store_rotation_days = 90

[scale]
# How the intake workers spread a batch's reading (README, "Scaling out").
# "threads": two batches in flight per worker, OCR over the machine's cores.
# "dask": batches go to Dask workers; dask_address names a running Dask
# scheduler (tcp://host:8786) or, empty, a local cluster of dask_workers
# processes is started. Worth it across machines, slower on one small machine.
# The environment variable RECORDS_TASK_RUNNER overrides task_runner.
task_runner = "threads"
dask_address = ""
dask_workers = 2
"""


def write_default_settings(paths: Paths) -> bool:
    """Write the commented ``records.toml`` unless one exists; say whether it was written."""
    if paths.settings_file.exists():
        return False
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(SETTINGS_TEMPLATE, encoding="utf-8")
    return True
