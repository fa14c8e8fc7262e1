"""Instagram "Download Your Information" exports (JSON): direct-message threads as record units.

Two layouts exist. Before December 2020 one ``messages.json`` held every conversation,
named by its participants' usernames, with ISO 8601 times. Since then Instagram writes
Facebook's per-thread files (``messages/inbox/<username>_<id>/message_N.json``, later
under ``your_instagram_activity/``), whose parsing is shared in ``meta_threads``. Either
way one conversation becomes one record per school year (design.md, "Record units").

What this reader cannot know, it says in evidence: per-thread files name people by
display name, not username (so only the owner gets a true ``instagram:username``
address), and ``timestamp_ms`` may be the device's local time rather than UTC.
Posts, photos, comments and stories are recognised and named in ``detected`` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, ClassVar

from records.intake import normalize
from records.intake.archive import SafeArchive
from records.intake.model import Evidence, Extraction, Item, Message, Participant, Quarantine, ReadOptions
from records.intake.readers import meta_threads as mt
from records.intake.registry import Reader, Sniff, register

HTML_REASON = "Instagram export in HTML format: download it again choosing JSON format"
NO_THREADS_REASON = (
    "Instagram export without direct messages in JSON: if this zip is one part of a larger "
    "export, ingest it together with the part holding the messages folder; posts, photos "
    "and comments alone are not read yet"
)
DELETED = frozenset({"instagramuser", "instagram user"})
MAX_LEGACY_BYTES = 512 * 1024**2  # the one messages.json of a pre-2021 export, parsed whole
TIMESTAMP_EVIDENCE = Evidence("timestamp", "timestamp_ms taken as UTC (Instagram may record device time)", 0.5)
ADDRESS_EVIDENCE = Evidence(
    "address", "per-thread files name people by display name: addresses other than the owner's are instagram:<display name>, not usernames", 0.5
)
SKIPPED = {  # folder or file name → what it holds, for ``detected``
    "content": "posts", "posts": "posts", "media.json": "posts", "media": "photos",
    "photos": "photos", "videos": "photos", "stories": "stories", "comments": "comments",
    "comments.json": "comments", "likes": "likes", "likes.json": "likes",
}


class InstagramReader(Reader):
    """Reads Instagram JSON exports (either layout, zipped or a lone file) into thread parts."""

    name = "instagram"
    streams: ClassVar[bool] = True

    def score(self, sniff: Sniff) -> float:
        try:
            if sniff.zip_members:
                found = mt.survey(sniff.zip_members)
                if found.platform == "facebook" and found.certain:
                    return 0.0
                if found.legacy_instagram:
                    return 0.95
                if found.threads or found.html_threads:
                    if found.platform == "instagram":
                        return 0.95 if found.certain else 0.7
                    return 0.4
                return 0.5 if found.certain and found.platform == "instagram" else 0.0
            if _is_legacy_file(sniff.head):
                return 0.9
            platform = mt.lone_thread_platform(sniff.head)
            if platform == "instagram":
                return 0.7
            return 0.4 if platform == "facebook" and not mt.lone_thread_certain(sniff.head) else 0.0
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        timezone = getattr(options, "timezone", None) or mt.DEFAULT_TIMEZONE
        if not sniff.zip_members:
            return self._read_lone(sniff, options, timezone)
        archive = SafeArchive([sniff.path, *options.companions])
        try:
            names = archive.names()
            found = mt.survey(names)
            if not found.threads and not found.legacy_instagram:
                raise Quarantine("unsupported", HTML_REASON if found.html_threads else NO_THREADS_REASON)
            kinds, count = mt.skipped_content(names, SKIPPED)
            owner, owner_evidence = instagram_owner(archive)
        except BaseException:
            archive.close()
            raise
        problems: list[str] = []
        people = people_for(owner)
        streams: list[Iterator[Item]] = []
        if found.legacy_instagram:
            legacy = mt.Context("instagram-thread", people, problems, timezone, None, owner_evidence)
            streams.append(_legacy_stream(archive, found.legacy_instagram, legacy, close=not found.threads))
        if found.threads:
            context = mt.Context(
                format="instagram-thread",
                people=people,
                problems=problems,
                timezone=timezone,
                media=mt.MediaIndex(archive, (m for ms in found.threads.values() for m in ms)),
                evidence=[*owner_evidence, TIMESTAMP_EVIDENCE, ADDRESS_EVIDENCE],
            )
            streams.append(mt.stream_threads(found, archive, context, "Instagram export"))
        items = mt.primed(_chain(streams))
        what = f"{len(found.threads)} threads" if found.threads else "direct messages in messages.json (layout before Dec 2020)"
        detected = mt.describe("Instagram", what, kinds, count)
        return Extraction(reader=self.name, detected=detected, items=items, problems=problems)  # type: ignore[arg-type]

    def _read_lone(self, sniff: Sniff, options: ReadOptions, timezone: str) -> Extraction:
        if _is_legacy_file(sniff.head):
            if sniff.size > min(options.max_bytes, MAX_LEGACY_BYTES):
                raise Quarantine("too_large", f"messages.json is {sniff.size} bytes, over the limit of {MAX_LEGACY_BYTES}")
            problems: list[str] = []
            context = mt.Context("instagram-thread", people_for(None), problems, timezone)
            try:
                data = mt.parse_json(sniff.path.read_bytes())
            except mt.ThreadError as exc:
                raise Quarantine("damaged", f"messages.json could not be read: {exc}") from None
            items = list(legacy_items(data, context, "messages.json"))
            return Extraction(self.name, "Instagram messages.json (before Dec 2020)", items, problems)
        return mt.read_lone_file(sniff, options, self.name, "instagram-thread", people_for(None), [TIMESTAMP_EVIDENCE, ADDRESS_EVIDENCE])


def _chain(streams: list[Iterator[Item]]) -> Iterator[Item]:
    """The streams one after the other; closing the chain closes them all (and the archive)."""
    try:
        for stream in streams:
            yield from stream
    finally:
        for stream in streams:
            stream.close()  # type: ignore[attr-defined]


def _is_legacy_file(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"[") and b'"conversation"' in text and b'"participants"' in text


def people_for(owner: Participant | None) -> mt.People:
    """Instagram addresses; the owner's display name maps to their true username."""
    aliases: dict[str, str] = {}
    if owner and owner.address:
        username = owner.address.split(":", 1)[1]
        aliases = {username: owner.address}
        if owner.name:
            aliases[owner.name] = owner.address
    return mt.People("instagram", DELETED, aliases, owner)


