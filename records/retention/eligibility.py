"""When a record may go and when it must go: a pure function of record, students, schedule.

Vocabulary and worked examples are domain.md's ("Dates"):

- periods are added in calendar years, months and days to the trigger date; 29 February
  plus N years is 28 February when the target year has none;
- ``eligible_on`` is the first day destruction is allowed, ``destroy_by`` the last day it
  is still in time; both inclusive;
- a record linked to several students follows the latest exit, and a linked student still
  enrolled keeps it from being eligible; absence from a roster is never an exit;
- a district's grace period after exit delays eligibility, never the legal maximum
  (603 CMR 23.06(3) counts seven years from the exit itself);
- state precedence: destroyed > proposed > held > overdue > due_soon > eligible > retain.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from records.retention.schedule import Duration, parse_duration

STATES = ("destroyed", "proposed", "held", "overdue", "due_soon", "eligible", "retain")


@dataclass(frozen=True)
class SeriesTerms:
    """What retention needs of one series of the schedule version in force."""

    code: str
    retention: str | None
    trigger: str
    max: str | None
    disposition: str
    needs_approval: bool
    confirmed: bool
    version: int | None = None


@dataclass(frozen=True)
class RecordDates:
    """The dates retention reads of a record and of the people it concerns."""

    sent_at_first: dt.datetime | None
    sent_at_last: dt.datetime | None
    created_at: dt.datetime | None = None
    student_exits: Sequence[dt.date | None] = ()  # one per linked student; None = enrolled
    staff_exit: dt.date | None = None  # the staff member concerned (separation)


@dataclass(frozen=True)
class Retention:
    trigger: str
    trigger_date: dt.date | None
    eligible_on: dt.date | None
    destroy_by: dt.date | None
    disposition: str
    needs_approval: bool
    schedule_version: int | None
    state: str
    confirmed: bool = False
    reason: str | None = None  # why there is no date yet ("a linked student is enrolled")

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "trigger_date": self.trigger_date.isoformat() if self.trigger_date else None,
            "eligible_on": self.eligible_on.isoformat() if self.eligible_on else None,
            "destroy_by": self.destroy_by.isoformat() if self.destroy_by else None,
            "disposition": self.disposition,
            "needs_approval": self.needs_approval,
            "schedule_version": self.schedule_version,
            "state": self.state,
        }


def add_period(start: dt.date, period: Duration) -> dt.date:
    """Calendar addition: years and months first (29 Feb → 28 Feb), then days."""
    months = start.month - 1 + period.months
    year = start.year + period.years + months // 12
    month = months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day) + dt.timedelta(days=period.days)


def local_date(moment: dt.datetime | None, zone: ZoneInfo) -> dt.date | None:
    return moment.astimezone(zone).date() if moment else None


def school_year_end(day: dt.date) -> dt.date:
    """June 30 ending the school (and Massachusetts fiscal) year that holds ``day``."""
    return dt.date(day.year if day.month <= 6 else day.year + 1, 6, 30)


def trigger_date(series: SeriesTerms, dates: RecordDates, zone: ZoneInfo) -> tuple[dt.date | None, str | None]:
    """(date, reason when there is none)."""
    first = local_date(dates.sent_at_first, zone) or local_date(dates.sent_at_last, zone) or local_date(dates.created_at, zone)
    last = local_date(dates.sent_at_last, zone) or first
    match series.trigger:
        case "creation":
            return first, None if first else "the record has no date"
        case "latest_entry" | "request_closed":
            return last, None if last else "the record has no date"
        case "school_year_end" | "fiscal_year_end":
            return (school_year_end(last), None) if last else (None, "the record has no date")
        case "student_exit":
            if not dates.student_exits:
                return None, "no linked student: the exit that starts the clock is unknown"
            if any(exit_date is None for exit_date in dates.student_exits):
                return None, "a linked student is still enrolled"
            return max(d for d in dates.student_exits if d is not None), None
        case "separation":
            return (dates.staff_exit, None) if dates.staff_exit else (None, "the staff member concerned has not left")
    return None, f"unknown trigger {series.trigger}"


def state_on(
    eligible_on: dt.date | None,
    destroy_by: dt.date | None,
    *,
    as_of: dt.date,
    due_soon_days: int = 90,
    held: bool = False,
    proposed: bool = False,
    destroyed: bool = False,
) -> str:
    """The state on a day, by the precedence of domain.md."""
    if destroyed:
        return "destroyed"
    if proposed:
        return "proposed"
    if held:
        return "held"
    if destroy_by is not None and as_of > destroy_by:
        return "overdue"
    if eligible_on is not None and as_of >= eligible_on:
        if destroy_by is not None and (destroy_by - as_of).days <= due_soon_days:
            return "due_soon"
        return "eligible"
    return "retain"


def compute(
    series: SeriesTerms,
    dates: RecordDates,
    *,
    as_of: dt.date,
    timezone: str = "America/New_York",
    grace_after_exit: str = "P0D",
    due_soon_days: int = 90,
    held: bool = False,
    proposed: bool = False,
    destroyed: bool = False,
) -> Retention:
    """The record's retention as of a date (see the module doc)."""
    zone = ZoneInfo(timezone)
    start, reason = trigger_date(series, dates, zone)
    eligible_on = destroy_by = None
    if start is not None:
        if series.max:
            destroy_by = add_period(start, parse_duration(series.max))
        if series.disposition != "permanent" and series.retention is not None:
            begin = add_period(start, parse_duration(grace_after_exit)) if series.trigger == "student_exit" else start
            eligible_on = add_period(begin, parse_duration(series.retention))
            if destroy_by is not None and eligible_on > destroy_by:
                eligible_on = destroy_by  # a grace never pushes past the legal maximum
    state = state_on(eligible_on, destroy_by, as_of=as_of, due_soon_days=due_soon_days, held=held, proposed=proposed, destroyed=destroyed)
    return Retention(
        trigger=series.trigger,
        trigger_date=start,
        eligible_on=eligible_on,
        destroy_by=destroy_by,
        disposition=series.disposition,
        needs_approval=series.needs_approval,
        schedule_version=series.version,
        state=state,
        confirmed=series.confirmed,
        reason=reason,
    )


__all__ = ["STATES", "RecordDates", "Retention", "SeriesTerms", "add_period", "compute", "school_year_end", "state_on", "trigger_date"]
