"""What Facebook and Instagram exports share: Meta's per-thread message JSON.

Both "Download Your Information" exports write a chat thread as a folder
``messages/<category>/<name>_<id>/`` holding ``message_1.json``, ``message_2.json``, ...
(newest messages first, a long thread split over several files) with the same schema
and the same mojibake (UTF-8 bytes written as ``\\u00XX`` escapes). This module holds
everything that does not depend on which of the two platforms wrote the export:

- ``survey``: what a zip's member names say (thread folders, HTML threads, the platform,
  the content recognised but not read yet). Member names are all a reader's ``score``
  may look at, so the platform is decided from them (see ``platform_of``).
- ``load_thread``: one thread folder's files parsed, merged, deduplicated and sorted, with
  every unreadable file named as a problem instead of sinking the export.
- ``cut``: a thread's messages cut by school year into ``Item``s (design.md, "Record
  units"), with the media each part references as child items.
- ``primed``: the streaming contract of both readers (see there).

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from records.intake import normalize
from records.intake.archive import UNSAFE, SafeArchive
from records.intake.model import Evidence, Extraction, Item, Message, Participant, Quarantine, ReadOptions
from records.intake.registry import Sniff

DEFAULT_TIMEZONE = "America/New_York"

MAX_THREAD_FILE_BYTES = 256 * 1024**2  # one message_N.json; Meta caps a file at 10,000 messages
MAX_SMALL_JSON_BYTES = 16 * 1024**2  # profile files
MAX_MEDIA_BYTES = 200 * 1024**2  # one photo, video or file kept as an attachment
# Media kept from one export, at most, as a multiple of the export's own expanded size.
# Each thread part that shows a file keeps its own copy (a record of its own, under its
# own key), so a file that many threads point at is stored once per part: an export of
# one 2 MB file shown by 50 threads stored 100 MB. Every file once fits four times over;
# copies beyond that are not kept, and the source says where the file is.
MEDIA_EXPANSION = 4
MAX_TEXT_CHARS = 1_000_000  # one message's text
MAX_NAME_CHARS = 1_000  # a title, a participant's name, a link
MAX_THREAD_PATH_CHARS = 300

# 2004 (Facebook's start) to 2100: a timestamp outside is not a date but damage.
_MIN_MS = 1_072_915_200_000
_MAX_MS = 4_102_444_800_000

THREAD_JSON = re.compile(r"(?:^|/)messages/([^/]+)/([^/]+)/message_(\d+)\.json$")
THREAD_HTML = re.compile(r"(?:^|/)messages/([^/]+)/([^/]+)/message_(\d+)\.html$")
LAYOUT_ROOTS = ("your_facebook_activity/", "your_activity_across_facebook/", "your_instagram_activity/")
MEDIA_LISTS = (("photos", "photo"), ("videos", "video"), ("audio_files", "audio"), ("gifs", "gif"), ("files", "file"))

# ---------------------------------------------------------------- telling the platforms apart
#
# Instagram's per-thread JSON is Facebook's schema field for field, and both exports put
# threads under ``messages/inbox/``: the thread files cannot tell them apart. The rest of
# the export can. Folders and files that only one platform writes (Meta's own names,
# 2018 to 2024 layouts) are counted as markers, and the platform with more distinct
# markers wins. A path segment naming the platform ("your_instagram_activity",
# "apps_and_websites_off_of_facebook") counts too, except inside ``messages/``, where
# folder names come from people's names and usernames ("instagram_fan_123").
FACEBOOK_DIRS = frozenset({
    "your_facebook_activity", "your_activity_across_facebook", "profile_information",
    "photos_and_videos", "about_you", "friends_and_followers", "facebook_gaming",
    "facebook_marketplace", "your_posts",
})
MESSENGER_ONLY = frozenset({"archived_threads", "filtered_threads", "stickers_used", "e2ee_cutover"})  # next to inbox/
FACEBOOK_FILES = frozenset({"profile_information", "your_posts_1", "friends"})  # .json or .html
INSTAGRAM_DIRS = frozenset({
    "your_instagram_activity", "followers_and_following", "story_sticker_interactions",
    "information_about_you",
})
INSTAGRAM_FILES = frozenset({"personal_information", "instagram_profile_information"})
# A pre-December-2020 Instagram export: ``messages.json`` at the root (or one folder down).
LEGACY_INSTAGRAM = re.compile(r"^(?:[^/]+/)?messages\.json$")


@dataclass(frozen=True)
class Survey:
    """What a zip's member names say about a Meta export."""

    platform: str | None  # "facebook" | "instagram" | None: no sign of either
    certain: bool  # decided by export-specific markers, not only by a hint
    threads: dict[str, list[str]]  # thread folder → its message_N.json members, N ascending
    html_threads: int
    legacy_instagram: list[str]  # root messages.json members (Instagram before Dec 2020)
    markers: tuple[str, ...] = ()  # the markers of the platform decided, for messages


