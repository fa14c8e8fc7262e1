"""The X archive reader: DMs and posts as school-year record units, old layouts, hostile zips.

Fixtures are written here following the archive's real layout (``data/*.js`` files that
start ``window.YTD.<name>.part0 =``, ``dmConversation``/``messageCreate``, ``tweet`` with
``id_str``/``full_text``/classic ``created_at``, ``noteTweet``, Grailbird
``data/js/tweets/YYYY_MM.js`` and ``tweets.csv``). Ids are 18–19 digits, beyond 2^53,
so any trip through a float would change them.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from records.intake import registry
from records.intake.model import Quarantine, ReadOptions
from records.intake.readers import x_archive
from records.intake.readers.x_archive import XArchiveReader, parse_time, read_archive
from records.intake.registry import sniff

READER = XArchiveReader()

OWNER = "1234567890123456789"
STUDENT = "987654321098765432"
PARENT = "1500000000000000017"
COACH = "1500000000000000029"
CONVERSATION = f"{OWNER}-{STUDENT}"
GROUP = "1598765432109876543"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200))

LONG_TEXT = (
    "Reminder for families: the science fair projects are due on Friday. Please make sure the "
    "display board, the written report and the safety form are all signed. Students who need "
    "extra materials can pick them up in Room 114 before school on Wednesday or Thursday."
)


def ytd(name: str, data: Any) -> str:
    return f"window.YTD.{name}.part0 = " + json.dumps(data, indent=2, ensure_ascii=False)


def dm(message_id: str, sender: str, recipient: str | None, text: str, created: str, media: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": message_id, "senderId": sender, "text": text, "createdAt": created,
                            "reactions": [], "urls": [], "mediaUrls": media or []}
    if recipient is not None:
        body["recipientId"] = recipient
    return {"messageCreate": body}


def tweet(tweet_id: str, text: str, created: str, mentions: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"tweet": {
        "edit_info": {"initial": {"editTweetIds": [tweet_id], "editableUntil": "2023-01-01T00:00:00.000Z", "editsRemaining": "5", "isEditEligible": True}},
        "retweeted": False, "source": "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
        "entities": {"hashtags": [], "symbols": [], "user_mentions": [
            {"name": m["name"], "screen_name": m["screen_name"], "indices": ["0", "5"], "id_str": m["id_str"], "id": m["id_str"]} for m in (mentions or [])
        ], "urls": []},
        "display_text_range": ["0", str(len(text))], "favorite_count": "0", "id_str": tweet_id, "truncated": False,
        "retweet_count": "0", "id": tweet_id, "created_at": created, "favorited": False, "full_text": text, "lang": "en",
        **extra,
    }}


DMS = [{"dmConversation": {"conversationId": CONVERSATION, "messages": [  # newest first, as exported
    dm("1675186200456789012", STUDENT, OWNER, "Thank you! See you in September", "2023-07-01T04:10:00.456Z"),
    dm("1675185000123456789", OWNER, STUDENT, "Yes, the lab report can be late. Check https://t.co/abc123",
       "2023-07-01T03:50:00.123Z", ["https://ton.twitter.com/dm/1675185000123456789/photo.jpg"]),
    dm("1655000000000000001", STUDENT, OWNER, "Can I hand in the lab report late?", "2023-05-10T18:00:00.000Z"),
]}}]
DMS[0]["dmConversation"]["messages"][1]["messageCreate"]["urls"] = [
    {"url": "https://t.co/abc123", "expanded": "https://school.example.org/lab", "display": "school.example.org/lab"}
]
GROUP_DMS = [{"dmConversation": {"conversationId": GROUP, "messages": [
    {"participantsLeave": {"userIds": [COACH], "createdAt": "2024-01-20T10:00:00.000Z"}},
    dm("1748000000000000002", PARENT, None, "Thanks coach", "2024-01-15T15:00:01.000Z"),
    dm("1748000000000000001", OWNER, None, "Practice moved to 4pm", "2024-01-15T15:00:00.000Z"),
    {"participantsJoin": {"initiatingUserId": OWNER, "userIds": [COACH], "createdAt": "2024-01-15T14:59:00.000Z"}},
    {"joinConversation": {"initiatingUserId": OWNER, "participantsSnapshot": [OWNER, PARENT], "createdAt": "2024-01-15T14:58:00.000Z"}},
]}}]
TWEETS = [
    tweet("1650000000000000003", "Great job at the robotics meet, @maya_r &amp; team!", "Wed May 10 20:19:24 +0000 2023",
          [{"name": "Maya R.", "screen_name": "maya_r", "id_str": STUDENT}]),
    tweet("1690000000000000005", "Welcome back, everyone!", "Mon Aug 28 12:00:00 +0000 2023",
          in_reply_to_user_id_str=PARENT, in_reply_to_screen_name="parent_p", in_reply_to_user_id=PARENT),
    tweet("1640000000000000001", LONG_TEXT[:250] + "… https://t.co/long1", "Fri Mar 17 13:05:09 +0000 2023"),
]
NOTES = [{"noteTweet": {"noteTweetId": "1640000000000000777", "updatedAt": "2023-03-17T13:05:09.000Z",
                        "lifecycle": {"value": "", "name": "", "originalName": "", "annotations": {}},
                        "createdAt": "2023-03-17T13:05:09.000Z",
                        "core": {"styletags": [], "urls": [], "text": LONG_TEXT, "mentions": [], "cashtags": [], "hashtags": []}}}]
ACCOUNT = [{"account": {"email": "t.cole@example.net", "createdVia": "web", "username": "MrColeScience",
                        "accountId": OWNER, "createdAt": "2015-02-01T12:00:00.000Z", "accountDisplayName": "Tom Cole"}}]


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def full_archive() -> dict[str, str | bytes]:
    return {
        "Your archive.html": "<html>...</html>",
        "assets/js/app.js": "console.log(1)",
        "data/manifest.js": "window.__THAR_CONFIG = {}",
        "data/account.js": ytd("account", ACCOUNT),
        "data/direct-messages.js": ytd("direct_messages", DMS),
        "data/direct-messages-group.js": ytd("direct_messages_group", GROUP_DMS),
        "data/tweets.js": ytd("tweets", TWEETS),
        "data/note-tweet.js": ytd("note_tweet", NOTES),
        "data/like.js": ytd("like", [{"like": {"tweetId": "1", "fullText": "x"}}]),
        "data/follower.js": ytd("follower", [{"follower": {"accountId": "5"}}]),
        "data/ad-engagements.js": ytd("ad_engagements", []),
        "data/direct_messages_media/1675185000123456789-photo.jpg": JPEG,
    }


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "twitter-2024-05-09-abcdef.zip", full_archive())


# --------------------------------------------------------------------------- detection


def test_score_by_content(archive: Path, tmp_path: Path) -> None:
    found = sniff(archive)
    assert READER.score(found) == 0.95
    assert registry.choose(found).name == "x"
    lone = tmp_path / "tweets.txt"
    lone.write_text(ytd("tweets", TWEETS))
    assert registry.choose(sniff(lone)).name == "x"
    old = tmp_path / "2014_05.js"
    old.write_text("Grailbird.data.tweets_2014_05 = \n[]")
    assert READER.score(sniff(old)) == 0.9
    other = write_zip(tmp_path / "other.zip", {"word/document.xml": "<w/>", "data/readme.txt": "x"})
    assert READER.score(sniff(other)) == 0.0
    text = tmp_path / "note.txt"
    text.write_text("window.location = 'x'")
    assert READER.score(sniff(text)) == 0.0


# --------------------------------------------------------------------------- record units


def test_archive_becomes_exact_record_units(archive: Path) -> None:
    extraction = READER.read(sniff(archive), ReadOptions())
    assert extraction.reader == "x"
    assert extraction.problems == []
    assert extraction.detected == "X archive: 2 DM conversations, 3 posts; 4 other data files not read"
    assert [(i.format, i.locator, i.dedupe_key) for i in extraction.items] == [
        ("x-dm-thread", f"{CONVERSATION}#2022-23", f"x-dm:{CONVERSATION}#2022-23"),
        ("x-dm-thread", f"{CONVERSATION}#2023-24", f"x-dm:{CONVERSATION}#2023-24"),
        ("x-dm-thread", f"{GROUP}#2023-24", f"x-dm:{GROUP}#2023-24"),
        ("x-posts", "x-posts#2022-23", f"x-posts:{OWNER}#2022-23"),
        ("x-posts", "x-posts#2023-24", f"x-posts:{OWNER}#2023-24"),
    ]
    owner = extraction.items[0].owner
    assert owner is not None and owner.to_json() == {"name": "Tom Cole", "address": f"x:{OWNER}", "role": "unknown"}
    for item in extraction.items:
        assert item.owner == owner
        assert [e.to_json() for e in item.evidence] == [{"kind": "owner", "detail": "account.js accountId", "weight": 1.0}]


def test_direct_messages_keep_ids_as_text_and_times_in_utc(archive: Path) -> None:
    items = {i.locator: i for i in read_archive(archive).items}
    spring = items[f"{CONVERSATION}#2022-23"]
    # 2023-07-01 03:50Z is June 30, 11:50 pm in Boston: the old school year.
    assert [(m.message_id, m.sender_name, m.sender_address, m.sent_at, m.text, m.attachments) for m in spring.messages] == [
        ("1655000000000000001", None, f"x:{STUDENT}", dt.datetime(2023, 5, 10, 18, 0, tzinfo=dt.UTC), "Can I hand in the lab report late?", ()),
        ("1675185000123456789", "Tom Cole", f"x:{OWNER}", dt.datetime(2023, 7, 1, 3, 50, 0, 123000, tzinfo=dt.UTC),
         "Yes, the lab report can be late. Check https://school.example.org/lab",
         ("https://ton.twitter.com/dm/1675185000123456789/photo.jpg",)),
    ]
    assert all(m.sent_at is not None and m.sent_at.tzinfo == dt.UTC for m in spring.messages)
    assert [p.to_json() for p in spring.participants] == [
        {"name": "Tom Cole", "address": f"x:{OWNER}", "role": "unknown"},
        {"name": "Maya R.", "address": f"x:{STUDENT}", "role": "unknown"},  # named by a post's mention
    ]
    assert (spring.sent_at_first, spring.sent_at_last) == (spring.messages[0].sent_at, spring.messages[-1].sent_at)
    assert spring.text.splitlines() == [  # message senders other than the owner stay unnamed for the clerk
        f"2023-05-10 18:00:00Z  x:{STUDENT}: Can I hand in the lab report late?",
        "2023-07-01 03:50:00Z  Tom Cole: Yes, the lab report can be late. Check https://school.example.org/lab",
    ]
    document = json.loads(spring.content)
    assert document["format"] == "x-dm-thread"
    assert document["conversation_id"] == CONVERSATION
    assert document["messages"] == [m.to_json() for m in spring.messages]
    assert '"message_id": "1675185000123456789"' in spring.content.decode()
    (photo,) = spring.children
    assert (photo.format, photo.name, photo.locator, photo.content, photo.text) == (
        "attachment", "1675185000123456789-photo.jpg", f"{CONVERSATION}#2022-23/1675185000123456789-photo.jpg", JPEG, "")

    summer = items[f"{CONVERSATION}#2023-24"]
    assert [m.message_id for m in summer.messages] == ["1675186200456789012"]
    assert summer.messages[0].sent_at == dt.datetime(2023, 7, 1, 4, 10, 0, 456000, tzinfo=dt.UTC)


def test_group_conversation_lists_everyone_who_took_part(archive: Path) -> None:
    group = next(i for i in read_archive(archive).items if i.locator == f"{GROUP}#2023-24")
    assert [(m.message_id, m.sender_name, m.sender_address, m.text) for m in group.messages] == [
        ("1748000000000000001", "Tom Cole", f"x:{OWNER}", "Practice moved to 4pm"),
        ("1748000000000000002", None, f"x:{PARENT}", "Thanks coach"),
    ]
    assert [p.address for p in group.participants] == [f"x:{OWNER}", f"x:{PARENT}", f"x:{COACH}"]
    assert group.text.splitlines() == [
        "2024-01-15 15:00:00Z  Tom Cole: Practice moved to 4pm",
        f"2024-01-15 15:00:01Z  x:{PARENT}: Thanks coach",
    ]


def test_posts_per_school_year_with_mentions_and_long_text(archive: Path) -> None:
    items = {i.locator: i for i in read_archive(archive).items}
    spring = items["x-posts#2022-23"]
    assert [(m.message_id, m.sent_at, m.text) for m in spring.messages] == [
        ("1640000000000000001", dt.datetime(2023, 3, 17, 13, 5, 9, tzinfo=dt.UTC), LONG_TEXT),  # from note-tweet.js
        ("1650000000000000003", dt.datetime(2023, 5, 10, 20, 19, 24, tzinfo=dt.UTC), "Great job at the robotics meet, @maya_r & team!"),
    ]
    assert {(m.sender_name, m.sender_address) for m in spring.messages} == {("Tom Cole", f"x:{OWNER}")}
    assert [p.to_json() for p in spring.participants] == [
        {"name": "Tom Cole", "address": f"x:{OWNER}", "role": "unknown"},
        {"name": "Maya R.", "address": f"x:{STUDENT}", "role": "unknown"},
    ]
    fall = items["x-posts#2023-24"]
    assert [m.message_id for m in fall.messages] == ["1690000000000000005"]
    assert [p.address for p in fall.participants] == [f"x:{OWNER}", f"x:{PARENT}"]  # the account replied to
    assert json.loads(fall.content)["format"] == "x-posts"


def test_several_zips_of_one_archive_are_read_together(tmp_path: Path) -> None:
    members = full_archive()
    first = write_zip(tmp_path / "part1.zip", {k: v for k, v in members.items() if "tweet" not in k})
    second = write_zip(tmp_path / "part2.zip", {k: v for k, v in members.items() if "tweet" in k})
    extraction = READER.read(sniff(first), ReadOptions(companions=(second,)))
    assert {i.locator for i in extraction.items} >= {"x-posts#2022-23", f"{CONVERSATION}#2022-23"}


# --------------------------------------------------------------------------- older and partial archives


def test_grailbird_archive_before_2018(tmp_path: Path) -> None:
    old_tweet = {
        "source": "web", "entities": {"user_mentions": [{"name": "Ana Rivera", "screen_name": "ana_r", "id_str": PARENT, "id": int(PARENT)}],
                                      "media": [], "hashtags": [], "urls": []},
        "geo": {}, "id_str": "466604287216087040", "text": "Thanks @ana_r for chaperoning!", "id": 466604287216087040,
        "created_at": "2014-05-14 18:01:02 +0000",
        "user": {"name": "Tom Cole", "screen_name": "MrColeScience", "protected": False, "id_str": OWNER, "profile_image_url_https": "x", "id": int(OWNER), "verified": False},
    }
    path = write_zip(tmp_path / "tweets.zip", {
        "index.html": "<html/>",
        "data/js/tweet_index.js": "var tweet_index = []",
        "data/js/user_details.js": 'var user_details =  {"screen_name": "MrColeScience", "full_name": "Tom Cole", "id": "' + OWNER + '"}',
        "data/js/tweets/2014_05.js": "Grailbird.data.tweets_2014_05 = \n" + json.dumps([old_tweet]),
        "tweets.csv": '"tweet_id","in_reply_to_status_id","in_reply_to_user_id","timestamp","source","text"\n"466604287216087040","","","2014-05-14 18:01:02 +0000","web","Thanks @ana_r for chaperoning!"\n',
    })
    assert READER.score(sniff(path)) == 0.9
    extraction = READER.read(sniff(path), ReadOptions())
    (posts,) = extraction.items
    assert (posts.format, posts.locator, posts.dedupe_key) == ("x-posts", "x-posts#2013-14", f"x-posts:{OWNER}#2013-14")
    assert [(m.message_id, m.sent_at, m.text) for m in posts.messages] == [
        ("466604287216087040", dt.datetime(2014, 5, 14, 18, 1, 2, tzinfo=dt.UTC), "Thanks @ana_r for chaperoning!")
    ]
    assert posts.owner is not None and posts.owner.address == f"x:{OWNER}"
    assert [p.to_json() for p in posts.participants][1] == {"name": "Ana Rivera", "address": f"x:{PARENT}", "role": "unknown"}


def test_tweets_csv_alone_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    path.write_text('"tweet_id","in_reply_to_status_id","in_reply_to_user_id","timestamp","source","text","retweeted_status_id"\n'
                    '"466604287216087041","","","2014-09-02 12:00:00 +0000","web","First day of school!",""\n')
    extraction = READER.read(sniff(path), ReadOptions())
    (posts,) = extraction.items
    assert posts.locator == "x-posts#2014-15"
    assert posts.dedupe_key is None  # no owner known: never merged with anyone else's posts
    assert posts.messages[0].text == "First day of school!"
    assert "owner unknown" in extraction.detected


def test_a_lone_js_file_is_read_without_an_owner(tmp_path: Path) -> None:
    path = tmp_path / "direct-messages.js"
    path.write_text(ytd("direct_messages", DMS))
    items = READER.read(sniff(path), ReadOptions()).items
    assert [i.locator for i in items] == [f"{CONVERSATION}#2022-23", f"{CONVERSATION}#2023-24"]
    assert items[0].owner is None
    assert {m.sender_name for m in items[0].messages} == {None}


def test_invalid_json_in_one_file_is_a_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    members = full_archive()
    broken = ytd("tweets", TWEETS)
    cut = broken.index('"full_text"')
    members["data/tweets.js"] = broken[:cut] + "oops" + broken[cut:]
    path = write_zip(tmp_path / "broken.zip", members)
    extraction = READER.read(sniff(path), ReadOptions())
    assert extraction.problems == [f"data/tweets.js could not be read: invalid JSON at char {cut}"]
    assert {i.format for i in extraction.items} == {"x-dm-thread"}


def test_a_damaged_member_is_a_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "crc.zip", full_archive())
    info = zipfile.ZipFile(path).getinfo("data/tweets.js")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 10] ^= 0xFF  # inside the deflate stream
    path.write_bytes(bytes(data))
    extraction = READER.read(sniff(path), ReadOptions())
    assert len(extraction.problems) == 1
    assert extraction.problems[0].startswith("data/tweets.js could not be read: the zip member is damaged")
    assert {i.format for i in extraction.items} == {"x-dm-thread"}


def test_an_archive_with_nothing_readable_is_quarantined(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.zip", {"data/account.js": ytd("account", ACCOUNT), "data/tweets.js": "window.YTD.tweets.part0 = [{", "data/direct-messages.js": "nothing here"})
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert stop.value.kind == "damaged"
    assert "data/tweets.js could not be read: invalid JSON at char" in stop.value.reason
    only_likes = write_zip(tmp_path / "likes.zip", {"data/account.js": ytd("account", ACCOUNT), "data/like.js": ytd("like", [])})
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(only_likes), ReadOptions())
    assert stop.value.kind == "unsupported"


# --------------------------------------------------------------------------- hostile zips


def _unsafe_zip(path: Path, how: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/account.js", ytd("account", ACCOUNT))
        archive.writestr("data/tweets.js", ytd("tweets", TWEETS))
        if how == "dotdot":
            archive.writestr(zipfile.ZipInfo("../evil.js"), "window.YTD.tweets.part0 = []")
        elif how == "absolute":
            archive.writestr(zipfile.ZipInfo("/etc/evil.js"), "window.YTD.tweets.part0 = []")
        else:
            link = zipfile.ZipInfo("data/direct-messages.js")
            link.create_system = 3
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(link, "/etc/passwd")
    return path


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_unsafe_members_refuse_the_whole_archive(tmp_path: Path, how: str) -> None:
    path = _unsafe_zip(tmp_path / f"{how}.zip", how)
    found = sniff(path)
    assert READER.score(found) == 0.95
    with pytest.raises(Quarantine) as stop:
        READER.read(found, ReadOptions())
    assert stop.value.kind == "unsafe"


def test_a_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/account.js", ytd("account", ACCOUNT))
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = [" + " " * (16 * 1024**2) + "]")
    info = zipfile.ZipFile(path).getinfo("data/tweets.js")
    assert info.file_size / info.compress_size > 200
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert stop.value.kind == "unsafe"
    assert "zip bomb" in stop.value.reason


# --------------------------------------------------------------------------- values


def test_time_spellings() -> None:
    assert parse_time("Wed Oct 10 20:19:24 +0000 2018") == dt.datetime(2018, 10, 10, 20, 19, 24, tzinfo=dt.UTC)
    assert parse_time("Wed Oct 10 20:19:24 -0500 2018") == dt.datetime(2018, 10, 11, 1, 19, 24, tzinfo=dt.UTC)
    assert parse_time("2019-02-15T17:32:51.123Z") == dt.datetime(2019, 2, 15, 17, 32, 51, 123000, tzinfo=dt.UTC)
    assert parse_time("2014-05-14 18:01:02 +0000") == dt.datetime(2014, 5, 14, 18, 1, 2, tzinfo=dt.UTC)
    assert parse_time("Foo Bar 99") is None and parse_time(None) is None and parse_time(12) is None
    assert x_archive.DEFAULT_TIMEZONE == "America/New_York"
