"""The SMS Backup & Restore reader: record units, counterparts, MMS, hostile and huge backups.

Fixtures are written here following the app's real schema (``<smses>``, ``<sms>`` with
epoch-millisecond ``date`` and ``type``, ``<mms>`` with ``<addrs>`` and ``<parts>``, the
``(Unknown)`` contact name, ``"null"`` for empty values, emoji as surrogate references).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
import tracemalloc
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from records.intake import registry
from records.intake.model import Extraction, Item, Quarantine, ReadOptions
from records.intake.pipeline import extract
from records.intake.readers import sms_backup
from records.intake.readers.sms_backup import SmsBackupReader, read_backup, score_head
from records.intake.registry import sniff

READER = SmsBackupReader()
NY = dt.timezone(dt.timedelta(hours=-4))  # EDT, for writing summer instants

HEADER = (
    "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
    "<!--File Created By SMS Backup & Restore v10.20.002 on 05/09/2024 09:00:00-->\n"
    '<?xml-stylesheet type="text/xsl" href="sms.xsl"?>\n'
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4\n% test attachment\n%%EOF\n"


def units(extraction: Extraction) -> list[Item]:
    """The items of a streaming extraction (an iterator), as a list."""
    return list(extraction.items)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def sms(address: str, when: int, kind: int, body: str, contact: str = "(Unknown)") -> str:
    return (
        f'  <sms protocol="0" address={quoteattr(address)} date="{when}" type="{kind}" subject="null" '
        f'body={quoteattr(body)} toa="null" sc_toa="null" service_center="null" read="1" status="-1" '
        f'locked="0" date_sent="0" sub_id="1" readable_date="x" contact_name={quoteattr(contact)} />\n'
    )


def mms(when: int, box: int, address: str, addrs: list[tuple[str, int]], parts: list[dict[str, str]], contact: str = "(Unknown)") -> str:
    part_xml = "".join(
        "      <part " + " ".join(f"{k}={quoteattr(v)}" for k, v in part.items()) + " />\n" for part in parts
    )
    addr_xml = "".join(f'      <addr address={quoteattr(a)} type="{t}" charset="106" />\n' for a, t in addrs)
    return (
        f'  <mms date="{when}" rr="null" sub="null" ct_t="application/vnd.wap.multipart.related" read_status="null" '
        f'seen="1" msg_box="{box}" address={quoteattr(address)} sub_cs="null" resp_st="null" retr_st="null" d_tm="null" '
        f'text_only="0" exp="null" locked="0" m_id="null" st="null" retr_txt_cs="null" retr_txt="null" creator="com.google.android.apps.messaging" '
        f'date_sent="0" read="1" m_size="null" rpt_a="null" ct_cls="null" pri="null" sub_id="1" tr_id="null" resp_txt="null" '
        f'ct_l="null" m_cls="personal" d_rpt="null" v="18" _id="1" m_type="{128 if box == 2 else 132}" readable_date="x" contact_name={quoteattr(contact)}>\n'
        f"    <parts>\n{part_xml}    </parts>\n    <addrs>\n{addr_xml}    </addrs>\n  </mms>\n"
    )


def smil() -> dict[str, str]:
    return {"seq": "-1", "ct": "application/smil", "name": "null", "chset": "null", "cl": "smil.xml", "text": "<smil><body/></smil>"}


def backup(tmp_path: Path, elements: list[str], name: str = "sms-20240509090000.xml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + f'<smses count="{len(elements)}" backup_set="5c1d" backup_date="1715259600000" type="full">\n' + "".join(elements) + "</smses>\n", encoding="utf-8")
    return path


# Instants around the school-year boundary, district time (America/New_York, EDT in summer).
JUNE_30_LATE = dt.datetime(2023, 6, 30, 23, 30, 0, 250000, tzinfo=NY)  # 2023-07-01 03:30Z: still 2022-23
JULY_1_EARLY = dt.datetime(2023, 7, 1, 0, 15, 0, 750000, tzinfo=NY)  # 2023-07-01 04:15Z: 2023-24
JUNE_1 = dt.datetime(2023, 6, 1, 15, 0, tzinfo=NY)
AUGUST = dt.datetime(2023, 8, 20, 9, 0, tzinfo=NY)


@pytest.fixture
def conversation(tmp_path: Path) -> Path:
    return backup(
        tmp_path,
        [
            sms("(617) 555-0134", ms(JUNE_1), 1, "Is the field trip still on?", "Ana Rivera"),
            sms("+16175550134", ms(JUNE_30_LATE), 2, "Yes, 8am & bring lunch", "Ana Rivera"),
            sms("+16175550134", ms(JULY_1_EARLY), 1, "Thanks! \U0001F600", "Ana Rivera"),
            sms("617.555.0134", ms(AUGUST), 2, "See you in September", "Ana Rivera"),
            sms("+1 508 555 0100", ms(AUGUST) + 1, 1, "Who is this?"),
            sms("+1 508 555 0100", ms(AUGUST) + 2, 3, "Mr. Cole from school (draft)"),
            sms("+1 508 555 0100", ms(AUGUST) + 3, 5, "Mr. Cole from school"),
        ],
    )


# --------------------------------------------------------------------------- detection


def test_score_claims_smses_after_prolog_bom_comments_and_doctype() -> None:
    assert score_head(HEADER.encode() + b"<smses count='0'></smses>") == 1.0
    assert score_head(b"\xef\xbb\xbf<?xml version='1.0'?>\n<smses>") == 1.0
    assert score_head(b'<!DOCTYPE smses [<!ENTITY a "b">]><smses>&a;</smses>') == 1.0
    assert score_head(b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "x.dtd"><smses/>') == 1.0
    assert score_head(b"<?xml version='1.0'?><calls count='3'>") == 0.0
    assert score_head(b"<?xml version='1.0'?><rss><smses/></rss>") == 0.0
    assert score_head(b"From a@b Tue Aug 08 12:36:29 +0000 2023\n") == 0.0
    assert score_head(b"") == 0.0


def test_detection_picks_the_sms_reader_by_content(conversation: Path) -> None:
    renamed = conversation.rename(conversation.with_suffix(".txt"))
    found = sniff(renamed)
    assert found.mime == "text/xml"
    assert registry.choose(found).name == "sms"


# --------------------------------------------------------------------------- record units


def test_one_item_per_normalised_counterpart_and_school_year(conversation: Path) -> None:
    extraction = READER.read(sniff(conversation), ReadOptions())
    assert extraction.reader == "sms"
    assert extraction.problems == []
    by_locator = {item.locator: item for item in units(extraction)}
    # The earliest message of each part decides how the locator writes the counterpart.
    assert sorted(by_locator) == ["(617) 555-0134#2022-23", "+1 508 555 0100#2023-24", "+16175550134#2023-24"]
    june, july, stranger = by_locator["(617) 555-0134#2022-23"], by_locator["+16175550134#2023-24"], by_locator["+1 508 555 0100#2023-24"]
    assert {i.format for i in by_locator.values()} == {"sms-thread"}
    assert june.dedupe_key == "sms:+16175550134#2022-23"
    assert july.dedupe_key == "sms:+16175550134#2023-24"
    assert stranger.dedupe_key == "sms:+15085550100#2023-24"

    # June 30 23:30 in Boston is July 1 in UTC: still the old school year.
    assert [m.text for m in june.messages] == ["Is the field trip still on?", "Yes, 8am & bring lunch"]
    assert june.sent_at_last == dt.datetime(2023, 7, 1, 3, 30, 0, 250000, tzinfo=dt.UTC)
    assert june.sent_at_last.utcoffset() == dt.timedelta(0)
    assert [m.text for m in july.messages] == ["Thanks! \U0001F600", "See you in September"]
    assert july.sent_at_first == dt.datetime(2023, 7, 1, 4, 15, 0, 750000, tzinfo=dt.UTC)

    first, reply = june.messages
    assert (first.sender_name, first.sender_address, first.message_id) == ("Ana Rivera", "+16175550134", None)
    assert (reply.sender_name, reply.sender_address) == ("Me", None)
    assert [p.to_json() for p in june.participants] == [{"name": "Ana Rivera", "address": "+16175550134", "role": "unknown"}]
    assert june.owner is None  # the backup never says the owner's number; no MMS told us either
    assert stranger.participants[0].name is None  # "(Unknown)"

    assert june.text.splitlines() == [
        "2023-06-01 19:00:00Z  Ana Rivera: Is the field trip still on?",
        "2023-07-01 03:30:00Z  Me: Yes, 8am & bring lunch",
    ]
    document = json.loads(june.content)
    assert document["format"] == "sms-thread"
    assert document["counterpart"] == "(617) 555-0134"
    assert document["messages"] == [m.to_json() for m in june.messages]


def test_drafts_and_failed_messages_are_kept_and_counted(conversation: Path) -> None:
    stranger = next(i for i in units(read_backup(conversation)) if i.dedupe_key == "sms:+15085550100#2023-24")
    assert [m.text for m in stranger.messages] == ["Who is this?", "Mr. Cole from school (draft)", "Mr. Cole from school"]
    assert [e.to_json() for e in stranger.evidence] == [
        {"kind": "message_status", "detail": "kept, not delivered: 1 draft, 1 failed", "weight": 1.0}
    ]


def test_time_zone_is_a_parameter(conversation: Path) -> None:
    assert sms_backup.DEFAULT_TIMEZONE == "America/New_York"
    utc = {i.locator for i in units(read_backup(conversation, timezone="UTC"))}
    assert "+16175550134#2023-24" in utc and "(617) 555-0134#2022-23" in utc
    july = next(i for i in units(read_backup(conversation, timezone="UTC")) if i.locator == "+16175550134#2023-24")
    assert [m.text for m in july.messages][0] == "Yes, 8am & bring lunch"  # 03:30Z is July 1 in UTC


def test_mms_text_and_image_parts_make_an_attachment_child(tmp_path: Path) -> None:
    when = ms(dt.datetime(2023, 10, 3, 16, 5, 9, 123000, tzinfo=NY))
    path = backup(
        tmp_path,
        [
            sms("6175550134", when - 60_000, 2, "Can you send the permission slip?"),
            mms(
                when,
                1,
                "+16175550134",
                [("+16175550134", 137), ("+15085550199", 151)],
                [
                    smil(),
                    {"seq": "0", "ct": "text/plain", "name": "null", "chset": "106", "cl": "txt000000.txt", "text": "Here it is"},
                    {"seq": "0", "ct": "image/png", "name": "slip.png", "chset": "null", "cl": "slip.png", "data": base64.b64encode(PNG).decode()},
                    {"seq": "0", "ct": "application/pdf", "name": "null", "chset": "null", "cl": "form.pdf", "data": base64.b64encode(PDF).decode()},
                ],
                contact="Ana Rivera",
            ),
            mms(
                when + 1000,
                2,
                "+16175550134",
                [("insert-address-token", 137), ("+16175550134", 151)],
                [{"seq": "0", "ct": "image/png", "name": "slip.png", "data": base64.b64encode(PNG[::-1]).decode()}],
            ),
        ],
    )
    extraction = read_backup(path)
    assert extraction.problems == []
    (item,) = units(extraction)
    assert item.locator == "6175550134#2023-24"
    assert [(m.sender_name, m.text, m.attachments) for m in item.messages] == [
        ("Me", "Can you send the permission slip?", ()),
        ("Ana Rivera", "Here it is", ("slip.png", "form.pdf")),
        ("Me", "", ("slip.png",)),
    ]
    assert item.messages[1].sent_at == dt.datetime(2023, 10, 3, 20, 5, 9, 123000, tzinfo=dt.UTC)
    # The number the MMS was addressed to, beyond the app's own ``address`` list, is the owner's.
    assert item.owner is not None and item.owner.address == "+15085550199"
    assert [(c.format, c.name, c.locator, c.content, c.text) for c in item.children] == [
        ("attachment", "slip.png", "6175550134#2023-24/slip.png", PNG, ""),
        ("attachment", "form.pdf", "6175550134#2023-24/form.pdf", PDF, ""),
        ("attachment", "slip (2).png", "6175550134#2023-24/slip (2).png", PNG[::-1], ""),
    ]
    assert item.children[0].dedupe_key == "sms:+16175550134#2023-24/slip.png"


def test_group_mms_is_its_own_conversation_keyed_by_the_sorted_other_numbers(tmp_path: Path) -> None:
    when = ms(dt.datetime(2024, 2, 1, 12, 0, tzinfo=NY))
    path = backup(
        tmp_path,
        [
            mms(when, 2, "+16175550188~+16175550134", [("+15085550199", 137), ("+16175550188", 151), ("+16175550134", 151)],
                [{"seq": "0", "ct": "text/plain", "text": "Reminder: practice at 4"}], contact="Ben Ortiz, Ana Rivera"),
            mms(when + 5000, 1, "(617) 555-0134~(617) 555-0188", [("(617) 555-0134", 137), ("+15085550199", 151), ("(617) 555-0188", 151)],
                [{"seq": "0", "ct": "text/plain", "text": "ok"}], contact="Ana Rivera, Ben Ortiz"),
            sms("+16175550134", when + 9000, 1, "(private reply)", "Ana Rivera"),
        ],
    )
    items = {i.dedupe_key: i for i in units(read_backup(path))}
    assert set(items) == {"sms:+16175550134~+16175550188#2023-24", "sms:+16175550134#2023-24"}
    group = items["sms:+16175550134~+16175550188#2023-24"]
    assert group.locator == "+16175550134~+16175550188#2023-24"
    assert [(m.sender_name, m.sender_address, m.text) for m in group.messages] == [
        ("Me", None, "Reminder: practice at 4"),
        ("Ana Rivera", "+16175550134", "ok"),
    ]
    assert [p.to_json() for p in group.participants] == [
        {"name": "Ana Rivera", "address": "+16175550134", "role": "unknown"},
        {"name": "Ben Ortiz", "address": "+16175550188", "role": "unknown"},
        {"name": None, "address": "+15085550199", "role": "unknown"},
    ]
    assert group.owner is not None and group.owner.address == "+15085550199"


# --------------------------------------------------------------------------- damage


def test_malformed_elements_are_skipped_and_named(tmp_path: Path) -> None:
    path = backup(
        tmp_path,
        [
            sms("+16175550134", ms(JUNE_1), 1, "kept"),
            '  <sms address="+16175550134" type="1" body="no date" />\n',
            '  <sms address="null" date="1685646000000" type="1" body="no address" />\n',
            sms("+16175550134", ms(JUNE_1) + 1, 1, "kept too"),
        ],
    )
    extraction = read_backup(path)
    assert extraction.problems == ["message at element 2 skipped: no readable date", "message at element 3 skipped: no usable address"]
    assert [m.text for m in units(extraction)[0].messages] == ["kept", "kept too"]


def test_truncated_backup_keeps_what_was_read(tmp_path: Path) -> None:
    whole = backup(tmp_path, [sms("+16175550134", ms(JUNE_1) + i, 1, f"message {i}") for i in range(5)]).read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(whole[: whole.index(b"message 3") - 40])
    found = sniff(cut)
    reader = registry.choose(found)
    extraction = reader.read(found, ReadOptions())
    assert [m.text for m in units(extraction)[0].messages] == ["message 0", "message 1", "message 2"]
    assert extraction.problems == ["the backup ends early (XML cut off after 3 messages)"]
    whole_file = extract(cut, ReadOptions())  # through detection, as the ingest flow reads it
    assert (whole_file.status, whole_file.reason) == ("partial", "the backup ends early (XML cut off after 3 messages)")


@pytest.mark.parametrize(
    "content, kind",
    [
        (HEADER + "<smses count='3'>\n<sms address=", "damaged"),
        ("<smses count='0'>\n</smses>\n", "empty"),
        ("<?xml version='1.0'?>\n<calls count='1'><call number='1' duration='3' date='1' type='1' /></calls>", "unsupported"),
    ],
)
def test_unreadable_backups_are_quarantined(tmp_path: Path, content: str, kind: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content)
    with pytest.raises(Quarantine) as stop:
        read_backup(path)
    assert stop.value.kind == kind
    assert stop.value.reason


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE smses [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n<smses count=\"1\"><sms address=\"+16175550134\" date=\"1685646000000\" type=\"1\" body=\"&lol9;\" /></smses>\n"
)
EXTERNAL = (
    '<?xml version="1.0"?>\n<!DOCTYPE smses [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<smses count="1"><sms address="+16175550134" date="1685646000000" type="1" body="&xxe;" /></smses>\n'
)
DTD_ONLY = '<?xml version="1.0"?>\n<!DOCTYPE smses SYSTEM "http://example.invalid/sms.dtd">\n<smses count="0"></smses>\n'


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL, DTD_ONLY], ids=["billion-laughs", "external-entity", "dtd"])
def test_dtds_and_entities_are_refused_fast_with_bounded_memory(tmp_path: Path, content: str) -> None:
    path = tmp_path / "attack.xml"
    path.write_text(content)
    assert READER.score(sniff(path)) == 1.0  # claimed, so the refusal says why
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(Quarantine) as stop:
            READER.read(sniff(path), ReadOptions())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 5 * 1024**2
    assert stop.value.kind == "unsafe"
    assert stop.value.reason == "SMS backup contains a DTD or entity declarations; refused (XML attack); export it again"
    assert extract(path, ReadOptions()).status == "quarantined"


def test_surrogate_pair_references_and_bad_characters_are_repaired(tmp_path: Path) -> None:
    # What Android's serializer writes for emoji, a lone surrogate, a control character, bad UTF-8.
    body_xml = 'Yup &#55357;&#56396; ok &#xD83D;&#xDE00; lone &#56396; ctl &#1; raw \x02 end'
    path = tmp_path / "emoji.xml"
    path.write_bytes(
        (HEADER + f'<smses count="1"><sms address="+16175550134" date="1685646000000" type="1" body="{body_xml}" contact_name="(Unknown)" />'
         ).encode() + b'<sms address="+16175550134" date="1685646000001" type="1" body="caf\xe9" /></smses>'
    )
    extraction = read_backup(path)
    texts = [m.text for m in units(extraction)[0].messages]
    assert texts == ["Yup \U0001F44C ok \U0001F600 lone \ufffd ctl \ufffd raw \ufffd end", "caf\ufffd"]
    assert "4 invalid characters repaired" in extraction.detected


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16])
def test_repair_stream_is_independent_of_chunk_boundaries(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "<a b='é &#55357;&#56832; &amp; &#x1F600; &#55357;'>ß&#1;</a>".encode()
    expected = "<a b='é &#128512; &amp; &#x1F600; &#65533;'>ß&#65533;</a>".encode()
    monkeypatch.setattr(sms_backup._RepairingStream, "CHUNK", chunk)
    stream = sms_backup._RepairingStream(io.BytesIO(source))
    out = b""
    while block := stream.read(16384):
        out += block
    assert out == expected


# --------------------------------------------------------------------------- scale


def _big_backup(path: Path, count: int = 100_000) -> Path:
    start = ms(dt.datetime(2020, 9, 1, 8, 0, tzinfo=NY))
    step = 1_200_000  # 20 minutes: 100,000 messages span four school years
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + f'<smses count="{count}">\n')
        for i in range(count):
            number = f"+1617555{i % 50:04d}"
            out.write(sms(number, start + i * step + i % 1000, 1 + i % 2, f"Message {i}: about homework for week {i % 36}", f"Parent {i % 50}"))
        out.write("</smses>\n")
    return path


@pytest.fixture(scope="module")
def big_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _big_backup(tmp_path_factory.mktemp("big") / "big.xml")


def test_a_100000_message_backup_streams_in_bounded_memory(big_backup: Path) -> None:
    tracemalloc.start()
    try:
        extraction = READER.read(sniff(big_backup), ReadOptions())
        _, after_parse = tracemalloc.get_traced_memory()
        parts = messages = 0
        for item in extraction.items:  # consumed the way the ingest flow does: part by part
            parts += 1
            messages += len(item.messages)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n100,000 messages, {big_backup.stat().st_size / 1024**2:.1f} MB file: traced peak {peak / 1024**2:.1f} MB (after parsing {after_parse / 1024**2:.1f} MB)")
    assert extraction.problems == []
    assert messages == 100_000
    assert parts == 50 * 4
    assert peak < 60 * 1024**2


def test_a_100000_message_backup_reads_quickly(big_backup: Path) -> None:
    started = time.monotonic()  # untraced: tracemalloc alone slows parsing several times
    extraction = READER.read(sniff(big_backup), ReadOptions())
    items = list(extraction.items)
    elapsed = time.monotonic() - started
    print(f"\n100,000 messages read in {elapsed:.1f} s")
    assert sum(len(i.messages) for i in items) == 100_000
    assert elapsed < 60
