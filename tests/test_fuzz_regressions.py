"""Inputs the fuzzers found (tests/test_fuzz_readers.py, bench/fuzz.py), minimized and built here.

Each one crashed a reader with an exception other than ``Quarantine`` (the pipeline then
quarantined the whole file as "damaged" with the exception's name, losing a readable
record), or gave the catalog what PostgreSQL refuses (SQLite stores it, so only one
backend failed). Each test states what a clerk now sees.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from records.intake.model import Item, Quarantine, ReadOptions
from records.intake.readers.email_message import loose_date
from tests.cli_helpers import run, setup_users
from tests.fixtures.fuzzing import check_items, fake_ocr, read_strictly


def _email(tmp_path: Path, headers: bytes, body: bytes = b"See you at the meeting on Friday.\r\n", name: str = "m.eml") -> Path:
    path = tmp_path / name
    path.write_bytes(headers + b"To: ana.rivera@example.net\r\nSubject: Meeting\r\nDate: Tue, 5 Mar 2024 15:14:00 -0500\r\n\r\n" + body)
    return path


def _items(path: Path) -> list[Item]:
    with fake_ocr():
        found = read_strictly(path)
    assert isinstance(found, list), f"refused: {found}"
    return found


def test_from_lines_the_standard_library_cannot_parse_still_make_a_record(tmp_path: Path) -> None:
    # "From: .<>" and "From: :;>" raised AttributeError inside email.headerregistry while
    # the origin key was computed: the whole email was quarantined as damaged.
    for number, sender in enumerate((b".<>", b":;>")):
        items = _items(_email(tmp_path, b"From: " + sender + b"\r\nMessage-ID: <m1@example.org>\r\n", name=f"m{number}.eml"))
        assert items[0].format == "email" and "See you at the meeting" in items[0].text


def test_a_charset_label_with_a_nul_falls_back_to_utf8(tmp_path: Path) -> None:
    # atheris: "charset=w\x00\x00dows-1252" made codecs.lookup raise ValueError ("embedded null character").
    path = tmp_path / "charset.eml"
    path.write_bytes(b"From: ka@example.org\r\nSubject: Trip\r\nMessage-ID: <c1@example.org>\r\n"
                     b"Content-Type: text/plain; charset=w\x00\x00dows-1252\r\n\r\nThe bus leaves at eight.\r\n")  # fmt: skip
    assert "The bus leaves at eight." in _items(path)[0].text


def test_forwarded_date_with_an_impossible_offset_is_no_date(tmp_path: Path) -> None:
    # A quoted "Date: ... +9999" in a forwarded block raised ValueError (offset over 24 hours).
    assert loose_date("Tue, 5 Mar 2024 3:14 PM +9999", dt_zone()) is None
    body = (b"---------- Forwarded message ---------\r\nFrom: Elena Marsh <emarsh@schools.example.org>\r\n"
            b"Date: Tue, 5 Mar 2024 3:14 PM +9999\r\nSubject: Trip\r\n\r\nThe bus leaves at eight.\r\n")  # fmt: skip
    items = _items(_email(tmp_path, b"From: Ana Rivera <ana.rivera@example.net>\r\nMessage-ID: <m2@example.org>\r\n", body))
    assert "The bus leaves at eight." in items[0].text


def dt_zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def test_x_archive_fields_of_the_wrong_type_are_skipped_not_fatal(tmp_path: Path) -> None:
    # mediaUrls: 7, a conversation's messages: 1.5 and entities.user_mentions: 0.5 raised
    # TypeError ("not iterable"): the whole archive was quarantined as damaged.
    def ytd(name: str, data: object) -> str:
        return f"window.YTD.{name}.part0 = " + json.dumps(data)

    owner, other = "1234567890123456789", "42"
    good = {"id": "1", "senderId": other, "recipientId": owner, "text": "Can I hand in the lab late?",
            "createdAt": "2023-05-10T18:00:00.000Z", "mediaUrls": 7}  # fmt: skip
    path = tmp_path / "twitter.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/manifest.js", "window.__THAR_CONFIG = {}")
        archive.writestr("data/account.js", ytd("account", [{"account": {"username": "MrCole", "accountId": owner}}]))
        archive.writestr("data/direct-messages.js", ytd("direct_messages", [
            {"dmConversation": {"conversationId": f"{owner}-{other}", "messages": [{"messageCreate": good}]}},
            {"dmConversation": {"conversationId": f"{owner}-7", "messages": 1.5}},
        ]))  # fmt: skip
        archive.writestr("data/tweets.js", ytd("tweets", [{"tweet": {
            "id_str": "9", "full_text": "Welcome back!", "created_at": "Mon Aug 28 12:00:00 +0000 2023", "entities": {"user_mentions": 0.5}}}]))  # fmt: skip
    items = _items(path)
    texts = " ".join(item.text for item in items)
    assert "Can I hand in the lab late?" in texts and "Welcome back!" in texts


def test_catalog_fields_hold_no_nul_and_fit_their_columns(tmp_path: Path) -> None:
    # A NUL in a Message-ID or a display name reached records.locator / dedupe_key and the
    # participants; PostgreSQL refuses NUL in text ("cannot contain NUL (0x00) bytes").
    items = _items(_email(tmp_path, b"From: Ka\x00 Lee <ka@example.org>\r\nMessage-ID: <a\x00b@example.org>\r\n"))
    check_items(items)
    assert items[0].participants[0].name == "Ka Lee"
    long_id = b"<" + b"x" * 900 + b"@example.org>"  # under RFC 5322's 998, over the column's 512
    check_items(_items(_email(tmp_path, b"From: ka@example.org\r\nMessage-ID: " + long_id + b"\r\n", name="long.eml")))


def test_odd_emails_are_ingested_on_both_backends(tmp_path: Path, paths) -> None:  # type: ignore[no-untyped-def]
    # End to end, on SQLite and PostgreSQL: before, the NUL stopped `records ingest` on
    # PostgreSQL with a database error, and the 900-character Message-ID overflowed the key.
    setup_users()
    mail = _email(tmp_path, b"From: Ka\x00 Lee <ka@example.org>\r\nMessage-ID: <a\x00b@example.org>\r\n")
    long_mail = _email(tmp_path, b"From: ka@example.org\r\nMessage-ID: <" + b"x" * 900 + b"@example.org>\r\n", b"Another message.\r\n", name="long.eml")
    outcome = run("ingest", str(mail), str(long_mail), "--actor", "casey", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.count('"email"') >= 2, listed.stdout[:500]


def test_facebook_owner_with_spaces_around_the_name_is_the_same_person_in_the_threads(tmp_path: Path) -> None:
    # atheris: a profile name with a trailing newline made the owner "facebook:Elena Marsh\n"
    # while the threads call her "facebook:Elena Marsh": the owner was a stranger in her own export.
    path = tmp_path / "facebook.zip"
    thread = {"participants": [{"name": "Elena Marsh"}, {"name": "Ana Rivera"}], "title": "Ana Rivera", "thread_path": "inbox/ana_1",
              "messages": [{"sender_name": "Elena Marsh", "timestamp_ms": 1_700_000_000_000, "content": "Slips are due Friday."}]}  # fmt: skip
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("profile_information/profile_information.json", json.dumps({"profile": {"name": {"full_name": "Elena Marsh\n"}}}))
        archive.writestr("messages/inbox/ana_1/message_1.json", json.dumps(thread))
    items = _items(path)
    assert items[0].owner is not None and items[0].owner.address == "facebook:Elena Marsh"
    assert items[0].owner.address in {p.address for p in items[0].participants}


def _patched_zip(tmp_path: Path, name: str, edit: tuple[bytes, bytes], members: dict[str, str | bytes], count: int = -1) -> Path:
    """A zip written by zipfile, then edited as bytes (``count`` 1: the local header only)."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    path.write_bytes(path.read_bytes().replace(*edit, count))
    return path


