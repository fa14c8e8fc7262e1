"""Loading a district's schedule: one service for ``records schedule load`` and the web.

A new version is stored (the old stays on record) and every live record's retention is
recomputed in the same transaction, so no record is ever planned under a half-loaded
schedule.
"""

from __future__ import annotations

from records.retention.schedule import Schedule
from records.storage import retention, schedules
from records.storage.installation import Installation
from records.storage.users import authorize


def load_schedule(installation: Installation, schedule: Schedule, *, actor: str | None, source_name: str) -> tuple[schedules.ScheduleView, int]:
    """Store ``schedule`` as the new version (officers only); returns its view and how many records changed."""
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "schedule.load")
        version = schedules.load_version(session, schedule, actor=who, source_name=source_name)
        view = schedules.show(session, version)
        changed = retention.recompute(session, installation.settings, actor=who)
    return view, changed
