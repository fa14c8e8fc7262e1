"""Users, roles and the check every action command makes on ``--actor``.

Passwords (for the web sign-in) are hashed with argon2; a user added without one can act
from the command line but cannot sign in until an admin sets one.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records import access
from records.access import Role
from records.errors import NotFound, Refused, UsageError
from records.storage import audit, web_sessions
from records.storage.models import User

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserView:
    name: str
    role: str
    active: bool
    locked: bool
    has_password: bool
    created_at: str
    created_by: str

    def to_json(self) -> dict[str, object]:
        return self.__dict__.copy()


def system_actor() -> str:
    """Who acts when no user is named: ``system:<os user>`` (cli.md)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"system:{name}"


def _view(user: User) -> UserView:
    return UserView(
        name=user.name,
        role=user.role,
        active=user.active,
        locked=user.locked_at is not None,
        has_password=user.password_hash is not None,
        created_at=audit.format_instant(user.created_at)[:19] + "Z",
        created_by=user.created_by,
    )


def authorize(session: Session, actor: str | None, action: str, *, required: bool = True) -> str:
    """Return the actor to record, or refuse with a sentence the user can act on.

    ``required=False`` is for imports, ingest and reading: with no actor they record
    ``system:<os user>``; a named actor is still checked.
    """
    if not actor:
        if required:
            raise UsageError(f"{access.label(action)} needs --actor USER (or RECORDS_ACTOR): the user who decides")
        return system_actor()
    user = session.get(User, actor)
    if user is None:
        raise Refused(f"no user named {actor!r}: an admin adds one with `records user add {actor} --role ROLE`")
    if not user.active:
        raise Refused(f"user {actor!r} is disabled and may not act")
    if not access.may(user.role, action):
        allowed = " or ".join(access.roles_allowed(action)) or "no role"
        raise Refused(f"user {actor!r} is {_article(user.role)} {user.role}; {access.label(action)} needs {_article(allowed)} {allowed}")
    return user.name


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def add_user(session: Session, name: str, role: str, password: str | None, actor: str | None) -> UserView:
    """Add a user. The very first user needs no actor and must be an admin."""
    if not _NAME.match(name):
        raise UsageError(f"user name {name!r}: use lower-case letters, digits, '.', '_' or '-' (at most 64)")
    try:
        role_value = Role(role)
    except ValueError:
        raise UsageError(f"role {role!r}: choose one of {', '.join(r.value for r in Role)}") from None
    existing = session.execute(select(func.count()).select_from(User)).scalar_one()
    if existing == 0:
        if role_value is not Role.ADMIN:
            raise Refused("the first user must be an admin (who then adds the others): use --role admin")
        recorded_actor = actor or system_actor()
    else:
        recorded_actor = authorize(session, actor, "user.manage")
    if session.get(User, name) is not None:
        raise Refused(f"a user named {name!r} already exists")
    user = User(
        name=name,
        role=role_value.value,
        password_hash=_hasher.hash(password) if password else None,
        active=True,
        failed_logins=0,
        created_at=dt.datetime.now(dt.UTC),
        created_by=recorded_actor,
    )
    session.add(user)
    session.flush()
    audit.append(session, recorded_actor, "user.added", "user", name, {"role": role_value.value, "password_set": bool(password)})
    return _view(user)


def list_users(session: Session) -> list[UserView]:
    return [_view(u) for u in session.execute(select(User).order_by(User.name)).scalars()]


def count_users(session: Session) -> int:
    return session.execute(select(func.count()).select_from(User)).scalar_one()


def disable_user(session: Session, name: str, actor: str | None) -> UserView:
    recorded_actor = authorize(session, actor, "user.manage")
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    if not user.active:
        return _view(user)
    if user.role == Role.ADMIN:
        admins = session.execute(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN.value, User.active.is_(True))
        ).scalar_one()
        if admins <= 1:
            raise Refused(f"{name!r} is the last active admin; add another admin before disabling this one")
    user.active = False
    ended = web_sessions.end_all(session, name, why="disabled")
    audit.append(session, recorded_actor, "user.disabled", "user", name, {"role": user.role, "sessions_ended": ended})
    return _view(user)


