"""The Facebook reader: layouts, split threads, school years, mojibake, media, hostile input.

No licensed real export exists (export-formats.md), so fixtures are written here with
``zipfile`` following Meta's schema exactly: strings as UTF-8 bytes escaped ``\\u00XX``
(``json.dumps`` of ``mojibake(text)``), messages newest first, ``timestamp_ms`` in
milliseconds, media ``creation_timestamp`` in seconds, uris relative to the export root.
The helpers are reused by ``test_reader_instagram``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from records.intake import registry
from records.intake.model import Extraction, Item, Quarantine, ReadOptions
from records.intake.readers.facebook import HTML_REASON, FacebookReader
from records.intake.registry import sniff

NY = ZoneInfo("America/New_York")
READER = FacebookReader()
ELENA = "Elena Rivera"
PROFILE_OLD = "profile_information/profile_information.json"
PROFILE_NEW = "personal_information/profile_information/profile_information.json"


# ---------------------------------------------------------------- fixture builders


def mojibake(text: str) -> str:
    """What Meta writes: the UTF-8 bytes of ``text`` read as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


def ms(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> int:
    """Epoch milliseconds of a New York wall-clock time."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=NY).timestamp() * 1000)


def msg(sender: str, stamp: int, content: str | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"sender_name": mojibake(sender), "timestamp_ms": stamp}
    if content is not None:
        message["content"] = mojibake(content)
    message.update(extra)
    message.setdefault("is_geoblocked_for_viewer", False)
    return message


def thread(path: str, participants: list[str], messages: list[dict[str, Any]], title: str | None = None, thread_type: str = "Regular") -> dict[str, Any]:
    """A ``message_N.json``: messages given oldest first are written newest first, as Meta does."""
    return {
        "participants": [{"name": mojibake(p)} for p in participants],
        "messages": sorted(messages, key=lambda m: -m["timestamp_ms"]),
        "title": mojibake(title or participants[0]),
        "is_still_participant": True,
        "thread_type": thread_type,
        "thread_path": path,
        "magic_words": [],
    }


def profile(name: str, new: bool = False) -> dict[str, Any]:
    key = "profile_v2" if new else "profile"
    return {key: {"name": {"full_name": mojibake(name), "first_name": mojibake(name.split()[0]), "middle_name": "", "last_name": mojibake(name.split()[-1])}}}


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """Members: bytes as they are, anything else as JSON with Meta's ASCII escapes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            data = value if isinstance(value, bytes) else json.dumps(value, indent=2).encode("ascii")
            archive.writestr(name, data)
    return path


def read(path: Path, companions: tuple[Path, ...] = (), reader: Any = READER) -> tuple[Extraction, list[Item]]:
    extraction = reader.read(sniff(path), ReadOptions(companions=companions))
    return extraction, list(extraction.items)


def one_thread_export(tmp_path: Path, prefix: str = "", profile_path: str = PROFILE_OLD) -> Path:
    folder = f"{prefix}messages/inbox/elena_10158834"
    messages = [msg(ELENA, ms(2022, 10, 3, 19, 5), "Reminder: field trip forms due Friday"), msg("Maya Chen", ms(2022, 10, 3, 19, 9), "ok thank you!")]
    return write_zip(tmp_path / "facebook-elena.zip", {
        profile_path: profile(ELENA, new=profile_path == PROFILE_NEW),
        f"{folder}/message_1.json": thread("inbox/elena_10158834", ["Maya Chen", ELENA], messages),
    })


# ---------------------------------------------------------------- layouts and owner


@pytest.mark.parametrize(
    ("prefix", "profile_path"),
    [("", PROFILE_OLD), ("your_activity_across_facebook/", PROFILE_NEW), ("your_facebook_activity/", PROFILE_NEW)],
    ids=["2018-messages", "2022-your_activity_across_facebook", "2023-your_facebook_activity"],
)
def test_each_layout_is_read_and_chosen(tmp_path: Path, prefix: str, profile_path: str) -> None:
    path = one_thread_export(tmp_path, prefix, profile_path)
    assert registry.choose(sniff(path)).name == "facebook"
    extraction, items = read(path)
    assert extraction.problems == []
    assert extraction.detected == "Facebook export: 1 threads"
    [item] = items
    assert item.format == "facebook-thread"
    assert item.locator == "inbox/elena_10158834#2022-23"
    assert item.dedupe_key == "facebook:inbox/elena_10158834#2022-23"
    assert [m.text for m in item.messages] == ["Reminder: field trip forms due Friday", "ok thank you!"]
    assert item.messages[0].sender_address == "facebook:Elena Rivera" and item.messages[0].message_id is None
    assert {(p.name, p.address) for p in item.participants} == {("Maya Chen", "facebook:Maya Chen"), (ELENA, "facebook:Elena Rivera")}
    assert item.owner is not None and (item.owner.name, item.owner.address) == (ELENA, "facebook:Elena Rivera")
    assert any(e.kind == "owner" and e.detail == "profile_information.json" and e.weight == 1.0 for e in item.evidence)
    content = json.loads(item.content)  # type: ignore[arg-type]
    assert content["format"] == "facebook-thread" and content["thread_path"] == "inbox/elena_10158834"
    assert content["thread_type"] == "Regular" and content["title"] == "Maya Chen"
    assert [m["text"] for m in content["messages"]] == [m.text for m in item.messages]
    assert "2022-10-03 23:05:00Z  Elena Rivera: Reminder" in item.text


def test_thread_split_over_two_files_crosses_school_year(tmp_path: Path) -> None:
    # Late June 30 in New York is already July 1 in UTC: the school year follows district time.
    june_30_late = ms(2023, 6, 30, 23, 30)
    july_1_early = ms(2023, 7, 1, 0, 30)
    older = [msg(ELENA, ms(2023, 6, 1, 9 + i), f"june {i}") for i in range(3)] + [msg("Maya Chen", june_30_late, "last one in June")]
    newer = [msg(ELENA, july_1_early, "first one in July")] + [msg("Maya Chen", ms(2023, 8, 1, 9 + i), f"august {i}") for i in range(3)]
    path = write_zip(tmp_path / "split.zip", {
        PROFILE_OLD: profile(ELENA),
        "messages/inbox/elena_10158834/message_1.json": thread("inbox/elena_10158834", ["Maya Chen", ELENA], newer),
        "messages/inbox/elena_10158834/message_2.json": thread("inbox/elena_10158834", ["Maya Chen", ELENA], older),
    })
    _, items = read(path)
    assert [i.locator for i in items] == ["inbox/elena_10158834#2022-23", "inbox/elena_10158834#2023-24"]
    june, july = items
    assert [m.text for m in june.messages] == ["june 0", "june 1", "june 2", "last one in June"]
    assert [m.text for m in july.messages] == ["first one in July", "august 0", "august 1", "august 2"]
    assert june.messages[-1].sent_at == dt.datetime(2023, 7, 1, 3, 30, tzinfo=dt.UTC)
    assert july.messages[0].sent_at == dt.datetime(2023, 7, 1, 4, 30, tzinfo=dt.UTC)
    for item in items:
        stamps = [m.sent_at for m in item.messages]
        assert stamps == sorted(stamps) and all(s is not None and s.tzinfo == dt.UTC for s in stamps)
        assert item.sent_at_first == stamps[0] and item.sent_at_last == stamps[-1]


def test_overlapping_files_are_deduplicated(tmp_path: Path) -> None:
    messages = [msg(ELENA, ms(2022, 9, 1, 10, i), f"m{i}") for i in range(4)]
    path = write_zip(tmp_path / "dup.zip", {
        "messages/inbox/elena_1/message_1.json": thread("inbox/elena_1", [ELENA, "Maya Chen"], messages[1:]),
        "messages/inbox/elena_1/message_2.json": thread("inbox/elena_1", [ELENA, "Maya Chen"], messages[:2]),
    })
    _, [item] = read(path)
    assert [m.text for m in item.messages] == ["m0", "m1", "m2", "m3"]


# ---------------------------------------------------------------- mojibake


def test_mojibake_repaired_everywhere_and_correct_text_kept(tmp_path: Path) -> None:
    data = thread("inbox/josezoe_42", ["José Álvarez", "Zoë Martin", ELENA], [
        msg("José Álvarez", ms(2022, 11, 2, 18), "¿Mañana hay clase? 😀"),
        msg("Zoë Martin", ms(2022, 11, 2, 18, 5), "Merci, Zoë"),
    ], title="José, Zoë and Elena", thread_type="RegularGroup")
    # A string that was already right (the repair would raise on it) must stay as it is.
    data["messages"][0]["content"] = "Zoë says 😀 already fine"
    path = write_zip(tmp_path / "moji.zip", {"messages/inbox/josezoe_42/message_1.json": data})
    _, [item] = read(path)
    assert [m.sender_name for m in item.messages] == ["José Álvarez", "Zoë Martin"]
    assert [m.sender_address for m in item.messages] == ["facebook:José Álvarez", "facebook:Zoë Martin"]
    assert item.messages[0].text == "¿Mañana hay clase? 😀"
    assert item.messages[1].text == "Zoë says 😀 already fine"
    assert {p.name for p in item.participants} == {"José Álvarez", "Zoë Martin", ELENA}
    content = json.loads(item.content)  # type: ignore[arg-type]
    assert content["title"] == "José, Zoë and Elena" and content["thread_type"] == "RegularGroup"
    assert "Ã" not in item.text and "ð" not in item.text


# ---------------------------------------------------------------- media


def _media_export(tmp_path: Path) -> tuple[Path, Path]:
    base = "your_facebook_activity/messages/inbox/elena_7"
    photo = {"uri": f"{base}/photos/4471_n.jpg", "creation_timestamp": ms(2022, 12, 1) // 1000}
    video = {"uri": f"{base}/videos/9921_n.mp4", "creation_timestamp": ms(2022, 12, 1) // 1000}
    messages = [msg("Maya Chen", ms(2022, 12, 1, 15), photos=[photo]), msg(ELENA, ms(2022, 12, 1, 16), "nice", videos=[video])]
    main = write_zip(tmp_path / "facebook-elena-1.zip", {
        PROFILE_NEW: profile(ELENA, new=True),
        f"{base}/message_1.json": thread("inbox/elena_7", [ELENA, "Maya Chen"], messages),
    })
    media = write_zip(tmp_path / "facebook-elena-2.zip", {f"{base}/photos/4471_n.jpg": b"\xff\xd8\xff\xe0JPEGBYTES"})
    return main, media


def test_media_in_a_companion_zip_becomes_a_child_and_missing_media_is_evidence(tmp_path: Path) -> None:
    main, media = _media_export(tmp_path)
    extraction, [item] = read(main, companions=(media,))
    assert extraction.problems == []
    [child] = item.children
    assert child.format == "attachment" and child.name == "4471_n.jpg" and child.text == ""
    assert child.locator == "inbox/elena_7#2022-23/4471_n.jpg"
    assert child.content == b"\xff\xd8\xff\xe0JPEGBYTES"
    assert item.messages[0].attachments == ("your_facebook_activity/messages/inbox/elena_7/photos/4471_n.jpg",)
    assert item.messages[0].text == "[photo: 4471_n.jpg]"
    missing = [e for e in item.evidence if e.kind == "media_missing"]
    assert [(e.detail, e.weight) for e in missing] == [("1 media files referenced but not in the export", 0.0)]


def test_media_missing_without_the_companion(tmp_path: Path) -> None:
    main, _ = _media_export(tmp_path)
    extraction, [item] = read(main)
    assert item.children == [] and extraction.problems == []
    assert any(e.kind == "media_missing" and e.detail.startswith("2 media files") for e in item.evidence)


# ---------------------------------------------------------------- other content, problems, hostile input


def test_posts_photos_and_comments_are_recognised_not_read(tmp_path: Path) -> None:
    path = one_thread_export(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("posts/your_posts_1.json", "[]")
        archive.writestr("photos_and_videos/album/0.json", "{}")
        archive.writestr("photos_and_videos/album/0.jpg", b"\xff\xd8")
        archive.writestr("comments/comments.json", "{}")
    extraction, items = read(path)
    assert extraction.detected == "Facebook export: 1 threads; posts, photos and comments recognised and not read yet (4 files)"
    assert [i.format for i in items] == ["facebook-thread"]


def test_invalid_json_in_one_thread_is_a_problem_and_the_rest_is_kept(tmp_path: Path) -> None:
    good = thread("inbox/aaron_1", ["Aaron Diaz", ELENA], [msg("Aaron Diaz", ms(2022, 9, 9), "hello")])
    path = write_zip(tmp_path / "partial.zip", {
        "messages/inbox/aaron_1/message_1.json": good,
        "messages/inbox/broken_2/message_1.json": b'{"participants": [{"name": "x"}], "messages": [',
        "messages/inbox/deep_3/message_1.json": b"[" * 200_000 + b"]" * 200_000,
    })
    extraction = READER.read(sniff(path), ReadOptions())
    assert not isinstance(extraction.items, list)  # a stream: problems appear as it is consumed
    assert extraction.problems == []
    items = list(extraction.items)
    assert [i.locator for i in items] == ["inbox/aaron_1#2022-23"]
    assert any(p.startswith("messages/inbox/broken_2/message_1.json could not be read: invalid JSON (") for p in extraction.problems)
    assert "messages/inbox/deep_3/message_1.json could not be read: invalid JSON (nested too deep)" in extraction.problems


def test_every_thread_broken_is_quarantined_damaged(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "broken.zip", {"messages/inbox/a_1/message_1.json": b"{nope", "messages/inbox/b_2/message_1.json": b""})
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert stop.value.kind == "damaged"


def test_html_export_is_quarantined_with_the_reason(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "html.zip", {
        "messages/inbox/elena_1/message_1.html": b"<html><body>hi</body></html>",
        "profile_information/profile_information.html": b"<html></html>",
    })
    assert registry.choose(sniff(path)).name == "facebook"
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert (stop.value.kind, stop.value.reason) == ("unsupported", HTML_REASON)


def test_unsafe_member_refuses_the_export(tmp_path: Path) -> None:
    path = one_thread_export(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../x.json", "{}")
    with pytest.raises(Quarantine) as stop:
        READER.read(sniff(path), ReadOptions())
    assert stop.value.kind == "unsafe"


def test_enormous_message_text_is_cut_with_evidence(tmp_path: Path) -> None:
    big = os.urandom(1_500_000).hex()  # 3 million characters that do not compress like a zip bomb
    path = write_zip(tmp_path / "big.zip", {"messages/inbox/big_1/message_1.json": thread("inbox/big_1", [ELENA], [msg(ELENA, ms(2022, 9, 9), big)])})
    _, [item] = read(path)
    assert len(item.messages[0].text) < 1_000_100
    assert any(e.kind == "truncated" for e in item.evidence)


def test_deleted_account_and_unsent_and_links(tmp_path: Path) -> None:
    messages = [
        msg("Facebook user", ms(2022, 9, 9, 10), "are you there"),
        msg(ELENA, ms(2022, 9, 9, 11), is_unsent=True),
        msg(ELENA, ms(2022, 9, 9, 12), share={"link": "https://school.example/forms"}, reactions=[{"reaction": mojibake("❤"), "actor": "Facebook user"}]),
    ]
    path = write_zip(tmp_path / "misc.zip", {"messages/inbox/fbuser_1/message_1.json": thread("inbox/fbuser_1", ["Facebook user", ELENA], messages)})
    _, [item] = read(path)
    assert item.messages[0].sender_address is None
    assert [m.text for m in item.messages[1:]] == ["(unsent message)", "[link: https://school.example/forms]"]
    assert any(e.kind == "deleted_account" for e in item.evidence)
    assert json.loads(item.content)["messages"][2]["reactions"] == [{"reaction": "❤", "actor": "Facebook user"}]  # type: ignore[arg-type]


def test_lone_thread_file(tmp_path: Path) -> None:
    path = tmp_path / "message_1.json"
    path.write_text(json.dumps(thread("inbox/elena_10158834", [ELENA, "Maya Chen"], [msg(ELENA, ms(2021, 3, 1), "hi")])))
    assert registry.choose(sniff(path)).name == "facebook"
    extraction, [item] = read(path)
    assert item.locator == "inbox/elena_10158834#2020-21" and item.owner is None
    assert extraction.detected == "Facebook message thread (a lone JSON file)"


# ---------------------------------------------------------------- a large export, streamed


def _large_export(path: Path, threads: int, per_thread: int) -> Path:
    start = ms(2021, 9, 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(PROFILE_OLD, json.dumps(profile(ELENA)))
        for t in range(threads):
            messages = [
                {"sender_name": ELENA if i % 2 else f"Student {t}", "timestamp_ms": start + (t * per_thread + i) * 600_000,
                 "content": f"message {i} of thread {t}: homework question about chapter {i % 12}", "type": "Generic"}
                for i in range(per_thread - 1, -1, -1)
            ]
            body = {"participants": [{"name": f"Student {t}"}, {"name": ELENA}], "messages": messages, "title": f"Student {t}",
                    "is_still_participant": True, "thread_type": "Regular", "thread_path": f"inbox/student{t}_{t}"}
            archive.writestr(f"messages/inbox/student{t}_{t}/message_1.json", json.dumps(body))
    return path


THREADS, PER_THREAD = 200, 1_000


def test_200000_messages_stream_with_bounded_memory(tmp_path: Path) -> None:
    path = _large_export(tmp_path / "large.zip", THREADS, PER_THREAD)
    found = sniff(path)
    started = time.monotonic()
    tracemalloc.start()
    try:
        extraction = READER.read(found, ReadOptions())
        parts = messages = 0
        for item in extraction.items:
            parts += 1
            messages += len(item.messages)
            del item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    print(f"\n{THREADS * PER_THREAD} messages, {parts} parts: tracemalloc peak {peak / 1024**2:.1f} MiB, {elapsed:.1f} s")
    assert messages == THREADS * PER_THREAD and extraction.problems == []
    assert peak < 100 * 1024**2