# ---------------------------------------------------------------- the owner


OWNER_FILES = ("personal_information/personal_information.json", "personal_information.json")


def instagram_owner(archive: SafeArchive) -> tuple[Participant | None, list[Evidence]]:
    """The account that made the export: ``personal_information.json`` (2020 on) or ``profile.json`` (before)."""
    names = archive.names()
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if base == "personal_information.json":
            found = _from_personal_information(_small_json(archive, name))
            if found:
                return found, [Evidence("owner", "personal_information.json", 1.0)]
    for name in names:
        if name.rsplit("/", 1)[-1] == "profile.json" and name.count("/") <= 1:
            found = _from_profile(_small_json(archive, name))
            if found:
                return found, [Evidence("owner", "profile.json", 1.0)]
    return None, []


def _small_json(archive: SafeArchive, name: str) -> Any:
    try:
        return mt.parse_json(mt.read_member(archive, name, mt.MAX_SMALL_JSON_BYTES))
    except mt.ThreadError:
        return None


def _from_personal_information(data: Any) -> Participant | None:
    try:
        fields = data["profile_user"][0]["string_map_data"]
        username = mt.text_of(fields["Username"]["value"], mt.MAX_NAME_CHARS).strip()
    except (KeyError, IndexError, TypeError):
        return None
    if not username:
        return None
    name_field = fields.get("Name") if isinstance(fields.get("Name"), dict) else {}
    name = mt.text_of(name_field.get("value"), mt.MAX_NAME_CHARS).strip()
    return Participant(name or username, normalize.handle("instagram", username))


def _from_profile(data: Any) -> Participant | None:
    if not isinstance(data, dict):
        return None
    username = mt.text_of(data.get("username"), mt.MAX_NAME_CHARS).strip()
    if not username:
        return None
    name = mt.text_of(data.get("name"), mt.MAX_NAME_CHARS).strip()
    return Participant(name or username, normalize.handle("instagram", username))


# ---------------------------------------------------------------- before December 2020