def survey(members: Iterable[str]) -> Survey:
    """Sort a zip's member names into threads and markers; cheap and never raises on names."""
    facebook: set[str] = set()
    instagram: set[str] = set()
    threads: dict[str, list[tuple[int, str]]] = {}
    html: set[str] = set()
    legacy: list[str] = []
    for name in members:
        if name.endswith("/"):
            continue
        if found := THREAD_JSON.search(name):
            folder = name[: name.rindex("/")]
            threads.setdefault(folder, []).append((int(found.group(3)[:9]), name))
        elif found := THREAD_HTML.search(name):
            html.add(name[: name.rindex("/")])
        elif LEGACY_INSTAGRAM.match(name):
            legacy.append(name)
        _markers(name, facebook, instagram)
    if legacy:
        instagram.add("messages.json")
    ordered = {folder: [n for _, n in sorted(files)] for folder, files in sorted(threads.items())}
    platform, certain = _decide(facebook, instagram, list(ordered) + sorted(html))
    markers = tuple(sorted(facebook if platform == "facebook" else instagram))
    return Survey(platform, certain, ordered, len(html), sorted(legacy), markers)


def _markers(name: str, facebook: set[str], instagram: set[str]) -> None:
    """Add the platform markers in one member name (nothing from inside ``messages/``)."""
    parts = name.split("/")
    for at, segment in enumerate(parts[:-1]):
        if segment == "messages":
            category = parts[at + 1] if at + 2 < len(parts) else ""
            if category in MESSENGER_ONLY:
                facebook.add(category)
            return
        if segment in FACEBOOK_DIRS or "facebook" in segment:
            facebook.add(segment)
        elif segment in INSTAGRAM_DIRS or "instagram" in segment:
            instagram.add(segment)
    stem, _, extension = parts[-1].rpartition(".")
    if extension in ("json", "html"):
        if stem in FACEBOOK_FILES:
            facebook.add(stem)
        elif stem in INSTAGRAM_FILES:
            instagram.add(stem)


def _decide(facebook: set[str], instagram: set[str], folders: list[str]) -> tuple[str | None, bool]:
    if len(facebook) != len(instagram):
        return ("facebook" if len(facebook) > len(instagram) else "instagram"), True
    # No markers (a zip of the messages folder alone): a hint from the thread folders.
    # Facebook names a folder after the title with everything but letters and digits
    # removed; Instagram after a username, which may hold dots (maya.r.2014_1234567890).
    if any("." in folder.rsplit("/", 1)[-1].rsplit("_", 1)[0] for folder in folders):
        return "instagram", False
    return ("facebook" if folders else None), False


