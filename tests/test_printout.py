"""Printed emails, posts and chats: who and when, as the page says (records.intake.printout)."""

from __future__ import annotations

import datetime as dt

import pytest

from records.intake.model import Evidence, Item, Page, Participant
from records.intake.printout import apply_printout_facts, normalise_email, normalise_phone

UTC = dt.timezone.utc

NAMES = ("Elena", "Marsh", "Ana", "Rivera", "Brian", "Costello", "Maya", "Principal", "coach")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def item_of(text: str = "", pages: list[str] | None = None) -> Item:
    return Item(
        format="printout-scan",
        locator=None,
        text=text or "\f".join(pages or []),
        pages=[Page(number=n + 1, text=t, ocr=True) for n, t in enumerate(pages or [])],
    )


def facts(
    text: str = "", pages: list[str] | None = None, file_modified: dt.datetime | None = None
) -> Item:
    item = apply_printout_facts(item_of(text, pages), file_modified=file_modified)
    for ev in item.evidence:  # evidence goes into the audit log: positions, never content
        assert "@" not in ev.detail, ev
        assert not any(name.casefold() in ev.detail.casefold() for name in NAMES), ev
        assert "555" not in ev.detail and "2024" not in ev.detail, ev
    return item


def kinds(item: Item, kind: str) -> list[Evidence]:
    return [ev for ev in item.evidence if ev.kind == kind]


OUTLOOK = """\
Brian Costello
From: Elena Marsh <EMarsh@Schools.Example.org>
Sent: Tuesday, March 5, 2024 3:14 PM
To: 'Ana Rivera' <ana.rivera@example.net>; Brian Costello
Cc: Costello, Brian <bcostello@schools.example.org>; Principal Office <office@schools.example.org>
Subject: Field trip permission

Hi Ana,
The trip is on Friday, March 15, 2024 at 9:00 AM.
Date: March 15, 2024
Note: bring lunch.
Maya Rivera: she will be there
Elena
"""


def test_outlook_print() -> None:
    item = facts(OUTLOOK)
    assert item.participants == [
        Participant("Elena Marsh", "emarsh@schools.example.org"),
        Participant("Ana Rivera", "ana.rivera@example.net"),
        Participant("Brian Costello", "bcostello@schools.example.org"),
        Participant("Principal Office", "office@schools.example.org"),
    ]
    # The body's trip date and its "Date:" line are not the sent date.
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 20, 14)
    assert item.sent_at_first.tzinfo is UTC
    assert Evidence("date", "header 'Sent:' line 3", 0.9) in item.evidence
    assert Evidence("participants", "header 'From:' line 2", 0.9) in item.evidence
    assert {ev.detail for ev in kinds(item, "participants")} == {
        "header 'From:' line 2",
        "header 'To:' line 4",
        "header 'Cc:' line 5",
    }
    assert not kinds(item, "print_header") and not kinds(item, "date_fallback")


GMAIL_PAGE_1 = """\
3/14/24, 10:02 AM    Gmail - Field trip permission

Gmail    Brian Costello <bcostello@gmail.com>

Field trip permission
1 message

Elena Marsh <emarsh@schools.example.org>    Tue, Mar 5, 2024 at 3:14 PM
To: Ana Rivera <ana.rivera@example.net>

Hi Ana,
Please sign the form.

https://mail.google.com/mail/u/0/#inbox/FMfcgzGxyzABC?projector=1    1/2
"""
GMAIL_PAGE_2 = """\
3/14/24, 10:02 AM    Gmail - Field trip permission

Thanks,
Elena

https://mail.google.com/mail/u/0/#inbox/FMfcgzGxyzABC?projector=1    2/2
"""


def test_gmail_print_ignores_browser_header_and_footer() -> None:
    item = facts(pages=[GMAIL_PAGE_1, GMAIL_PAGE_2])
    printed = utc(2024, 3, 14, 14, 2)  # 10:02 AM EDT, the print time
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 20, 14)  # 3:14 PM EST
    assert printed not in (item.sent_at_first, item.sent_at_last)
    assert {(p.name, p.address) for p in item.participants} == {
        ("Elena Marsh", "emarsh@schools.example.org"),
        ("Ana Rivera", "ana.rivera@example.net"),
        ("Brian Costello", "bcostello@gmail.com"),
    }
    assert kinds(item, "print_header") == [
        Evidence("print_header", "browser print header on page 1 ignored", 0.0),
        Evidence("print_header", "browser print footer on page 1 ignored", 0.0),
        Evidence("print_header", "browser print header on page 2 ignored", 0.0),
        Evidence("print_header", "browser print footer on page 2 ignored", 0.0),
    ]
    assert [ev.detail for ev in kinds(item, "date")] == ["header 'sender' date line 8 on page 1"]