def check_password(session: Session, name: str, password: str) -> bool:
    """True when the user exists, is active and the password matches (for the web sign-in)."""
    user = session.get(User, name)
    if user is None or not user.active or not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- web sign-in and lock-out --------------------------------------------------------

MAX_FAILED_LOGINS = 5
LOCKOUT_ACTOR = "system:web"


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user on success, else a reason to show."""

    user: UserView | None
    reason: str | None = None
    locked_now: bool = False


_FAILED = "the user name or password is wrong"


def sign_in(session: Session, name: str, password: str, *, now: dt.datetime | None = None) -> SignIn:
    """Check a web sign-in and keep the lock-out count (call in a writing transaction).

    Each wrong password for an existing user counts; the fifth in a row locks the user
    (``locked_at``, audit ``user.locked``) until an admin unlocks them. A success resets
    the count. Locked and disabled users are refused whatever the password.
    """
    user = session.get(User, name)
    if user is None or not user.active or not user.password_hash:
        return SignIn(None, _FAILED)
    if user.locked_at is not None:
        return SignIn(None, "this account is locked after repeated failed sign-ins: ask an admin to unlock it")
    if check_password(session, name, password):
        if user.failed_logins:
            user.failed_logins = 0
        return SignIn(_view(user))
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_at = now or dt.datetime.now(dt.UTC)
        audit.append(session, LOCKOUT_ACTOR, "user.locked", "user", name, {"failed_logins": user.failed_logins})
        return SignIn(None, "too many failed sign-ins: this account is now locked; ask an admin to unlock it", locked_now=True)
    return SignIn(None, _FAILED)


def get_user(session: Session, name: str) -> UserView | None:
    user = session.get(User, name)
    return _view(user) if user is not None else None


def unlock_user(session: Session, name: str, actor: str | None) -> UserView:
    """Lift a lock-out (admins only); the failed sign-in count starts again from zero."""
    recorded_actor = authorize(session, actor, "user.manage")
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    if user.locked_at is None and not user.failed_logins:
        return _view(user)
    was_locked = user.locked_at is not None
    user.locked_at = None
    user.failed_logins = 0
    audit.append(session, recorded_actor, "user.unlocked", "user", name, {"was_locked": was_locked})
    return _view(user)


# --- web passwords -------------------------------------------------------------------

MIN_PASSWORD = 10


def check_new_password(password: str) -> None:
    """Refuse a web password too short to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"choose a password of at least {MIN_PASSWORD} characters for the web sign-in")


def set_password(session: Session, name: str, password: str, actor: str | None) -> UserView:
    """An admin sets or resets a user's web password; a lock-out on that user ends with it.

    Audited as ``user.password_set`` (never the password or its hash).
    """
    recorded_actor = authorize(session, actor, "user.manage")
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    check_new_password(password)
    was_locked = user.locked_at is not None
    user.password_hash = _hasher.hash(password)
    user.locked_at = None
    user.failed_logins = 0
    ended = web_sessions.end_all(session, name, why="password_reset")
    audit.append(session, recorded_actor, "user.password_set", "user", name, {"reset_by_admin": True, "was_locked": was_locked, "sessions_ended": ended})
    return _view(user)


def change_own_password(session: Session, name: str, current: str, new: str, *, keep_session: str | None = None) -> UserView:
    """A signed-in user changes their own password, proving the current one first.

    Every other web session of the user ends (a stolen cookie stops working); the one
    whose token is ``keep_session`` (the user's own, in the browser they use) stays.
    """
    user = session.get(User, name)
    if user is None or not user.active:
        raise Refused(f"user {name!r} may not act")
    if not check_password(session, name, current):
        raise Refused("the current password is wrong; nothing was changed")
    check_new_password(new)
    if new == current:
        raise UsageError("the new password is the same as the current one")
    user.password_hash = _hasher.hash(new)
    ended = web_sessions.end_all(session, name, why="password_changed", keep=keep_session)
    audit.append(session, name, "user.password_set", "user", name, {"reset_by_admin": False, "was_locked": False, "sessions_ended": ended})
    return _view(user)
