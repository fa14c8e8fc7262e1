"""The Instagram reader: both layouts, the owner, deleted accounts, and telling it from Facebook.

Fixtures follow the real schemas (export-formats.md): before Dec 2020 one
``messages.json`` of ``{participants: [usernames], conversation: [...]}`` with ISO 8601
``created_at`` and a ``profile.json``; since then Facebook's per-thread files with
mojibake and ``personal_information.json`` (``profile_user[0].string_map_data``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from records.intake import registry
from records.intake.model import Quarantine, ReadOptions
from records.intake.readers.facebook import FacebookReader
from records.intake.readers.instagram import HTML_REASON, InstagramReader
from records.intake.registry import sniff
from tests.test_reader_facebook import mojibake, ms, msg, profile, read, thread, write_zip

READER = InstagramReader()
FACEBOOK = FacebookReader()
OWNER_NAME = "Elena Rivera"
OWNER_USERNAME = "ms.rivera.teaches"
INBOX = "your_instagram_activity/messages/inbox"


def personal_information(name: str, username: str) -> dict[str, Any]:
    def field(value: str) -> dict[str, Any]:
        return {"href": "", "value": mojibake(value), "timestamp": 0}

    return {"profile_user": [{"title": "", "media_map_data": {}, "string_map_data": {
        "Email": field("elena@example.net"), "Name": field(name), "Username": field(username), "Private Account": field("True"),
    }}]}


def per_thread_export(tmp_path: Path, messages: list[dict[str, Any]], participants: list[str] | None = None, *, layout: str = "2023") -> Path:
    folder = f"{INBOX}/maya.r.2014_1234567890" if layout == "2023" else "messages/inbox/maya.r.2014_1234567890"
    info = "personal_information/personal_information/personal_information.json" if layout == "2023" else "personal_information/personal_information.json"
    members: dict[str, Any] = {
        info: personal_information(OWNER_NAME, OWNER_USERNAME),
        f"{folder}/message_1.json": _ig_thread(participants or ["Maya Rossi", OWNER_NAME], messages),
    }
    if layout == "2023":
        members["your_instagram_activity/content/posts_1.json"] = []
        members["your_instagram_activity/comments/post_comments_1.json"] = []
        members["connections/followers_and_following/followers_1.json"] = []
    else:
        members["content/posts_1.json"] = []
        members["followers_and_following/followers_1.json"] = []
    return write_zip(tmp_path / "instagram-ms.rivera.teaches.zip", members)


def _ig_thread(participants: list[str], messages: list[dict[str, Any]]) -> dict[str, Any]:
    data = thread("inbox/maya.r.2014_1234567890", participants, messages)
    del data["thread_type"]  # Instagram's files have no thread_type
    return data


def legacy_export(tmp_path: Path) -> Path:
    conversation = [  # newest first, as written
        {"sender": "maya.r.2014", "created_at": "2019-07-01T04:10:00.000000+00:00", "text": "summer reading list?"},
        {"sender": OWNER_USERNAME, "created_at": "2019-06-30T22:00:00.000000+00:00", "heart": "❤️"},
        {"sender": "maya.r.2014", "created_at": "2019-06-30T21:59:00.000000+00:00", "media_url": "https://scontent.cdninstagram.com/v/abc.jpg"},
        {"sender": OWNER_USERNAME, "created_at": "2019-06-30T21:58:00+00:00", "text": "Good luck on the final, José!"},
    ]
    return write_zip(tmp_path / "ms.rivera.teaches_20191005.zip", {
        "profile.json": {"username": OWNER_USERNAME, "name": OWNER_NAME, "email": "elena@example.net"},
        "messages.json": [{"participants": [OWNER_USERNAME, "maya.r.2014"], "conversation": conversation}],
        "media.json": {"photos": []},
        "comments.json": {"media_comments": []},
    })


# ---------------------------------------------------------------- before December 2020


def test_legacy_messages_json_locator_is_sorted_usernames(tmp_path: Path) -> None:
    path = legacy_export(tmp_path)
    assert registry.choose(sniff(path)).name == "instagram"
    assert FACEBOOK.score(sniff(path)) == 0.0
    extraction, items = read(path, reader=READER)
    assert extraction.problems == []
    assert extraction.detected.startswith("Instagram export: direct messages in messages.json")
    assert [i.locator for i in items] == ["maya.r.2014,ms.rivera.teaches#2018-19", "maya.r.2014,ms.rivera.teaches#2019-20"]
    june, july = items
    assert june.dedupe_key == "instagram:maya.r.2014,ms.rivera.teaches#2018-19"
    assert june.format == "instagram-thread"
    assert [m.text for m in june.messages] == ["Good luck on the final, José!", "[media: https://scontent.cdninstagram.com/v/abc.jpg]", "❤️"]
    assert [m.sender_address for m in june.messages] == ["instagram:ms.rivera.teaches", "instagram:maya.r.2014", "instagram:ms.rivera.teaches"]
    assert june.messages[0].sent_at == dt.datetime(2019, 6, 30, 21, 58, tzinfo=dt.UTC)
    assert july.messages[0].sent_at == dt.datetime(2019, 7, 1, 4, 10, tzinfo=dt.UTC)
    assert june.owner is not None and june.owner.address == "instagram:ms.rivera.teaches"
    assert {p.address for p in june.participants} == {"instagram:maya.r.2014", "instagram:ms.rivera.teaches"}
    content = json.loads(june.content)  # type: ignore[arg-type]
    assert content["participants"] == ["maya.r.2014", "ms.rivera.teaches"] and content["thread_path"] is None
    assert any(e.kind == "media_links" for e in june.evidence)


def test_lone_legacy_messages_json(tmp_path: Path) -> None:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps([{"participants": ["b.user", "a.user"], "conversation": [{"sender": "a.user", "created_at": "2018-10-01T15:00:00", "text": "hi"}]}]))
    assert registry.choose(sniff(path)).name == "instagram"
    _, [item] = read(path, reader=READER)
    assert item.locator == "a.user,b.user#2018-19"


# ---------------------------------------------------------------- since December 2020


def test_per_thread_layout_owner_and_timestamp_evidence(tmp_path: Path) -> None:
    path = per_thread_export(tmp_path, [
        msg("Maya Rossi", ms(2022, 10, 4, 20, 1), "Ms. Rivera, is the essay due Monday? 😅"),
        msg(OWNER_NAME, ms(2022, 10, 4, 20, 30), "Yes, Monday. Zoë has the rubric."),
    ])
    assert registry.choose(sniff(path)).name == "instagram"
    extraction, [item] = read(path, reader=READER)
    assert extraction.detected == "Instagram export: 1 threads; posts and comments recognised and not read yet (2 files)"
    assert item.format == "instagram-thread"
    assert item.locator == "inbox/maya.r.2014_1234567890#2022-23"
    assert item.dedupe_key == "instagram:inbox/maya.r.2014_1234567890#2022-23"
    assert [m.text for m in item.messages] == ["Ms. Rivera, is the essay due Monday? 😅", "Yes, Monday. Zoë has the rubric."]
    assert [m.sender_name for m in item.messages] == ["Maya Rossi", OWNER_NAME]
    assert item.messages[1].sender_address == "instagram:ms.rivera.teaches"  # the owner's display name → username
    assert item.owner is not None and (item.owner.name, item.owner.address) == (OWNER_NAME, "instagram:ms.rivera.teaches")
    kinds = {e.kind: e for e in item.evidence}
    assert kinds["owner"].detail == "personal_information.json" and kinds["owner"].weight == 1.0
    assert (kinds["timestamp"].detail, kinds["timestamp"].weight) == ("timestamp_ms taken as UTC (Instagram may record device time)", 0.5)
    assert json.loads(item.content)["messages"][0]["timestamp_ms"] == ms(2022, 10, 4, 20, 1)  # type: ignore[arg-type]


def test_2021_layout_under_messages_inbox(tmp_path: Path) -> None:
    path = per_thread_export(tmp_path, [msg("Maya Rossi", ms(2021, 2, 1), "hi")], layout="2021")
    assert registry.choose(sniff(path)).name == "instagram"
    assert FACEBOOK.score(sniff(path)) == 0.0
    _, [item] = read(path, reader=READER)
    assert item.locator == "inbox/maya.r.2014_1234567890#2020-21" and item.owner is not None


def test_deleted_account_instagramuser(tmp_path: Path) -> None:
    path = per_thread_export(tmp_path, [msg("instagramuser", ms(2023, 1, 5), "hey"), msg(OWNER_NAME, ms(2023, 1, 5, 13), "who is this?")], ["instagramuser", OWNER_NAME])
    _, [item] = read(path, reader=READER)
    deleted = item.messages[0]
    assert (deleted.sender_name, deleted.sender_address) == ("instagramuser", None)
    assert [p.address for p in item.participants if p.name == "instagramuser"] == [None]
    assert any(e.kind == "deleted_account" for e in item.evidence)


def test_html_instagram_export_is_quarantined(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "ightml.zip", {f"{INBOX}/maya_1/message_1.html": b"<html></html>", "personal_information/personal_information/personal_information.html": b"<html></html>"})
    assert registry.choose(sniff(path)).name == "instagram"
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert (stop.value.kind, stop.value.reason) == ("unsupported", HTML_REASON)


# ---------------------------------------------------------------- Facebook or Instagram


def test_instagram_zip_is_not_taken_by_facebook_and_vice_versa(tmp_path: Path) -> None:
    ig = per_thread_export(tmp_path, [msg("Maya Rossi", ms(2022, 10, 4), "hi")])
    assert FACEBOOK.score(sniff(ig)) == 0.0 and READER.score(sniff(ig)) > 0.9
    assert registry.choose(sniff(ig)).name == "instagram"
    fb = write_zip(tmp_path / "facebook.zip", {
        "personal_information/profile_information/profile_information.json": profile(OWNER_NAME, new=True),
        "your_facebook_activity/messages/inbox/mayarossi_10158834/message_1.json": thread("inbox/mayarossi_10158834", ["Maya Rossi", OWNER_NAME], [msg("Maya Rossi", ms(2022, 10, 4), "hi")]),
    })
    assert READER.score(sniff(fb)) == 0.0 and FACEBOOK.score(sniff(fb)) > 0.9
    assert registry.choose(sniff(fb)).name == "facebook"


def test_thread_folder_names_are_not_markers(tmp_path: Path) -> None:
    # Folder names inside messages/ come from people's names: a Facebook friend called
    # "Instagram Fan" must not make the export look like Instagram's.
    body = thread("inbox/instagramfan_1", ["Instagram Fan", OWNER_NAME], [msg("Instagram Fan", ms(2022, 10, 4), "hi")])
    fb = write_zip(tmp_path / "facebook.zip", {
        "messages/inbox/instagramfan_1/message_1.json": body,
        "messages/archived_threads/instagramlover_2/message_1.json": body,
        "messages/stickers_used/1.png": b"png",
    })
    assert registry.choose(sniff(fb)).name == "facebook" and READER.score(sniff(fb)) == 0.0


def test_markerless_zip_falls_back_on_the_folder_names(tmp_path: Path) -> None:
    body = thread("inbox/x_1", ["A", "B"], [msg("A", ms(2022, 10, 4), "hi")])
    facebook_like = write_zip(tmp_path / "fb-messages-only.zip", {"messages/inbox/mayarossi_10158834/message_1.json": body})
    assert registry.choose(sniff(facebook_like)).name == "facebook"
    instagram_like = write_zip(tmp_path / "ig-messages-only.zip", {"messages/inbox/maya.r.2014_1234567890/message_1.json": body})
    assert registry.choose(sniff(instagram_like)).name == "instagram"


def test_lone_thread_file_with_instagram_evidence(tmp_path: Path) -> None:
    data = _ig_thread(["instagramuser", OWNER_NAME], [msg("instagramuser", ms(2022, 10, 4), "hi", photos=[{"uri": f"{INBOX}/maya_1/photos/1.jpg", "creation_timestamp": 1664900000}])])
    path = tmp_path / "message_1.json"
    path.write_text(json.dumps(data))
    assert registry.choose(sniff(path)).name == "instagram"
    _, [item] = read(path, reader=READER)
    assert item.format == "instagram-thread" and any(e.kind == "media_missing" for e in item.evidence)