def test_gmail_print_as_one_text_without_page_breaks() -> None:
    item = facts(GMAIL_PAGE_1 + GMAIL_PAGE_2)
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 20, 14)
    assert kinds(item, "print_header")


def test_gmail_thread_with_date_on_the_next_line() -> None:
    text = """\
Field trip permission
2 messages

Elena Marsh <emarsh@schools.example.org>
Tue, Mar 5, 2024 at 3:14 PM
To: Ana Rivera <ana.rivera@example.net>

Please sign the form.

Ana Rivera <ana.rivera@example.net>    Wed, Mar 6, 2024 at 7:30 AM
To: Elena Marsh <emarsh@schools.example.org>

Signed, thank you.
"""
    item = facts(text)
    assert item.participants == [
        Participant("Elena Marsh", "emarsh@schools.example.org"),
        Participant("Ana Rivera", "ana.rivera@example.net"),
    ]
    assert (item.sent_at_first, item.sent_at_last) == (utc(2024, 3, 5, 20, 14), utc(2024, 3, 6, 12, 30))
    assert Evidence("date", "header 'sender' date line 5", 0.85) in item.evidence


def test_print_date_alone_at_top_of_page_with_footer_is_ignored() -> None:
    page = "3/14/24, 10:02 AM\nTue, Mar 5 at 3:14 PM\nhello\nabout:blank\n"
    modified = utc(2024, 3, 14, 14, 3)
    item = facts(pages=[page], file_modified=modified)
    # The only full date is the print date; the year-less chat date is not guessed.
    assert item.sent_at_first == item.sent_at_last == modified
    assert kinds(item, "date_fallback")


def test_whatsapp_style_first_line_is_a_message_not_a_print_header() -> None:
    item = facts("3/5/24, 3:14 PM - Maya Rivera: see you at practice\n3/5/24, 3:20 PM - Me: ok\n")
    assert item.participants == [Participant("Maya Rivera", None)]
    assert (item.sent_at_first, item.sent_at_last) == (utc(2024, 3, 5, 20, 14), utc(2024, 3, 5, 20, 20))
    assert not kinds(item, "print_header")


OUTLOOK_FORWARD = """\
From: Brian Costello <bcostello@schools.example.org>
Sent: Wednesday, March 6, 2024 9:05 AM
To: Records Office <records@schools.example.org>
Subject: FW: Field trip

FYI, see below.

-----Original Message-----
From: Elena Marsh [mailto:emarsh@schools.example.org]
Sent: Tuesday, March 5, 2024 3:14 PM
To: Brian Costello
Subject: Field trip

Is the bus confirmed?
"""

GMAIL_FORWARD = """\
Brian Costello <bcostello@gmail.com>    Wed, Mar 6, 2024 at 9:05 AM
To: records@schools.example.org

---------- Forwarded message ---------
From: Elena Marsh <emarsh@schools.example.org>
Date: Tue, Mar 5, 2024 at 3:14 PM
Subject: Field trip
To: Brian Costello <bcostello@gmail.com>

> Is the bus confirmed?
> On Mon, Mar 4, 2024 at 8:00 AM Ana Rivera <ana.rivera@example.net>
> wrote:
>> Hello
"""

APPLE_FORWARD = """\
From: Brian Costello <bcostello@schools.example.org>
Subject: Fwd: Field trip
Date: March 6, 2024 at 9:05:00 AM EST
To: records@schools.example.org

Begin forwarded message:

From: Elena Marsh <emarsh@schools.example.org>
Subject: Field trip
Date: March 5, 2024 at 3:14:22 PM EST
To: Brian Costello <bcostello@schools.example.org>
"""


def test_outlook_forward_chain() -> None:
    item = facts(OUTLOOK_FORWARD)
    assert item.sent_at_first == utc(2024, 3, 5, 20, 14)  # the original
    assert item.sent_at_last == utc(2024, 3, 6, 14, 5)  # the forward itself
    assert item.participants == [
        Participant("Brian Costello", "bcostello@schools.example.org"),
        Participant("Records Office", "records@schools.example.org"),
        Participant("Elena Marsh", "emarsh@schools.example.org"),
    ]
    assert [ev.detail for ev in kinds(item, "date")] == [
        "header 'Sent:' line 2",
        "header 'Sent:' line 10",
    ]