def test_a_zip_of_a_version_python_cannot_read_is_refused_with_a_reason(tmp_path: Path) -> None:
    # atheris: "version needed to extract" 25.5 in the central directory raised
    # NotImplementedError from zipfile, in detection and in SafeArchive.
    profile = json.dumps({"profile_user": [{"string_map_data": {"Username": {"value": "ms.rivera"}}}]})
    path = tmp_path / "instagram.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("personal_information/personal_information.json", profile)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6] = 255  # version needed to extract: 25.5
    path.write_bytes(bytes(data))
    found = read_strictly(path)
    assert not isinstance(found, list) and found.reason

    from records.intake.archive import SafeArchive

    with pytest.raises(Quarantine, match="zip damaged"):
        SafeArchive([path])


def test_a_zip_member_named_only_by_a_nul_refuses_the_export(tmp_path: Path) -> None:
    # atheris: zipfile cuts a name at its first NUL; an empty name crashed SafeArchive (IndexError).
    path = _patched_zip(tmp_path, "twitter.zip", (b"Q.js", b"\x00.js"), {"data/account.js": "window.YTD.account.part0 = []", "Q.js": "x"})
    found = read_strictly(path)
    assert not isinstance(found, list) and found.kind == "unsafe" and "has no name" in found.reason


@pytest.mark.parametrize("encoding", ["UTF-4", "UTF-7"])
def test_sms_backup_declaring_an_unreadable_encoding_is_quarantined_damaged(tmp_path: Path, encoding: str) -> None:
    # atheris: encoding='UTF-4' raised LookupError from the XML parser, and 'UTF-7' (or any
    # multi-byte encoding but UTF-8/16) ValueError "multi-byte encodings are not supported".
    path = tmp_path / "sms.xml"
    path.write_bytes(f"<?xml version='1.0' encoding='{encoding}' standalone='yes' ?>\n<smses count=\"1\">".encode()
                     + b"<sms address=\"6175550134\" date=\"1700000000000\" type=\"1\" body=\"hi\" /></smses>")  # fmt: skip
    found = read_strictly(path)
    assert not isinstance(found, list) and found.kind == "damaged" and "XML declaration" in found.reason


