"""Security: what each role may change, who may read the files, and where record content may go.

- Every ``records`` command that changes something, for each role (clerk, officer,
  auditor, admin) and for no user at all: a role without the right (records/access.py)
  is refused with a sentence, exit 1 (or 2 when an actor is required and none given),
  and the audit chain shows that nothing changed. The table of commands is checked
  against the CLI's own command tree, so a new command cannot escape it.
- The key store, the store, the catalog database and the web secret are readable by
  their owner only, after init, after ingest, and after the key pack is rewritten.
- No record content in logs or audit payloads: fixtures carrying unique tokens (in the
  body, the subject, the participants' names) are ingested through the CLI with every
  output captured, and the tokens are searched for in stdout, stderr, Python logging,
  every file under RECORDS_HOME that is not encrypted content, and every audit payload.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
import typer

from records import access
from records.cli.main import app as cli_app
from records.storage import audit
from tests.cli_helpers import run, setup_users
from tests.fixtures.printouts import born_digital_pdf

ROLE_USERS = {"clerk": "casey", "officer": "olivia", "auditor": "avery", "admin": "admin"}

# Commands that change nothing, or that no role gates (with why), by their path in the CLI.
READ_ONLY = {
    "list", "show", "review", "doctor", "quarantine list", "nonrecord list", "hold list", "dispose plan",
    "dispose list", "schedule show", "schedule evaluate", "user list", "audit verify", "audit log", "intake jobs",
}  # fmt: skip
NOT_ROLE_GATED = {
    "init": "creates the installation: no catalog, so no users, exist yet",
    "demo": "builds its own throw-away installation",
    "serve": "the web app, where every route checks the signed-in user's role (tests/test_web.py)",
    "nightly": "the scheduled flow: it only proposes batches, as the system, never approves",
}


def cli_commands() -> set[str]:
    """Every leaf command of ``records``, as "group command" paths."""
    root = typer.main.get_command(cli_app)
    found: set[str] = set()

    def walk(command: object, prefix: str) -> None:
        if isinstance(getattr(command, "commands", None), dict):  # a group (typer's is no click.Group)
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found.add(prefix)

    walk(root, "")
    return found


def changing_commands(tmp_path: Path) -> dict[str, tuple[list[str], str, bool]]:
    """command -> (arguments, the action of records/access.py it needs, whether --actor is required)."""
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,first_name,last_name,preferred_name,date_of_birth,grade,entry_date,exit_date,exit_reason,"
        "guardian_names,guardian_emails,guardian_phones,student_emails,student_handles\n"
        "S1,Maya,Rivera,,2010-01-01,8,2020-09-01,,,Ana Rivera,ana.rivera@example.net,,,\n"
    )
    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id,first_name,last_name,role,school_emails,personal_emails,phones,handles\nT1,Elena,Marsh,teacher,emarsh@schools.example.org,,,\n")
    schedule = tmp_path / "schedule.yaml"  # the schedule in force, as a district would load its own
    shown = run("schedule", "show", "--json")
    schedule.write_text(shown.stdout if shown.exit_code == 0 else "series: []\n")
    pdf = born_digital_pdf(tmp_path / "note.pdf", [["A note for the security test, long enough to keep as a record."]])
    return {
        "user add": (["user", "add", "newbie", "--role", "clerk"], "user.manage", True),
        "user disable": (["user", "disable", "victim"], "user.manage", True),
        "user unlock": (["user", "unlock", "victim"], "user.manage", True),
        "roster import": (["roster", "import", str(roster)], "directory.import", False),
        "staff import": (["staff", "import", str(staff)], "directory.import", False),
        "schedule load": (["schedule", "load", str(schedule)], "schedule.load", True),
        "schedule confirm": (["schedule", "confirm", "STU-TEMPORARY"], "schedule.confirm", True),
        "ingest": (["ingest", str(pdf)], "ingest", False),
        "quarantine retry": (["quarantine", "retry", "S-NONE"], "quarantine.retry", False),
        "intake retry": (["intake", "retry", "J-NONE"], "ingest", False),
        "text": (["text", "R-NONE", "--purpose", "security test"], "read", False),
        "classify": (["classify", "R-NONE", "--no-student"], "classify", True),
        "student identify": (["student", "identify", "S1", "--identifier", "email:maya@example.org"], "student.identify", True),
        "nonrecord confirm": (["nonrecord", "confirm", "R-NONE"], "nonrecord.confirm", True),
        "hold place": (["hold", "place", "--kind", "litigation", "--reason", "case 1", "--student", "S1"], "hold.place", True),
        "hold release": (["hold", "release", "H-NONE"], "hold.release", True),
        "dispose propose": (["dispose", "propose"], "dispose.propose", True),
        "dispose approve": (["dispose", "approve", "B-NONE"], "dispose.approve", True),
        "dispose reject": (["dispose", "reject", "B-NONE", "--reason", "no"], "dispose.reject", True),
        "dispose execute": (["dispose", "execute", "B-NONE"], "dispose.execute", True),
        "audit checkpoint": (["audit", "checkpoint", "--out", str(tmp_path / "checkpoint.json")], "audit.checkpoint", False),
        "audit export": (["audit", "export", "--out", str(tmp_path / "export")], "audit.export", False),
        # Maintenance runs from cron without --actor (as system:<os user>); a named user must be an admin.
        "backup catalog": (["backup", "catalog", "--to", str(tmp_path / "backups" / "catalog")], "maintenance", False),
        "backup store": (["backup", "store", "--to", str(tmp_path / "backups" / "store")], "maintenance", False),
        "backup keys": (["backup", "keys", "--to", str(tmp_path / "backups" / "keys")], "maintenance", False),
        "backup restore": (["backup", "restore", "keys", "--from", str(tmp_path / "no-such-backup")], "maintenance", False),
        "sweep": (["sweep", "--dry-run"], "maintenance", False),
    }


def test_every_cli_command_is_classified(tmp_path: Path) -> None:
    table = set(changing_commands(tmp_path))
    unknown = cli_commands() - table - READ_ONLY - set(NOT_ROLE_GATED)
    assert not unknown, f"commands in no table of tests/test_security.py (add each to changing_commands or READ_ONLY): {sorted(unknown)}"
    gone = (table | READ_ONLY | set(NOT_ROLE_GATED)) - cli_commands()
    assert not gone, f"commands in the tables that the CLI no longer has: {sorted(gone)}"


def _audit_count(paths) -> int:  # type: ignore[no-untyped-def]
    from records.storage.installation import open_installation

    installation = open_installation(paths.home)
    with installation.catalog.reading() as session:
        return audit.count(session)


def _clean(outcome) -> str:  # type: ignore[no-untyped-def]
    return " ".join((outcome.stderr + outcome.stdout).split())


@pytest.mark.parametrize("role", [*ROLE_USERS, None])
def test_each_role_is_refused_every_change_it_may_not_make(role: str | None, paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    setup_users(("victim", "clerk"))
    actor = ROLE_USERS.get(role) if role else None
    refused, allowed = [], []
    for name, (args, action, required) in changing_commands(tmp_path).items():
        before = _audit_count(paths)
        outcome = run(*args, *(["--actor", actor] if actor else []))
        text = _clean(outcome)
        assert "Traceback" not in text, (name, text)
        may = access.may(role, action) if role else not required
        if may:
            # Allowed: it may still fail (an unknown id, a bad file), but never for the role.
            assert " needs " not in text, f"{role} was refused `{name}`, which {action} allows: {text}"
            allowed.append(name)
            continue
        refused.append(name)
        assert outcome.exit_code == (2 if role is None else 1), (name, role, outcome.exit_code, text)
        expected = "needs --actor" if role is None else f"needs {'an' if access.roles_allowed(action)[0][0] in 'aeiou' else 'a'} "
        assert expected in text, (name, role, text)
        assert _audit_count(paths) == before, f"`{name}` refused to {role} still wrote to the audit chain"
    # Each role is refused something and allowed something: the table is not vacuous.
    assert refused and allowed, (role, refused, allowed)


# --- files readable only by their owner ---------------------------------------------------


def _private(path: Path) -> list[str]:
    """Files and folders under ``path`` that another user could read (group or other bits)."""
    exposed = []
    for item in [path, *path.rglob("*")]:
        if item.is_symlink():
            continue
        mode = stat.S_IMODE(item.stat().st_mode)
        if mode & 0o077:
            exposed.append(f"{item} {oct(mode)}")
    return exposed


def test_keys_store_catalog_and_web_secret_are_owner_only(paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from records.storage.installation import open_installation

    os.umask(0o022)  # the common default: group and others could read what is not protected
    setup_users()
    installation = open_installation(paths.home)
    secrets = [installation.paths.keystore, installation.paths.home / "store"]
    if paths.database_url.startswith("sqlite"):
        secrets.append(Path(paths.database_url.removeprefix("sqlite:///")))

    def check(moment: str) -> None:
        for secret in secrets:
            assert secret.exists(), f"{secret} missing {moment}"
            exposed = _private(secret)
            assert not exposed, f"readable by others {moment}: {exposed}"

    check("after init")
    pdf = born_digital_pdf(tmp_path / "note.pdf", [["Files of this record must be readable by the engine's user only."]])
    assert run("ingest", str(pdf), "--actor", "casey").exit_code == 0
    check("after ingest")

    from records.web.app import create_app

    create_app(paths.home)  # makes the web secret on first use
    secrets.extend(p for p in paths.home.glob("*secret*"))
    check("after the web secret was made")
    from records.storage.ids import new_id
    from records.storage.keystore import KeyStore

    keys = KeyStore(installation.paths.keystore)
    made = keys.new_keys(new_id("K"), 3)
    keys.destroy_many([made[0][0]])  # a pack rewritten in place: one key zeroed, the others live
    check("after a key pack was rewritten")
    # Backups, when an installation has them, hold the same secrets.
    for backups in paths.home.glob("backup*"):
        assert not _private(backups), f"backups readable by others: {_private(backups)}"


# --- no record content in logs or audit payloads ------------------------------------------

# Unique words, each in one place of one fixture: found anywhere below, they name the leak.
TOKENS = {
    "email body": "Quillfeather7 zephyrine",
    "email subject": "Marbleworth9",
    "email sender name": "Ottoline Brackenridge",
    "pdf body": "Vantablack4 orrery",
    "sms body": "Kestrelmoss3 lantern",
    "sms contact name": "Philippa Quenby",
    "facebook message": "Thistledown8 gazebo",
    "facebook participant": "Barnaby Crumpwell",
}
NAMES = {"email sender name", "sms contact name", "facebook participant"}


def _content_fixtures(folder: Path) -> list[Path]:
    import zipfile

    folder.mkdir()
    email = folder / "note.eml"
    email.write_bytes(
        f"From: {TOKENS['email sender name']} <parent.one@example.net>\r\nTo: emarsh@schools.example.org\r\n"
        f"Subject: {TOKENS['email subject']} field trip\r\nDate: Tue, 5 Mar 2024 15:14:00 -0500\r\nMessage-ID: <sec1@example.net>\r\n\r\n"
        f"Dear Ms. Marsh, {TOKENS['email body']} about the permission slip.\r\n".encode()
    )
    pdf = born_digital_pdf(folder / "printout.pdf", [[f"Incident report: {TOKENS['pdf body']} in the hallway after lunch today."]])
    sms = folder / "sms-20240509.xml"
    sms.write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">"
        f"<sms protocol=\"0\" address=\"+16175550134\" date=\"1700000000000\" type=\"1\" body=\"{TOKENS['sms body']} at pickup\" "
        f"read=\"1\" status=\"-1\" contact_name=\"{TOKENS['sms contact name']}\" /></smses>\n"
    )
    facebook = folder / "facebook-export.zip"
    thread = {
        "participants": [{"name": TOKENS["facebook participant"]}, {"name": "Elena Marsh"}],
        "messages": [{"sender_name": TOKENS["facebook participant"], "timestamp_ms": 1_700_000_000_000, "content": f"{TOKENS['facebook message']} tomorrow?"}],
        "title": TOKENS["facebook participant"], "thread_type": "Regular", "thread_path": "inbox/b_1", "is_still_participant": True,
    }  # fmt: skip
    with zipfile.ZipFile(facebook, "w") as archive:
        archive.writestr("profile_information/profile_information.json", json.dumps({"profile": {"name": {"full_name": "Elena Marsh"}}}))
        archive.writestr("messages/inbox/b_1/message_1.json", json.dumps(thread))
    return [email, pdf, sms, facebook]


def _leaks(text: str, where: str, tokens: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for what, token in tokens.items() if token in text]


def test_no_record_content_in_logs_or_audit_payloads(paths, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from records.storage.installation import open_installation

    setup_users()
    files = _content_fixtures(tmp_path / "incoming")
    captured: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(self.format(record))

    handler = Collect(logging.DEBUG)
    watched = [logging.getLogger(), *(logging.getLogger(name) for name in ("prefect", "records", "pypdf", "httpx", "uvicorn"))]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        outcomes = [run("ingest", *map(str, files), "--actor", "casey"), run("ingest", *map(str, files), "--actor", "casey", "--json")]
        outcomes.append(run("list", "--json"))
        outcomes.append(run("audit", "log", "--actor", "avery", "--json"))
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    for outcome in outcomes[:2]:
        assert outcome.exit_code == 0, outcome.stderr
    out, err = capfd.readouterr()

    leaks: list[str] = []
    content = {k: v for k, v in TOKENS.items() if k not in NAMES}
    for number, outcome in enumerate(outcomes[:2]):
        leaks += _leaks(outcome.stdout + outcome.stderr, f"the output of ingest #{number + 1}", content)
    leaks += _leaks(out + err, "the process's stdout/stderr", TOKENS)
    leaks += _leaks("\n".join(captured), "Python/Prefect logging", TOKENS)
    leaks += _leaks(outcomes[3].stdout, "`audit log --json`", TOKENS)
    installation = open_installation(paths.home)
    with installation.catalog.reading() as session:
        for event in audit.iter_events(session, audit.LogFilter()):
            leaks += _leaks(json.dumps(event.payload, ensure_ascii=False), f"the payload of audit event {event.action}", TOKENS)
    # Files: logs, reports, settings, the catalog (names are catalog data, text and subjects
    # are not); the store and the key store hold only encrypted bytes.
    for path in paths.home.rglob("*"):
        if not path.is_file() or path.is_relative_to(paths.home / "store") or path.is_relative_to(installation.paths.keystore):
            continue
        data = path.read_bytes()
        wanted = content if path.name.startswith("catalog.db") else TOKENS
        leaks += [f"{what} in {path.relative_to(paths.home)}" for what, token in wanted.items() if token.encode() in data]
    for path in (paths.home / "store").rglob("*"):
        if path.is_file():
            leaks += [f"{what} in plain text in the store: {path.name}" for what, token in TOKENS.items() if token.encode() in path.read_bytes()]
    assert not leaks, "record content found where it must not be:\n" + "\n".join(sorted(set(leaks)))
    # The fixtures were read: each kind became a record, and the text holds the tokens
    # (so the searches above looked for words the engine did see).
    listed = {record["format"]: record["id"] for record in outcomes[2].json()}
    assert {"email", "printout-pdf", "sms-thread", "facebook-thread"} <= set(listed), listed
    for kind, token in (("email", "email body"), ("sms-thread", "sms body"), ("facebook-thread", "facebook message")):
        shown = run("text", listed[kind], "--actor", "casey", "--purpose", "security test")
        assert TOKENS[token] in shown.stdout, (kind, shown.stdout[:300])