def test_gmail_forward_chain_with_quoted_reply() -> None:
    item = facts(GMAIL_FORWARD)
    assert item.sent_at_first == utc(2024, 3, 4, 13, 0)  # "On ... wrote:" inside the original
    assert item.sent_at_last == utc(2024, 3, 6, 14, 5)
    assert {p.address for p in item.participants} == {
        "bcostello@gmail.com",
        "records@schools.example.org",
        "emarsh@schools.example.org",
        "ana.rivera@example.net",
    }
    assert Evidence("date", "header 'Date:' line 6", 0.9) in item.evidence
    assert Evidence("date", "quote attribution line 11", 0.8) in item.evidence


def test_apple_mail_forward_chain() -> None:
    item = facts(APPLE_FORWARD)
    assert item.sent_at_first == utc(2024, 3, 5, 20, 14, 22)
    assert item.sent_at_last == utc(2024, 3, 6, 14, 5)


IMESSAGE = """\
<  +1 (617) 555-0134  >
iMessage
Tuesday, March 5, 2024
3:14 PM
Are you coming to practice?
Yes, see you there
Delivered
Wed, Mar 6 at 8:00 AM
Sure
Wednesday, March 6, 2024
8:02 AM
Running late, call me at 617-555-0199
Read 8:05 AM
Today 9:41 AM
New phone who dis
"""


def test_imessage_screenshot() -> None:
    item = facts(IMESSAGE)
    # The number in a message body is content, not a participant.
    assert item.participants == [Participant(None, "+16175550134")]
    assert item.sent_at_first == utc(2024, 3, 5, 20, 14)
    # "Wed, Mar 6" has no year and "Today" has no date: their times are not guessed.
    assert item.sent_at_last == utc(2024, 3, 6, 13, 5)
    assert Evidence("date", "chat timestamps (3 found)", 0.7) in item.evidence
    assert Evidence("participants", "phone number line 1", 0.7) in item.evidence


def test_sms_with_sender_prefixes_and_ocr_noise() -> None:
    text = """\
(6l7) 555-Ol34
Tuesday, March 5, 2O24
Me: are you at the field?
(617) 555-0134: yes
Me: ok
"""
    item = facts(text)
    assert item.participants == [Participant(None, "+16175550134")]
    # A day separator with no times: the day itself, at local midnight.
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 5, 0)


MESSENGER = """\
3/14/24, 10:02 AM    Messenger | Facebook
Maya Rivera
Mar 5, 2024, 3:14 PM
see you at practice
do I need cleats?

Brian Costello
Mar 5, 2024, 3:20 PM
yes, bring them

Maya Rivera
Mar 6, 2024, 7:45 AM
Thanks Coach
https://www.facebook.com/messages/t/1234567890    1/1
"""


def test_messenger_printout() -> None:
    item = facts(pages=[MESSENGER])
    assert item.participants == [Participant("Maya Rivera", None), Participant("Brian Costello", None)]
    assert item.sent_at_first == utc(2024, 3, 5, 20, 14)
    assert item.sent_at_last == utc(2024, 3, 6, 12, 45)
    assert Evidence("date", "chat timestamps (3 found)", 0.7) in item.evidence
    assert len(kinds(item, "print_header")) == 2


def test_chat_lines_with_names_handles_and_me() -> None:
    text = """\
Tuesday, March 5, 2024
Maya Rivera: see you at practice
Me: ok, bring your cleats
[3/5/24, 3:20 PM] Maya Rivera: will do
@coach_b: hello
You: bye
"""
    item = facts(text)
    assert item.participants == [Participant("Maya Rivera", None), Participant("@coach_b", None)]
    assert all(p.name not in ("Me", "You") for p in item.participants)
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 20, 20)


def test_ocr_noisy_headers() -> None:
    text = """\
Frorn: Elena Marsh <emarsh@schools.example.org>
Sent : Tuesday, March 5, 2O24 3:l4 PM
T0: Ana Rivera <ana.rivera@example.net>
5ubject: Field trip
"""
    item = facts(text)
    assert item.participants == [
        Participant("Elena Marsh", "emarsh@schools.example.org"),
        Participant("Ana Rivera", "ana.rivera@example.net"),
    ]
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 5, 20, 14)
    assert Evidence("participants", "header 'From:' line 1", 0.8) in item.evidence
    assert Evidence("date", "header 'Sent:' line 2", 0.9) in item.evidence


def test_no_date_falls_back_to_file_modified() -> None:
    modified = dt.datetime(2024, 3, 7, 12, 0)  # naive: local (EST)
    item = facts("Please bring the signed form by Friday.\nThanks!", file_modified=modified)
    assert item.sent_at_first == item.sent_at_last == utc(2024, 3, 7, 17, 0)
    assert item.evidence == [
        Evidence("date_fallback", "no date printed on the page; file modification time used", 0.2)
    ]


