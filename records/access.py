"""Who may do what: the rights table of cli.md, as data.

Kept free of the database so the web app and the command line share one definition;
``storage.users.authorize`` enforces it against the catalog's users.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLERK = "clerk"
    OFFICER = "officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


CLERK_ACTIONS = frozenset(
    {
        "ingest",
        "quarantine.retry",
        "classify",
        "student.identify",
        "nonrecord.list",
        "nonrecord.confirm",
        "directory.import",
        "read",
        "audit.verify",
    }
)
OFFICER_ACTIONS = CLERK_ACTIONS | {
    "schedule.load",
    "schedule.confirm",
    "hold.place",
    "hold.release",
    "dispose.propose",
    "dispose.approve",
    "dispose.reject",
    "dispose.execute",
    "notice.send",
}
AUDITOR_ACTIONS = frozenset({"read", "audit.verify", "audit.log", "audit.checkpoint", "audit.export"})
ADMIN_ACTIONS = frozenset({"user.manage", "audit.verify", "maintenance"})

RIGHTS: dict[Role, frozenset[str]] = {
    Role.CLERK: CLERK_ACTIONS,
    Role.OFFICER: OFFICER_ACTIONS,
    Role.AUDITOR: AUDITOR_ACTIONS,
    Role.ADMIN: ADMIN_ACTIONS,
}

# The action names users see in refusals ("`schedule confirm` needs an officer").
ACTION_LABELS: dict[str, str] = {
    "user.manage": "user administration",
    "directory.import": "roster and staff imports",
    "audit.log": "reading the audit log",
    "audit.checkpoint": "audit checkpoints",
    "audit.export": "audit exports",
    "notice.send": "writing exit notices",
    "maintenance": "backups, restores and the store sweep",
}


def may(role: str, action: str) -> bool:
    try:
        return action in RIGHTS[Role(role)]
    except ValueError:
        return False


def roles_allowed(action: str) -> list[str]:
    return [role.value for role, actions in RIGHTS.items() if action in actions]


def label(action: str) -> str:
    return ACTION_LABELS.get(action, action.replace(".", " "))
