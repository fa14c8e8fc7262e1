"""Holds: what they are, and what they cover, as plain data (domain.md, "Holds").

A hold's scope is the AND of the kinds of criteria given and the OR within one kind
(cli.md): ``--student 1 --student 2 --series STU-TEMPORARY`` covers the temporary records
of either student. Dates cover records whose own date span overlaps them. A hold covers
records ingested after it was placed: coverage is evaluated, never frozen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HOLD_KINDS = ("litigation", "audit", "inspection-request", "public-records-request")


class HoldError(ValueError):
    """A hold that cannot be placed as given (the reason says what to change)."""


@dataclass(frozen=True)
class HoldCriteria:
    students: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    records: tuple[str, ...] = field(default_factory=tuple)

    def is_empty(self) -> bool:
        return not (self.students or self.series or self.date_from or self.date_to or self.records)

    def to_json(self) -> dict[str, Any]:
        return {
            "students": list(self.students),
            "series": list(self.series),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "records": list(self.records),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HoldCriteria:
        return cls(
            students=tuple(data.get("students") or ()),
            series=tuple(data.get("series") or ()),
            date_from=dt.date.fromisoformat(data["from"]) if data.get("from") else None,
            date_to=dt.date.fromisoformat(data["to"]) if data.get("to") else None,
            records=tuple(data.get("records") or ()),
        )


def criteria(
    kind: str,
    reason: str,
    *,
    students: Sequence[str] = (),
    series: Sequence[str] = (),
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    records: Sequence[str] = (),
) -> HoldCriteria:
    """Checked criteria for a new hold; a hold with no criterion would hold everything."""
    if kind not in HOLD_KINDS:
        raise HoldError(f"--kind {kind!r}: use one of {', '.join(HOLD_KINDS)}")
    if not reason or not reason.strip():
        raise HoldError("--reason is required: say why the records must be kept")
    if date_from and date_to and date_from > date_to:
        raise HoldError(f"--from {date_from} is after --to {date_to}")
    made = HoldCriteria(tuple(dict.fromkeys(students)), tuple(dict.fromkeys(series)), date_from, date_to, tuple(dict.fromkeys(records)))
    if made.is_empty():
        raise HoldError("a hold needs at least one of --student, --series, --from/--to, --record (a hold on everything is not a scope)")
    return made


__all__ = ["HOLD_KINDS", "HoldCriteria", "HoldError", "criteria"]