def test_no_date_and_no_file_time_leaves_dates_empty() -> None:
    item = facts("Please bring the signed form by Friday.")
    assert item.sent_at_first is None and item.sent_at_last is None
    assert not kinds(item, "date_fallback")


def test_summer_date_is_edt() -> None:
    item = facts("From: Elena Marsh <emarsh@schools.example.org>\nSent: Friday, July 12, 2024 10:00 AM\nTo: Ana Rivera\n")
    assert item.sent_at_first == utc(2024, 7, 12, 14, 0)  # UTC-4
    assert Participant("Ana Rivera", None) in item.participants


@pytest.mark.parametrize(
    ("date_line", "expected"),
    [
        ("Date: Tue, 5 Mar 2024 15:14:00 +0000", utc(2024, 3, 5, 15, 14)),
        ("Date: March 5, 2024 at 3:14 PM GMT", utc(2024, 3, 5, 15, 14)),
        ("Date: March 5, 2024 at 3:14:22 PM PST", utc(2024, 3, 5, 23, 14, 22)),
        ("Date: 2024-03-05T15:14:00-05:00", utc(2024, 3, 5, 20, 14)),
        ("Date: 2024-03-05T15:14:00Z", utc(2024, 3, 5, 15, 14)),
        ("Sent: Tue 3/5/2024 3:14 PM (GMT-06:00)", utc(2024, 3, 5, 21, 14)),
        ("Date: Friday, July 12, 2024 at 10:00 AM EST", utc(2024, 7, 12, 15, 0)),  # as printed
    ],
)
def test_explicit_zones_are_honoured(date_line: str, expected: dt.datetime) -> None:
    item = facts(f"From: Elena Marsh <emarsh@schools.example.org>\n{date_line}\nTo: Ana Rivera\n")
    assert item.sent_at_first == item.sent_at_last == expected


def test_other_timezone() -> None:
    item = item_of("From: Elena Marsh\nSent: Tuesday, March 5, 2024 3:14 PM\nTo: Ana Rivera\n")
    apply_printout_facts(item, file_modified=None, timezone="America/Los_Angeles")
    assert item.sent_at_first == utc(2024, 3, 5, 23, 14)


def test_wrapped_recipients_bcc_reply_to_and_me() -> None:
    text = """\
From: Elena Marsh <emarsh@schools.example.org>
Sent: Tuesday, March 5, 2024 3:14 PM
To: Ana Rivera <ana.rivera@example.net>; me; Brian Costello <bc@example.org>;
Carla Diaz <carla@example.org>
Bcc: dan@example.org
Reply-To: office@schools.example.org
Subject: x
"""
    item = facts(text)
    assert [p.address for p in item.participants] == [
        "emarsh@schools.example.org",
        "ana.rivera@example.net",
        "bc@example.org",
        "carla@example.org",
        "dan@example.org",
        "office@schools.example.org",
    ]
    assert all(p.role == "unknown" for p in item.participants)


def test_existing_participants_are_kept_and_merged() -> None:
    item = item_of("From: Elena Marsh <emarsh@schools.example.org>\nSent: March 5, 2024 3:14 PM\nTo: Ana Rivera\n")
    item.participants = [Participant(None, "emarsh@schools.example.org"), Participant("ana rivera", None)]
    apply_printout_facts(item, file_modified=None)
    assert item.participants == [
        Participant("Elena Marsh", "emarsh@schools.example.org"),
        Participant("ana rivera", None),
    ]
    again = list(item.evidence)
    apply_printout_facts(item, file_modified=None)
    assert item.evidence == again  # running twice adds nothing


def test_returns_the_same_item() -> None:
    item = item_of("hello")
    assert apply_printout_facts(item, file_modified=None) is item


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("+1 (617) 555-0134", "+16175550134"),
        ("(617) 555-0134", "+16175550134"),
        ("617.555.0134", "+16175550134"),
        ("1-617-555-0134", "+16175550134"),
        ("+44 20 7946 0958", "+442079460958"),
        ("555-0134", None),
        ("(017) 555-0134", None),
        ("12345", None),
    ],
)
def test_normalise_phone(printed: str, expected: str | None) -> None:
    assert normalise_phone(printed) == expected


def test_normalise_email() -> None:
    assert normalise_email("<EMarsh@Schools.Example.org>") == "emarsh@schools.example.org"
    assert normalise_email("mailto:a@b.org") == "a@b.org"
    assert normalise_email("@maya_r") is None