def _legacy_stream(archive: SafeArchive, members: list[str], context: mt.Context, *, close: bool) -> Iterator[Item]:
    """Each ``messages.json`` parsed whole (no streaming JSON parser is available) and cut."""
    try:
        readable = 0
        for name in members:
            try:
                data = mt.parse_json(mt.read_member(archive, name, MAX_LEGACY_BYTES))
            except mt.ThreadError as exc:
                context.problems.append(f"{name} could not be read: {exc}")
                continue
            readable += 1
            yield from legacy_items(data, context, name)
            del data
        if not readable:
            raise Quarantine("damaged", f"Instagram export: {'; '.join(context.problems[:3])}; ask for a new download")
    finally:
        if close:
            archive.close()


def legacy_items(data: Any, context: mt.Context, label: str) -> Iterator[Item]:
    """``[{participants: [usernames], conversation: [...]}]`` → parts named by sorted usernames."""
    if not isinstance(data, list):
        context.problems.append(f"{label}: not a list of conversations; nothing read")
        return
    for number, conversation in enumerate(data, 1):
        if not isinstance(conversation, dict) or not isinstance(conversation.get("conversation"), list):
            context.problems.append(f"{label}: conversation {number} is not a conversation object and was not kept")
            continue
        listed = conversation.get("participants")
        listed = listed if isinstance(listed, list) else []  # true, a number: not a list of usernames
        usernames = sorted({mt.text_of(u, mt.MAX_NAME_CHARS) for u in listed if isinstance(u, str)} - {""})
        entries, undated = _legacy_entries(conversation["conversation"], context.people)
        if undated:
            context.problems.append(f"{label}: conversation {number}: {undated} messages without a valid created_at were not kept")
        if not entries:
            continue
        if not usernames:
            usernames = sorted({e.message.sender_name for e in entries if e.message.sender_name})
        header = mt.Header(",".join(usernames), None, None, None, usernames)
        links = sum(len(e.message.attachments) for e in entries)
        evidence = [Evidence("media_links", f"{links} media items are links to Instagram's servers, not files in the export", 0.0)] if links else []
        yield from mt.cut(entries, header, context, evidence)


_LEGACY_TEXT = (  # field → how it reads in the transcript ("{}" is the value)
    ("text", "{}"), ("heart", "{}"), ("story_share", "[story share: {}]"), ("link", "[link: {}]"),
    ("media_share_caption", "[shared post: {}]"), ("media_share_url", "[shared post: {}]"),
    ("video_call_action", "{}"), ("action", "{}"),
)


def _legacy_entries(raw_messages: list[Any], people: mt.People) -> tuple[list[mt.Entry], int]:
    entries: list[mt.Entry] = []
    seen: set[tuple[str, str, str]] = set()
    undated = 0
    for raw in reversed(raw_messages):  # newest first in the file; reversed keeps same-second order
        if not isinstance(raw, dict):
            undated += 1
            continue
        when = _iso(raw.get("created_at"))
        if when is None:
            undated += 1
            continue
        notes = mt.Notes()
        sender = mt.text_of(raw.get("sender"), mt.MAX_NAME_CHARS, notes)
        pieces = []
        for key, shape in _LEGACY_TEXT:
            value = mt.text_of(raw.get(key), mt.MAX_TEXT_CHARS, notes)
            if value:
                pieces.append(shape.format(value))
        media = [url for url in (mt.text_of(raw.get("media_url"), mt.MAX_NAME_CHARS), mt.text_of(raw.get("voice_media"), mt.MAX_NAME_CHARS)) if url]
        pieces.extend(f"[media: {url}]" for url in media)
        if raw.get("animated_media_images"):
            pieces.append("[gif]")
        text = " ".join(pieces)
        key = (sender, when.isoformat(), text)
        if key in seen:
            continue
        seen.add(key)
        message = Message(sender or None, people.address(sender), when, text, attachments=tuple(media))
        extra: dict[str, Any] = {"created_at": str(raw.get("created_at"))[:64]}
        if isinstance(raw.get("likes"), list):
            extra["reactions"] = [
                {"reaction": "like", "actor": mt.text_of(like.get("username"), mt.MAX_NAME_CHARS)}
                for like in raw["likes"] if isinstance(like, dict)
            ]
        entries.append(mt.Entry(message, extra, [], notes.truncated))
    entries.sort(key=lambda e: e.message.sent_at)  # type: ignore[arg-type,return-value]
    return entries, undated


def _iso(value: Any) -> dt.datetime | None:
    """ISO 8601 → UTC; a time without a zone is taken as UTC, as Instagram wrote them."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment if 2004 <= moment.year < 2100 else None


register(InstagramReader())
