"""Exit notices (603 CMR 23.06(3)): who is owed one, and that it was generated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.config import DistrictSettings
from records.retention.eligibility import add_period
from records.retention.schedule import parse_duration
from records.storage.audit import PendingEvent, append_many
from records.storage.models import ExitNotice, Student
from records.storage.schedules import series_terms


def due(session: Session, settings: DistrictSettings) -> list[dict[str, Any]]:
    """Students with an exit date and no notice for that exit yet, as letter data."""
    sent = set(session.execute(select(ExitNotice.student_id, ExitNotice.exit_date)).all())
    temporary = series_terms(session).get("STU-TEMPORARY")
    maximum = parse_duration(temporary.max) if temporary and temporary.max else parse_duration("P7Y")
    today = dt.datetime.now(settings.zone).date()
    out = []
    for student in session.execute(select(Student).where(Student.exit_date.is_not(None)).order_by(Student.student_id)).scalars():
        if (student.student_id, student.exit_date) in sent:
            continue
        out.append(
            {
                "student_id": student.student_id,
                "student_name": f"{student.preferred_name or student.first_name} {student.last_name}",
                "exit_date": student.exit_date,
                "exit_reason": student.exit_reason,
                "destroy_by": add_period(student.exit_date, maximum),
                "addressee": "To the parent or guardian of " + f"{student.first_name} {student.last_name}" if not student.guardian_names else "To " + " and ".join(student.guardian_names),
                "mailing_address": student.mailing_address,
                "date": today,
                "district": {"name": settings.name, "address": settings.address, "signatory": settings.signatory, "signatory_title": settings.signatory_title},
            }
        )
    return out


def record(session: Session, notice: dict[str, Any], path: str, *, actor: str, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    session.add(ExitNotice(student_id=notice["student_id"], exit_date=notice["exit_date"], generated_at=now, generated_by=actor, path=path))
    session.flush()
    append_many(
        session,
        [PendingEvent(actor, "notice.generated", "student", notice["student_id"], {"student_id": notice["student_id"], "exit_date": notice["exit_date"].isoformat(), "destroy_by": notice["destroy_by"].isoformat(), "has_mailing_address": bool(notice.get("mailing_address"))})],
        now=now,
    )


def generated(session: Session) -> list[dict[str, Any]]:
    """The notices written so far, newest first, with the student's name for the list."""
    rows = session.execute(
        select(ExitNotice, Student.first_name, Student.last_name).join(Student, Student.student_id == ExitNotice.student_id)
        .order_by(ExitNotice.generated_at.desc(), ExitNotice.student_id)
    ).all()
    return [
        {"student_id": n.student_id, "student_name": f"{first} {last}", "exit_date": n.exit_date, "generated_at": n.generated_at, "generated_by": n.generated_by, "path": n.path}
        for n, first, last in rows
    ]


def notice_path(session: Session, student_id: str, exit_date: dt.date) -> str | None:
    found = session.get(ExitNotice, (student_id, exit_date))
    return found.path if found else None


__all__ = ["due", "generated", "notice_path", "record"]
