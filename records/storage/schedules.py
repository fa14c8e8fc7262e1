"""Schedule versions in the catalog: every load is a new version, old ones stay on record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.errors import ConfigurationError, NotFound
from records.retention.eligibility import SeriesTerms
from records.retention.schedule import Schedule
from records.storage import audit
from records.storage.models import ScheduleVersion, Series


@dataclass(frozen=True)
class SeriesView:
    code: str
    title: str
    retention: str | None
    trigger: str
    max: str | None
    disposition: str
    needs_approval: bool
    confirmed: bool
    citation: str
    verified: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class ScheduleView:
    version: int
    loaded_at: dt.datetime
    loaded_by: str
    series: list[SeriesView]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "loaded_at": audit.format_instant(self.loaded_at)[:19] + "Z",
            "loaded_by": self.loaded_by,
            "series": [s.to_json() for s in self.series],
        }


def current_version(session: Session) -> int | None:
    return session.execute(select(func.max(ScheduleVersion.version))).scalar_one()


def load_version(session: Session, schedule: Schedule, *, actor: str, source_name: str) -> int:
    """Store ``schedule`` as the next version.

    Verified series start confirmed. A confirmation carries over from the previous version
    only where that series' rule is unchanged (cli.md).
    """
    previous = current_version(session)
    previous_rules: dict[str, tuple[Series, tuple[Any, ...]]] = {}
    if previous is not None:
        for row in session.execute(select(Series).where(Series.version == previous)).scalars():
            previous_rules[row.code] = (row, (row.retention, row.trigger, row.max, row.disposition, row.needs_approval))
    version = (previous or 0) + 1
    now = dt.datetime.now(dt.UTC)
    session.add(ScheduleVersion(version=version, loaded_at=now, loaded_by=actor, source_name=source_name, sha256=schedule.sha256))
    session.flush()
    carried: list[str] = []
    for rule in schedule.series:
        confirmed_by, confirmed_at, confirmed = None, None, rule.verified
        if rule.verified:
            confirmed_by, confirmed_at = "schedule:verified", now
        elif rule.code in previous_rules:
            old, old_key = previous_rules[rule.code]
            if old.confirmed and old_key == rule.rule_key():
                confirmed, confirmed_by, confirmed_at = True, old.confirmed_by, old.confirmed_at
                carried.append(rule.code)
        session.add(
            Series(
                version=version,
                code=rule.code,
                title=rule.title,
                retention=rule.retention,
                trigger=rule.trigger,
                max=rule.max,
                disposition=rule.disposition,
                needs_approval=rule.needs_approval,
                citation=rule.citation,
                verified=rule.verified,
                confirmed=confirmed,
                confirmed_by=confirmed_by,
                confirmed_at=confirmed_at,
            )
        )
    session.flush()
    audit.append(
        session,
        actor,
        "schedule.loaded",
        "schedule",
        str(version),
        {
            "version": version,
            "sha256": schedule.sha256,
            "source_name": source_name,
            "series": [s.code for s in schedule.series],
            "confirmed": sorted(s.code for s in schedule.series if s.verified) + sorted(carried),
        },
    )
    return version


def show(session: Session, version: int | None = None) -> ScheduleView:
    """The schedule in force (or a given version)."""
    version = version or current_version(session)
    if version is None:
        raise ConfigurationError("no schedule loaded: run `records init`")
    head = session.get(ScheduleVersion, version)
    if head is None:
        raise ConfigurationError(f"no schedule version {version}")
    rows = session.execute(select(Series).where(Series.version == version)).scalars()
    order = {code: i for i, code in enumerate(_ORDER)}
    series = sorted(
        (
            SeriesView(
                code=r.code,
                title=r.title,
                retention=r.retention,
                trigger=r.trigger,
                max=r.max,
                disposition=r.disposition,
                needs_approval=r.needs_approval,
                confirmed=r.confirmed,
                citation=r.citation,
                verified=r.verified,
            )
            for r in rows
        ),
        key=lambda s: (order.get(s.code, len(order)), s.code),
    )
    return ScheduleView(version=version, loaded_at=head.loaded_at, loaded_by=head.loaded_by, series=series)


_ORDER = (
    "STU-TRANSCRIPT",
    "STU-TEMPORARY",
    "STU-SPED",
    "CORR-TRANSITORY",
    "CORR-ADMIN",
    "PUBLIC-RECORDS-REQUEST",
    "PERSONNEL",
    "NON-RECORD",
    "UNSCHEDULED",
)


def series_terms(session: Session, version: int | None = None) -> dict[str, SeriesTerms]:
    """What retention needs of each series of a version (the one in force by default)."""
    version = version or current_version(session)
    if version is None:
        raise ConfigurationError("no schedule loaded: run `records init`")
    return {
        r.code: SeriesTerms(r.code, r.retention, r.trigger, r.max, r.disposition, r.needs_approval, r.confirmed, version)
        for r in session.execute(select(Series).where(Series.version == version)).scalars()
    }


def confirm(session: Session, code: str, *, actor: str) -> bool:
    """The records officer confirms a series of the version in force; False if it already was."""
    version = current_version(session)
    if version is None:
        raise ConfigurationError("no schedule loaded: run `records init`")
    row = session.get(Series, (version, code))
    if row is None:
        codes = session.execute(select(Series.code).where(Series.version == version)).scalars().all()
        raise NotFound(f"no series {code!r} in schedule version {version} ({', '.join(sorted(codes))})")
    if row.confirmed:
        return False
    row.confirmed, row.confirmed_by, row.confirmed_at = True, actor, dt.datetime.now(dt.UTC)
    session.flush()
    audit.append(session, actor, "schedule.confirmed", "series", code, {"version": version, "code": code, "rule": {"retention": row.retention, "trigger": row.trigger, "max": row.max, "disposition": row.disposition, "needs_approval": row.needs_approval}})
    return True