def test_a_zip_member_whose_local_name_is_not_utf8_is_damaged_not_a_crash(tmp_path: Path) -> None:
    # atheris: the local header's name bytes, flagged UTF-8, did not decode: UnicodeDecodeError
    # from zipfile.open, and the whole Facebook or X export failed.
    from records.intake.archive import SafeArchive

    path = _patched_zip(tmp_path, "export.zip", ("é.json".encode(), b"\x80\xa9.json"), {"é.json": "{}"}, count=1)
    with SafeArchive([path]) as archive, pytest.raises(Quarantine, match="cannot be read"):
        archive.read_bytes("é.json")


def test_a_member_with_a_bad_crc_is_a_problem_and_the_other_members_are_kept(tmp_path: Path) -> None:
    # atheris: zipfile's "Bad CRC-32", raised at the end of reading a member, escaped the zip reader.
    good = b"From: ka@example.org\r\nTo: b@example.org\r\nSubject: Kept\r\nMessage-ID: <k1@example.org>\r\n\r\nThe good message.\r\n"
    bad = good.replace(b"Kept", b"Lost").replace(b"k1@", b"k2@").replace(b"good", b"CRC_X")
    path = _patched_zip(tmp_path, "mail.zip", (b"CRC_X", b"CRC_Y"), {"mail/good.eml": good, "mail/bad.eml": bad})
    from records.intake.pipeline import extract

    with fake_ocr():
        result = extract(path, ReadOptions(ocr_workers=1))
    assert result.extraction is not None, result.reason
    assert [item.text.count("The good message.") for item in result.extraction.items] == [1]
    assert any("mail/bad.eml" in p and "CRC" in p for p in result.extraction.problems), result.extraction.problems


# A TIFF whose second page directory lies past the end of the file (minimized by delta
# debugging from an atheris input): counting its pages raised TypeError ("Missing dimensions").
TIFF_MISSING_DIMENSIONS = bytes.fromhex(
    "49492a00080000000a0000010400010000001f00000001010400010000001f00000002010300030000008600000003010300"
    "010000000100000006010300010000000200000011010400010000008c000000150103000100000003000000160104000100"
    "00001f0000001701040001000000430b00001c0103000100000001000000d80b0000080008000800"
)


# A TIFF whose second page names an unknown compression: Pillow raised KeyError (392).
TIFF_UNKNOWN_COMPRESSION = bytes.fromhex(
    "49492a00080000000a0000010400010000000400000001010400010000000200000002010300030000008600000003010300"
    "010000000100000006010300010000000200000011010400010000008c000000150103000100000003000000160104000100"
    "0000020000001701040001000000180000001c0103000100000001000000b800000008000800080028000028000028000028"
    "000028000028000028000028000000000000000000000000000049492a00080000000a000001040001000000040000000101"
    "0400010000000200000002010300030000003601000003010300010000000000001101040001000001000000020000001701"
    "040001000000180000001c010300010000000100000000000000080008000800280000280000280000280000280000280000"
    "28000028000000000000000000000000"
)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("data", [TIFF_MISSING_DIMENSIONS, TIFF_UNKNOWN_COMPRESSION], ids=["missing-dimensions", "unknown-compression"])
def test_a_damaged_tiff_page_is_quarantined_damaged(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "scan.tif"
    path.write_bytes(data)
    found = read_strictly(path)
    assert not isinstance(found, list) and found.kind == "damaged" and "image damaged" in found.reason


def test_legacy_instagram_participants_of_the_wrong_type_are_skipped(tmp_path: Path) -> None:
    # atheris: "participants": true in a pre-2020 messages.json raised TypeError ("not iterable").
    path = tmp_path / "instagram.zip"
    conversation = [{"sender": "maya.r.2014", "created_at": "2019-06-30T21:58:00+00:00", "text": "Is the quiz on Friday?"}]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("profile.json", json.dumps({"username": "ms.rivera", "name": "Elena Rivera"}))
        archive.writestr("messages.json", json.dumps([{"participants": True, "conversation": conversation}]))
        archive.writestr("media.json", json.dumps({"photos": []}))
    items = _items(path)
    assert "Is the quiz on Friday?" in items[0].text
