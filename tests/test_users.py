"""Users, roles and the --actor checks of cli.md's rights table."""

from __future__ import annotations

import pytest

from records import access
from records.storage import users
from tests.cli_helpers import run, setup_users


def test_first_user_needs_no_actor_but_must_be_admin(paths):
    run("init")
    refused = run("user", "add", "casey", "--role", "clerk")
    assert refused.exit_code == 1 and "first user must be an admin" in refused.stderr
    assert run("user", "add", "admin", "--role", "admin").exit_code == 0
    # Later additions need an admin actor.
    needs_actor = run("user", "add", "casey", "--role", "clerk")
    assert needs_actor.exit_code == 2 and "--actor" in needs_actor.stderr
    assert run("user", "add", "casey", "--role", "clerk", "--actor", "admin").exit_code == 0


def test_passwords_are_argon2_hashes(paths, catalog):
    run("init")
    outcome = run("user", "add", "admin", "--role", "admin", "--password-stdin", input="correct horse battery\n")
    assert outcome.exit_code == 0
    with catalog.reading() as session:
        from records.storage.models import User

        stored = session.get(User, "admin").password_hash
        assert stored.startswith("$argon2id$") and "correct horse" not in stored
        assert users.check_password(session, "admin", "correct horse battery")
        assert not users.check_password(session, "admin", "wrong")


def test_user_list_and_disable(paths):
    setup_users()
    listed = {u["name"]: u for u in run("user", "list", "--json").json()}
    assert listed["olivia"]["role"] == "officer" and listed["olivia"]["active"] is True
    refused = run("user", "disable", "olivia", "--actor", "casey")
    assert refused.exit_code == 1 and "clerk" in refused.stderr and "admin" in refused.stderr
    assert run("user", "disable", "olivia", "--actor", "admin").exit_code == 0
    assert {u["name"]: u for u in run("user", "list", "--json").json()}["olivia"]["active"] is False
    # A disabled user may no longer act.
    outcome = run("user", "add", "zed", "--role", "clerk", "--actor", "olivia")
    assert outcome.exit_code == 1 and "disabled" in outcome.stderr


def test_last_admin_cannot_be_disabled(paths):
    setup_users()
    outcome = run("user", "disable", "admin", "--actor", "admin")
    assert outcome.exit_code == 1 and "last active admin" in outcome.stderr


def test_unknown_actor_and_wrong_role_are_refused_clearly(paths):
    setup_users()
    unknown = run("user", "add", "zed", "--role", "clerk", "--actor", "nobody")
    assert unknown.exit_code == 1 and "no user named 'nobody'" in unknown.stderr
    bad_role = run("user", "add", "zed", "--role", "janitor", "--actor", "admin")
    assert bad_role.exit_code == 2 and "clerk, officer, auditor, admin" in bad_role.stderr
    auditor_log = run("audit", "log", "--as", "avery", "--json")
    assert auditor_log.exit_code == 0
    clerk_log = run("audit", "log", "--as", "casey", "--json")
    assert clerk_log.exit_code == 1 and clerk_log.stdout == ""


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("clerk", {"ingest", "classify", "nonrecord.confirm", "read", "student.identify"}, {"schedule.confirm", "hold.place", "dispose.approve", "user.manage", "audit.log"}),
        ("officer", {"ingest", "schedule.load", "schedule.confirm", "hold.place", "hold.release", "dispose.propose", "dispose.approve", "dispose.execute"}, {"user.manage", "audit.log"}),
        ("auditor", {"read", "audit.verify", "audit.log", "audit.checkpoint", "audit.export"}, {"ingest", "classify", "hold.place", "dispose.approve", "user.manage"}),
        ("admin", {"user.manage"}, {"ingest", "classify", "dispose.approve", "hold.place", "audit.log"}),
    ],
)
def test_rights_table_matches_cli_md(role, allowed, refused):
    assert all(access.may(role, a) for a in allowed)
    assert not any(access.may(role, a) for a in refused)


def test_every_user_change_is_audited(paths):
    setup_users()
    run("user", "disable", "omar", "--actor", "admin")
    log = run("audit", "log", "--as", "avery", "--json").json()
    added = [e["subject_id"] for e in log if e["action"] == "user.added"]
    assert added == ["admin", "casey", "olivia", "omar", "avery"]
    disabled = [e for e in log if e["action"] == "user.disabled"]
    assert len(disabled) == 1 and disabled[0]["actor"] == "admin" and disabled[0]["subject_id"] == "omar"


def test_lockout_after_five_failed_sign_ins_and_unlock(paths, catalog):
    run("init")
    assert run("user", "add", "admin", "--role", "admin").exit_code == 0
    assert run("user", "add", "casey", "--role", "clerk", "--password-stdin", "--actor", "admin", input="right password\n").exit_code == 0
    for attempt in range(users.MAX_FAILED_LOGINS):
        with catalog.writing() as session:
            outcome = users.sign_in(session, "casey", "wrong")
        assert outcome.user is None
        assert outcome.locked_now is (attempt == users.MAX_FAILED_LOGINS - 1)
    with catalog.writing() as session:
        refused = users.sign_in(session, "casey", "right password")
    assert refused.user is None and "locked" in refused.reason
    listed = {u["name"]: u for u in run("user", "list", "--json").json()}
    assert listed["casey"]["locked"] is True
    not_admin = run("user", "unlock", "casey", "--actor", "casey")
    assert not_admin.exit_code == 1
    assert run("user", "unlock", "casey", "--actor", "admin").exit_code == 0
    with catalog.writing() as session:
        assert users.sign_in(session, "casey", "right password").user.name == "casey"
    actions = [e["action"] for e in run("audit", "log", "--json").json()]
    assert "user.locked" in actions and "user.unlocked" in actions


def test_a_success_resets_the_failed_count(paths, catalog):
    run("init")
    assert run("user", "add", "admin", "--role", "admin", "--password-stdin", input="pw-admin\n").exit_code == 0
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        with catalog.writing() as session:
            users.sign_in(session, "admin", "wrong")
    with catalog.writing() as session:
        assert users.sign_in(session, "admin", "pw-admin").user is not None
    with catalog.writing() as session:
        assert users.sign_in(session, "admin", "wrong").locked_now is False
    with catalog.writing() as session:
        assert users.sign_in(session, "admin", "pw-admin").user is not None