def lone_thread_platform(head: bytes) -> str | None:
    """A lone ``message_1.json`` (not in a zip): "facebook", "instagram", or None (not one).

    Only the first bytes are known, and ``thread_path`` comes last in a big file, so the
    test is the message fields. Which platform is only evidence in the media paths or
    Instagram's deleted-account name; without it the answer is Facebook (and the
    Facebook reader scores it lower than a certain answer).
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{") or b'"participants"' not in text or b'"messages"' not in text:
        return None
    if b'"sender_name"' not in text and b'"timestamp_ms"' not in text and b'"thread_path"' not in text:
        return None
    if b"your_instagram_activity/" in text or b'"instagramuser"' in text:
        return "instagram"
    return "facebook"


def lone_thread_certain(head: bytes) -> bool:
    """True when a lone thread file names its platform (media paths or deleted accounts)."""
    return any(marker in head for marker in (b"your_instagram_activity/", b'"instagramuser"', b"your_facebook_activity/", b"your_activity_across_facebook/"))


def skipped_content(members: Iterable[str], labels: dict[str, str]) -> tuple[list[str], int]:
    """The kinds of content recognised but not read yet (posts, photos, ...) and their file count.

    ``labels`` maps a folder or file name to a kind. Files under ``messages/`` are the
    threads' own media and are not counted.
    """
    kinds: dict[str, None] = {}
    count = 0
    for name in members:
        if name.endswith("/") or "/messages/" in f"/{name}":
            continue
        for segment in name.split("/"):
            kind = labels.get(segment)
            if kind:
                kinds.setdefault(kind, None)
                count += 1
                break
    order = [kind for kind in dict.fromkeys(labels.values()) if kind in kinds]
    return order, count


def describe(platform_label: str, what: str, kinds: list[str], files: int) -> str:
    """``Facebook export: 12 threads; posts, photos and comments recognised and not read yet (40 files)``."""
    text = f"{platform_label} export: {what}"
    if kinds:
        listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        text += f"; {listed} recognised and not read yet ({files} files)"
    return text


def thread_path_of(folder: str) -> str:
    """``x/your_facebook_activity/messages/inbox/elena_1`` → ``inbox/elena_1`` (Meta's thread_path)."""
    parts = folder.split("/")
    return "/".join(parts[-2:])


# ---------------------------------------------------------------- strings


@dataclass
class Notes:
    """What was changed on the way in, for the evidence of the part it happened in."""

    truncated: int = 0


def text_of(value: Any, cap: int, notes: Notes | None = None) -> str:
    """A string from the export, mojibake repaired and cut at ``cap`` characters.

    Anything that is not a string becomes "" (hostile or damaged JSON is not trusted to
    have the types the schema says).
    """
    if not isinstance(value, str):
        return ""
    if len(value) > cap * 4:  # at most 4 UTF-8 bytes a character: enough for the repair
        value = value[: cap * 4]
    value = normalize.fix_mojibake(value)
    if len(value) > cap:
        if notes is not None:
            notes.truncated += 1
        value = value[:cap] + f" [cut at {cap} characters]"
    return value


# ---------------------------------------------------------------- reading one thread


class ThreadError(Exception):
    """One thread file cannot be used; the reason is written for the clerk."""


def parse_json(raw: bytes) -> Any:
    """JSON from bytes; invalid, not UTF-8 or nested too deep → ``ThreadError``."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ThreadError("invalid JSON (nested too deep)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ThreadError(f"invalid JSON ({str(exc)[:120]})") from None


def read_member(archive: SafeArchive, name: str, limit: int) -> bytes:
    """A member's bytes; too large or damaged → ``ThreadError``; a lying zip header refuses all."""
    if archive.size(name) > limit:
        raise ThreadError(f"too large ({archive.size(name)} bytes, over the limit of {limit})")
    try:
        return archive.read_bytes(name, limit=limit)
    except Quarantine as stop:
        if stop.kind == UNSAFE:
            raise
        raise ThreadError(stop.reason) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        raise ThreadError(f"damaged in the zip ({str(exc)[:120]})") from None


@dataclass
class RawThread:
    """One thread as the export wrote it, merged over its files, messages oldest first."""

    folder: str
    title: Any = None
    thread_type: Any = None
    thread_path: Any = None
    participants: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    files_read: int = 0
    malformed: int = 0  # message entries that are not objects


def merge_file(thread: RawThread, data: Any) -> None:
    """Add one parsed ``message_N.json`` to its thread (header from the first file that has it)."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ThreadError("not a Messenger thread file (no messages list)")
    for key in ("title", "thread_type", "thread_path"):
        if getattr(thread, key) is None and data.get(key) is not None:
            setattr(thread, key, data.get(key))
    if not thread.participants and isinstance(data.get("participants"), list):
        thread.participants = data["participants"]
    for entry in data["messages"]:
        if isinstance(entry, dict):
            thread.messages.append(entry)
        else:
            thread.malformed += 1
    thread.files_read += 1


def load_thread(folder: str, members: list[str], read: Callable[[str], bytes], problems: list[str]) -> RawThread:
    """Every file of a thread folder, merged; each file that fails is a problem, the rest is kept."""
    thread = RawThread(folder)
    for name in members:
        try:
            merge_file(thread, parse_json(read(name)))
        except ThreadError as exc:
            problems.append(f"{name} could not be read: {exc}")
    thread.messages = ordered(thread.messages)
    return thread


def ordered(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first, duplicates (overlapping files) once.

    Files come message_1 (newest) to message_N (oldest), each newest first: the whole
    list reversed is chronological, and a stable sort on ``timestamp_ms`` keeps that
    order for messages of the same millisecond.
    """
    seen: set[tuple[str, ...]] = set()
    unique = []
    for entry in reversed(messages):
        key = (repr(entry.get("sender_name")), repr(entry.get("timestamp_ms")), repr(entry.get("content"))[:4096], repr(media_uris(entry)))
        if key in seen:
            continue
        seen.add(key)
        unique.append(entry)
    unique.sort(key=lambda e: _ms(e.get("timestamp_ms")) or 0)
    return unique


def _ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if _MIN_MS <= number <= _MAX_MS else None


def media_uris(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, uri) of every photo, video, audio file, GIF and file a message carries."""
    found = []
    for key, kind in MEDIA_LISTS:
        listed = entry.get(key)
        if not isinstance(listed, list):
            continue
        for media in listed:
            if isinstance(media, dict) and isinstance(media.get("uri"), str) and media["uri"]:
                found.append((kind, media["uri"][:MAX_NAME_CHARS]))
    return found


# ---------------------------------------------------------------- people


@dataclass(frozen=True)
class People:
    """How a platform names people: addresses, the owner, deleted accounts."""

    platform: str  # "facebook" | "instagram"
    deleted_names: frozenset[str]  # casefolded ("facebook user", "instagramuser")
    aliases: dict[str, str] = field(default_factory=dict)  # a display name → its address (the owner's)
    owner: Participant | None = None

    def address(self, name: str) -> str | None:
        if not name or self.is_deleted(name):
            return None
        return self.aliases.get(name) or normalize.handle(self.platform, name)

    def is_deleted(self, name: str) -> bool:
        return name.casefold() in self.deleted_names


# ---------------------------------------------------------------- messages and parts


@dataclass
class Entry:
    """One message made ready: the model's ``Message`` and the raw facts kept beside it."""

    message: Message
    extra: dict[str, Any]
    media: list[str]  # uris, relative to the export root
    truncated: int = 0  # strings of this message cut at their cap


def entry_of(raw: dict[str, Any], people: People) -> Entry | None:
    """A Meta message → ``Entry``; None when it has no usable time (reported by the caller)."""
    stamp = _ms(raw.get("timestamp_ms"))
    if stamp is None:
        return None
    notes = Notes()
    sender = text_of(raw.get("sender_name"), MAX_NAME_CHARS, notes)
    content = text_of(raw.get("content"), MAX_TEXT_CHARS, notes)
    media = media_uris(raw)
    pieces = [content] if content else []
    share = raw.get("share") if isinstance(raw.get("share"), dict) else {}
    link = text_of(share.get("link"), MAX_NAME_CHARS)
    if link and link not in content:
        pieces.append(f"[link: {link}]")
    sticker = raw.get("sticker") if isinstance(raw.get("sticker"), dict) else {}
    if sticker.get("uri"):
        pieces.append("[sticker]")
    pieces.extend(f"[{kind}: {PurePosixPath(uri).name}]" for kind, uri in media)
    unsent = raw.get("is_unsent") is True
    if unsent and not content:
        pieces.append("(unsent message)")
    message = Message(
        sender_name=sender or None,
        sender_address=people.address(sender),
        sent_at=normalize.from_epoch_ms(stamp),
        text=" ".join(pieces),
        attachments=tuple(uri for _, uri in media),
    )
    extra: dict[str, Any] = {"timestamp_ms": stamp, "content": content or None}
    if isinstance(raw.get("type"), str):
        extra["type"] = raw["type"][:64]
    if unsent:
        extra["is_unsent"] = True
    if link:
        extra["share_link"] = link
    if sticker.get("uri"):
        extra["sticker"] = text_of(sticker.get("uri"), MAX_NAME_CHARS)
    reactions = [
        {"reaction": text_of(r.get("reaction"), 64), "actor": text_of(r.get("actor"), MAX_NAME_CHARS)}
        for r in raw.get("reactions", []) if isinstance(r, dict)
    ] if isinstance(raw.get("reactions"), list) else []
    if reactions:
        extra["reactions"] = reactions
    return Entry(message, extra, [uri for _, uri in media], notes.truncated)


class MediaIndex:
    """Finds a message's media in the zips of the export set.

    A ``uri`` is relative to the export root, but the root may sit inside a folder
    (a re-zipped export), and Meta has written uris in one layout inside an export of
    another; so a uri is tried as given, then under every root the threads were found in.
    """

    def __init__(self, archive: SafeArchive, thread_members: Iterable[str]) -> None:
        self.archive = archive
        self.kept_bytes = 0  # media kept as attachments so far, every copy counted
        self.limit = MEDIA_EXPANSION * archive.expanded_size
        self.first_kept: dict[str, str] = {}  # member → the locator of its first copy
        self.refused: set[str] = set()  # members whose further copies were refused (said once each)
        prefixes: dict[str, None] = {"": None}
        for name in thread_members:
            at = f"/{name}".rfind("/messages/")
            if at >= 0:
                prefixes.setdefault(name[:at], None)
        self.prefixes = list(prefixes)

    def find(self, uri: str) -> str | None:
        path = uri.lstrip("/")
        if "://" in path:
            return None
        tail = path
        for root in LAYOUT_ROOTS:
            if tail.startswith(root):
                tail = tail[len(root):]
                break
        candidates = [path] + [prefix + tail for prefix in self.prefixes] + [prefix + root + tail for prefix in self.prefixes for root in LAYOUT_ROOTS]
        for candidate in candidates:
            if candidate in self.archive:
                return candidate
        return None


@dataclass
class Context:
    """What cutting a thread needs besides the thread: one per export."""

    format: str  # "facebook-thread" | "instagram-thread"
    people: People
    problems: list[str]
    timezone: str = DEFAULT_TIMEZONE
    media: MediaIndex | None = None
    evidence: list[Evidence] = field(default_factory=list)  # added to every part


@dataclass
class Header:
    """The thread facts written into each part's content."""

    base_locator: str  # thread_path, or sorted usernames for a pre-2020 Instagram conversation
    thread_path: str | None
    title: str | None
    thread_type: str | None
    participants: list[str]  # names as the export lists them, repaired


def entries_of(thread: RawThread, context: Context) -> list[Entry]:
    """Every message of a merged thread made ready; those without a time are reported."""
    entries = []
    undated = 0
    for raw in thread.messages:
        entry = entry_of(raw, context.people)
        if entry is None:
            undated += 1
        else:
            entries.append(entry)
    label = thread.folder or "the thread file"
    if undated:
        context.problems.append(f"{label}: {undated} messages without a valid timestamp_ms were not kept")
    if thread.malformed:
        context.problems.append(f"{label}: {thread.malformed} message entries are not message objects and were not kept")
    return entries


def header_of(thread: RawThread, fallback_path: str, fallback_from: str = "the thread folder") -> tuple[Header, list[Evidence]]:
    """The thread's header; ``thread_path`` as the JSON gives it, else from the folder."""
    evidence = []
    notes = Notes()
    path = thread.thread_path
    if not (isinstance(path, str) and path.strip() and len(path) <= MAX_THREAD_PATH_CHARS):
        path = fallback_path
        evidence.append(Evidence("locator", f"thread_path absent or unusable: taken from {fallback_from}", 0.5))
    path = path.strip()
    names = []
    for participant in thread.participants:
        name = text_of(participant.get("name") if isinstance(participant, dict) else participant, MAX_NAME_CHARS, notes)
        if name and name not in names:
            names.append(name)
    title = text_of(thread.title, MAX_NAME_CHARS, notes) or None
    thread_type = thread.thread_type[:64] if isinstance(thread.thread_type, str) else None
    if notes.truncated:
        evidence.append(Evidence("truncated", f"{notes.truncated} thread titles or participant names cut at {MAX_NAME_CHARS} characters", 0.5))
    return Header(path, path, title, thread_type, names), evidence


def cut(entries: list[Entry], header: Header, context: Context, evidence: list[Evidence] | None = None) -> Iterator[Item]:
    """One ``Item`` per school year of a thread (entries oldest first), media as children."""
    for year, group in itertools.groupby(entries, key=lambda e: normalize.school_year(e.message.sent_at, context.timezone)):  # type: ignore[arg-type]
        yield _part(list(group), year, header, context, list(evidence or []))


def _part(entries: list[Entry], year: str, header: Header, context: Context, evidence: list[Evidence]) -> Item:
    locator = f"{header.base_locator}#{year}"
    people = context.people
    participants: dict[str, Participant] = {}
    for name in header.participants + [e.message.sender_name for e in entries if e.message.sender_name]:
        if name not in participants:
            participants[name] = Participant(name, people.address(name))
    messages = [e.message for e in entries]
    payload = {
        "format": context.format,
        "thread_path": header.thread_path,
        "title": header.title,
        "thread_type": header.thread_type,
        "messages": [{**e.message.to_json(), **e.extra} for e in entries],
    }
    if header.thread_path is None:
        payload["participants"] = header.participants
    children, missing = _children(entries, locator, context)
    evidence = [*context.evidence, *evidence]
    if missing:
        evidence.append(Evidence("media_missing", f"{missing} media files referenced but not in the export", 0.0))
    truncated = sum(e.truncated for e in entries)
    if truncated:
        evidence.append(Evidence("truncated", f"{truncated} strings of messages cut at {MAX_TEXT_CHARS} characters (text) or {MAX_NAME_CHARS} (names, links)", 0.5))
    deleted = [name for name in participants if people.is_deleted(name)]
    if deleted:
        evidence.append(Evidence("deleted_account", f"{len(deleted)} sender names are the platform's placeholder for a deleted account; no address given", 0.5))
    return Item(
        format=context.format,
        locator=locator,
        text=normalize.transcript([(m.sent_at, m.sender_name, m.text) for m in messages]),
        participants=list(participants.values()),
        sent_at_first=messages[0].sent_at,
        sent_at_last=messages[-1].sent_at,
        evidence=evidence,
        content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        children=children,
        messages=messages,
        dedupe_key=f"{people.platform}:{locator}",
        owner=people.owner,
    )


def _children(entries: list[Entry], locator: str, context: Context) -> tuple[list[Item], int]:
    """The part's media found in the export set, as attachment items; and how many are missing."""
    children: list[Item] = []
    seen: set[str] = set()
    names: set[str] = set()
    missing = 0
    for entry in entries:
        for uri in entry.media:
            if uri in seen:
                continue
            seen.add(uri)
            media = context.media
            member = media.find(uri) if media else None
            if media is None or member is None:
                missing += 1
                continue
            if member in media.first_kept and media.kept_bytes + media.archive.size(member) > media.limit:
                if member not in media.refused:
                    media.refused.add(member)
                    context.problems.append(
                        f"{member} (media of {locator} and of later thread parts showing it) was not kept again: "
                        f"the export's media kept once per thread part reached {MEDIA_EXPANSION} times the export's "
                        f"own size; the file is kept with {media.first_kept[member]}"
                    )
                continue
            try:
                data = read_member(media.archive, member, MAX_MEDIA_BYTES)
            except ThreadError as exc:
                context.problems.append(f"{member} (media of {locator}) was not kept: {exc}")
                continue
            media.kept_bytes += len(data)
            name = PurePosixPath(member).name
            unique = name
            counter = 2
            while unique in names:  # two different files of one part with the same name
                unique = f"{PurePosixPath(name).stem}~{counter}{PurePosixPath(name).suffix}"
                counter += 1
            names.add(unique)
            media.first_kept.setdefault(member, f"{locator}/{unique}")
            children.append(Item(
                format="attachment",
                locator=f"{locator}/{unique}",
                text="",
                name=unique,
                content=data,
                sent_at_first=entry.message.sent_at,
                sent_at_last=entry.message.sent_at,
                participants=[Participant(entry.message.sender_name, entry.message.sender_address)] if entry.message.sender_name else [],
                dedupe_key=f"{context.people.platform}:{locator}/{unique}",
                owner=context.people.owner,
            ))
    return children, missing


def thread_items(folder: str, members: list[str], read: Callable[[str], bytes], context: Context, fallback_path: str | None = None) -> tuple[bool, Iterator[Item]]:
    """A thread folder's parts; the flag says whether any of its files could be read."""
    thread = load_thread(folder, members, read, context.problems)
    if not thread.files_read:
        return False, iter(())
    header, evidence = header_of(thread, fallback_path or thread_path_of(folder))
    entries = entries_of(thread, context)
    del thread  # the raw dicts are not needed once the entries are made
    return True, cut(entries, header, context, evidence)


def stream_threads(survey_: Survey, archive: SafeArchive, context: Context, label: str) -> Iterator[Item]:
    """Every thread of the export, part by part, closing the archive at the end.

    Memory is bounded by the largest thread. When no thread file at all could be read
    the export is ``Quarantine("damaged")`` (raised before the first item, see ``primed``).
    """
    try:
        readable = 0

        def read(name: str) -> bytes:
            return read_member(archive, name, MAX_THREAD_FILE_BYTES)

        for folder, members in survey_.threads.items():
            ok, parts = thread_items(folder, members, read, context)
            readable += ok
            yield from parts
        if not readable:
            raise Quarantine("damaged", f"{label}: none of the {len(survey_.threads)} message threads could be read ({'; '.join(context.problems[:3])}); ask for a new download")
    finally:
        archive.close()


def read_lone_file(sniff: Sniff, options: ReadOptions, reader: str, format_: str, people: People, evidence: list[Evidence] | None = None) -> Extraction:
    """A single ``message_N.json`` given on its own: its parts, no media, no owner."""
    if sniff.size > min(options.max_bytes, MAX_THREAD_FILE_BYTES):
        raise Quarantine("too_large", f"thread file is {sniff.size} bytes, over the limit of {MAX_THREAD_FILE_BYTES}")
    problems: list[str] = []
    context = Context(format=format_, people=people, problems=problems, timezone=getattr(options, "timezone", None) or DEFAULT_TIMEZONE, evidence=list(evidence or []))
    thread = RawThread("")
    try:
        merge_file(thread, parse_json(sniff.path.read_bytes()))
    except ThreadError as exc:
        raise Quarantine("damaged", f"thread file could not be read: {exc}") from None
    thread.messages = ordered(thread.messages)
    header, header_evidence = header_of(thread, "inbox/" + _slug(thread.title), "the thread title")
    items: list[Item] = list(cut(entries_of(thread, context), header, context, header_evidence))
    label = "Instagram" if format_ == "instagram-thread" else "Facebook"
    return Extraction(reader=reader, detected=f"{label} message thread (a lone JSON file)", items=items, problems=problems)


def _slug(title: Any) -> str:
    text = text_of(title, MAX_NAME_CHARS).lower()
    return "".join(ch for ch in text if ch.isalnum()) or "untitled"


def primed(items: Iterator[Item]) -> Iterator[Item] | list[Item]:
    """Start a stream so that a whole-export failure surfaces in ``read``, not later.

    The generator runs until its first item: when every thread is broken that run ends
    in the ``Quarantine`` (nothing was yielded yet), and when there is nothing to keep
    the result is an empty list, which the pipeline treats as an empty source.
    """
    try:
        first = next(items)
    except StopIteration:
        return []
    return itertools.chain([first], items)
