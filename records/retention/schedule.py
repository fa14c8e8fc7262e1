"""The retention schedule as versioned data: parsing and validating a schedule file.

Periods, triggers and dispositions use the vocabulary of domain.md; anything else is
refused with the series code and field named, because a typo in a schedule either keeps
a record too long or destroys it too early.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import yaml

TRIGGERS = frozenset(
    {"creation", "latest_entry", "student_exit", "school_year_end", "fiscal_year_end", "request_closed", "separation"}
)
DISPOSITIONS = frozenset({"destroy", "transfer", "permanent"})
REQUIRED_CODES = frozenset({"UNSCHEDULED", "NON-RECORD"})
_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$")
_CODE = re.compile(r"^[A-Z][A-Z0-9-]{1,63}$")


class ScheduleError(ValueError):
    """A schedule file that cannot be used, with the place and the reason."""


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0


def parse_duration(text: str) -> Duration:
    """ISO 8601 calendar durations as schedules use them (``P60Y``, ``P7Y``, ``P0D``)."""
    match = _DURATION.match(text)
    if not match:
        raise ScheduleError(f"{text!r} is not an ISO 8601 duration such as P7Y, P18M or P0D")
    years, months, days = (int(part or 0) for part in match.groups())
    return Duration(years, months, days)


@dataclass(frozen=True)
class SeriesRule:
    code: str
    title: str
    retention: str | None
    trigger: str
    max: str | None
    disposition: str
    needs_approval: bool
    citation: str
    verified: bool

    def rule_key(self) -> tuple[Any, ...]:
        """What must be unchanged for a confirmation to carry over to a new version."""
        return (self.retention, self.trigger, self.max, self.disposition, self.needs_approval)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Schedule:
    title: str
    series: tuple[SeriesRule, ...]
    sha256: str

    def get(self, code: str) -> SeriesRule | None:
        return next((s for s in self.series if s.code == code), None)


def _optional_duration(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value in (None, "", "null"):
        return None
    try:
        parse_duration(str(value))
    except ScheduleError as exc:
        raise ScheduleError(f"{where}: {key}: {exc}") from None
    return str(value)


def _series(entry: Any, index: int) -> SeriesRule:
    if not isinstance(entry, dict):
        raise ScheduleError(f"series #{index + 1}: expected a mapping of keys, found {type(entry).__name__}")
    code = str(entry.get("code", "")).strip()
    where = f"series {code or '#' + str(index + 1)}"
    if not _CODE.match(code):
        raise ScheduleError(f"{where}: code must be upper-case letters, digits and '-' (e.g. STU-TEMPORARY)")
    trigger = str(entry.get("trigger", "")).strip()
    if trigger not in TRIGGERS:
        raise ScheduleError(f"{where}: trigger {trigger!r} is not one of {', '.join(sorted(TRIGGERS))}")
    disposition = str(entry.get("disposition", "destroy")).strip()
    if disposition not in DISPOSITIONS:
        raise ScheduleError(f"{where}: disposition {disposition!r} is not one of {', '.join(sorted(DISPOSITIONS))}")
    needs_approval = entry.get("needs_approval", True)
    if not isinstance(needs_approval, bool):
        raise ScheduleError(f"{where}: needs_approval must be true or false")
    verified = entry.get("verified", False)
    if not isinstance(verified, bool):
        raise ScheduleError(f"{where}: verified must be true or false")
    title = str(entry.get("title", "")).strip()
    if not title:
        raise ScheduleError(f"{where}: a title is required")
    return SeriesRule(
        code=code,
        title=title,
        retention=_optional_duration(entry, "retention", where),
        trigger=trigger,
        max=_optional_duration(entry, "max", where),
        disposition=disposition,
        needs_approval=needs_approval,
        citation=str(entry.get("citation") or ""),
        verified=verified,
    )


def parse_schedule(text: str) -> Schedule:
    """Parse and validate a schedule file (YAML with a ``series`` list)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScheduleError(f"not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("series"), list):
        raise ScheduleError("expected a mapping with a 'series' list (see `records schedule show --json`)")
    series = tuple(_series(entry, i) for i, entry in enumerate(document["series"]))
    codes = [s.code for s in series]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ScheduleError(f"series listed twice: {', '.join(duplicates)}")
    missing = sorted(REQUIRED_CODES - set(codes))
    if missing:
        raise ScheduleError(f"every schedule needs the series {', '.join(missing)} (every record gets exactly one series)")
    return Schedule(
        title=str(document.get("title") or "retention schedule"),
        series=series,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def default_schedule_text() -> str:
    return resources.files("records.retention").joinpath("default_schedule.yaml").read_text(encoding="utf-8")


def default_schedule() -> Schedule:
    return parse_schedule(default_schedule_text())
