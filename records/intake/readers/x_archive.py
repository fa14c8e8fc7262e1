"""X (Twitter) archives: direct messages and the owner's posts, cut into school-year record units.

Why it is built this way:

- **Layouts.** Today's archive is a zip of ``data/*.js`` files, each ``window.YTD.<name>.partN =``
  followed by a JSON array (strip up to the first ``=``). Big archives split files
  (``tweets-part1.js``, ``direct-messages-part1.js``) and may come as several zips
  (``ReadOptions.companions``), read as one tree through ``SafeArchive``, which refuses
  ``..``/absolute/symlink members and zip bombs for the whole set. Before 2018 the archive
  held ``data/js/tweets/YYYY_MM.js`` (``Grailbird.data.tweets_YYYY_MM =``) and
  ``tweets.csv``. A lone ``.js`` file is read too (without an owner unless it is one).
- **Ids are text.** User, message, tweet and conversation ids exceed 2^53: they are never
  turned into numbers (``x:ID`` addresses, ``message_id`` strings).
- **Record units** (design.md): one ``x-dm-thread`` per conversation and school year,
  one ``x-posts`` per school year of the owner's posts. Names: only the owner's is known
  for certain (``account.js``); other participants get the display name a post of the
  owner mentioned them with, when there is one, and the clerk maps the rest. Message
  ``sender_name`` is the owner's name or ``None``.
- **Partial reads.** One unreadable file is a problem (the source is partial) and the rest
  is read; files the engine does not read (likes, followers, ads) are counted in
  ``detected``, not in problems. Archive media named ``<message or tweet id>-<file>`` in
  ``direct_messages_media``/``tweets_media`` folders become attachment children.

Plain functions over plain data: no database, no Prefect.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from records.intake import normalize
from records.intake.archive import SafeArchive
from records.intake.model import Evidence, Extraction, Item, Message, Participant, Quarantine, ReadOptions
from records.intake.registry import Reader, Sniff, register

DEFAULT_TIMEZONE = "America/New_York"  # ReadOptions has no time zone yet: the district default
MAX_DATA_FILE_BYTES = 512 * 1024**2  # one .js or .csv parsed in memory
MAX_MEDIA_FILE_BYTES = 256 * 1024**2  # one media file kept as an attachment
MAX_MEDIA_BYTES = 2 * 1024**3  # all media kept from one archive

# Member name patterns (any leading folder allowed: re-zipped archives add one).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("account", re.compile(r"(?:^|/)data/account\.js$")),
    ("dms", re.compile(r"(?:^|/)data/direct-messages(?:-group)?(?:-part\d+)?\.js$")),
    ("tweets", re.compile(r"(?:^|/)data/tweets?(?:-part\d+)?\.js$")),
    ("notes", re.compile(r"(?:^|/)data/note-tweet(?:-part\d+)?\.js$")),
    ("grailbird", re.compile(r"(?:^|/)data/js/tweets/\d{4}_\d{2}\.js$")),
    ("grailbird_user", re.compile(r"(?:^|/)data/js/user_details\.js$")),
    ("csv", re.compile(r"(?:^|/)tweets\.csv$")),
    ("dm_media", re.compile(r"(?:^|/)data/direct[_-]messages?[_-](?:group[_-])?media/[^/]+$")),
    ("tweet_media", re.compile(r"(?:^|/)data/tweets?[_-]media/[^/]+$")),
    ("other", re.compile(r"(?:^|/)data/(?:js/)?[^/]+\.js$")),
)
_READABLE = ("dms", "tweets", "grailbird", "csv")
_YTD = re.compile(rb"^\s*window\.YTD\.([A-Za-z0-9_]+)\.part\d+\s*=")
_YTD_KINDS = {
    "account": "account", "direct_messages": "dms", "direct_messages_group": "dms",
    "tweets": "tweets", "tweet": "tweets", "note_tweet": "notes",
}
_CSV_HEAD = re.compile(rb'^\s*"?tweet_id"?,"?in_reply_to_status_id"?')
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_CLASSIC_TIME = re.compile(r"^\w{3} (\w{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4}) (\d{4})$")
_GRAILBIRD_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) ?([+-]\d{4}|Z)?$")


class XArchiveReader(Reader):
    """Reads X archives (zip or a lone ``.js``) into ``x-dm-thread`` and ``x-posts`` items."""

    name = "x"

    def score(self, sniff: Sniff) -> float:
        try:
            if sniff.zip_members:
                kinds = {_kind(name) for name in sniff.zip_members}
                if kinds & {"account", "dms", "tweets", "notes"}:
                    return 0.95
                if kinds & {"grailbird", "grailbird_user"}:
                    return 0.9
                return 0.0
            head = sniff.head.lstrip(b"\xef\xbb\xbf")
            if _YTD.match(head):
                return 0.95
            if head.lstrip().startswith((b"Grailbird.data.tweets_", b"var user_details")) or _CSV_HEAD.match(head):
                return 0.9
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0
        return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        return read_archive(Path(sniff.path), options, is_zip=bool(sniff.zip_members))


def _kind(name: str) -> str | None:
    for kind, pattern in _PATTERNS:
        if pattern.search(name):
            return kind
    return None


# --------------------------------------------------------------------------- files


class _Files:
    """The archive's member names by kind, and a way to read one (zip or a lone file)."""

    def __init__(self, path: Path, options: ReadOptions, is_zip: bool) -> None:
        self.archive: SafeArchive | None = None
        self.lone: Path | None = None
        self.by_kind: dict[str, list[str]] = {}
        if is_zip:
            self.archive = SafeArchive([path, *options.companions])
            for name in self.archive.names():
                kind = _kind(name)
                if kind:
                    self.by_kind.setdefault(kind, []).append(name)
            for names in self.by_kind.values():
                names.sort(key=_natural)
        else:
            if path.stat().st_size > min(options.max_bytes, MAX_DATA_FILE_BYTES):
                raise Quarantine("too_large", f"X archive file is {path.stat().st_size} bytes, over the limit of {MAX_DATA_FILE_BYTES} for one file")
            self.lone = path
            self.by_kind[_lone_kind(path)] = [path.name]

    def names(self, kind: str) -> list[str]:
        return self.by_kind.get(kind, [])

    def read(self, name: str, limit: int) -> bytes:
        if self.archive is None:
            assert self.lone is not None
            return self.lone.read_bytes()
        try:
            return self.archive.read_bytes(name, limit)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:  # a bad CRC shows only when read
            raise Quarantine("damaged", f"the zip member is damaged ({' '.join(str(error).split())[:120]})") from None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _lone_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf")
    match = _YTD.match(head)
    if match:
        return _YTD_KINDS.get(match.group(1).decode(), "other")
    stripped = head.lstrip()
    if stripped.startswith(b"Grailbird.data.tweets_"):
        return "grailbird"
    if stripped.startswith(b"var user_details"):
        return "grailbird_user"
    return "csv" if _CSV_HEAD.match(head) else "other"


def _natural(name: str) -> tuple[Any, ...]:
    """``tweets.js`` < ``tweets-part1.js`` < ``tweets-part2.js`` < ``tweets-part10.js``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


class _FileError(Exception):
    """One data file could not be read: a problem, and the rest of the archive is read."""


def _load(files: _Files, name: str, problems: list[str], *, json_file: bool = True) -> Any:
    """A data file's JSON (after the ``... =`` prefix) or text; None, with a problem, when unreadable."""
    try:
        raw = files.read(name, MAX_DATA_FILE_BYTES)
    except Quarantine as stop:
        if stop.kind == "unsafe":
            raise  # a lying zip header: the whole archive is refused
        problems.append(f"{name} could not be read: {stop.reason}")
        return None
    text = raw.decode("utf-8-sig", errors="replace")
    del raw
    if not json_file:
        return text
    try:
        return parse_js(text, name)
    except _FileError as error:
        problems.append(str(error))
        return None


def parse_js(text: str, name: str = "file") -> Any:
    """``window.YTD.tweets.part0 = [...]`` (or ``Grailbird...``, ``var user_details =``) → the JSON.

    Raises ``_FileError`` naming the character (in the whole file) where the JSON broke.
    """
    equals = text.find("=")
    if equals < 0:
        raise _FileError(f"{name} could not be read: no '=' before the data")
    try:
        return json.loads(text[equals + 1 :])
    except json.JSONDecodeError as error:
        raise _FileError(f"{name} could not be read: invalid JSON at char {equals + 1 + error.pos}") from None
    except RecursionError:
        raise _FileError(f"{name} could not be read: JSON nested too deeply") from None


def _records(data: Any, wrapper: str) -> Iterable[dict[str, Any]]:
    """The objects of a YTD array, unwrapped (``[{"tweet": {...}}]``; older files are bare)."""
    if not isinstance(data, list):
        return
    for entry in data:
        if isinstance(entry, dict):
            inner = entry.get(wrapper, entry)
            if isinstance(inner, dict):
                yield inner


# --------------------------------------------------------------------------- values


def _id(value: Any) -> str | None:
    """An id as text; numbers are kept digit for digit (never through a float)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    """A field that should be a list; anything else (a hand-edited or future export) is none."""
    return value if isinstance(value, list) else []


def parse_time(value: Any) -> dt.datetime | None:
    """X's three timestamp spellings → UTC: ISO (``2019-02-15T17:32:51.123Z``), classic
    (``Wed Oct 10 20:19:24 +0000 2018``, parsed without the locale) and Grailbird/CSV
    (``2014-05-01 12:34:56 +0000``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    classic = _CLASSIC_TIME.match(text)
    try:
        if classic:
            month = _MONTHS.get(classic.group(1))
            if month is None:
                return None
            zone = dt.datetime.strptime(classic.group(6), "%z").tzinfo
            moment = dt.datetime(int(classic.group(7)), month, int(classic.group(2)), int(classic.group(3)), int(classic.group(4)), int(classic.group(5)), tzinfo=zone)
            return moment.astimezone(dt.UTC)
        old = _GRAILBIRD_TIME.match(text)
        if old:
            zone = dt.UTC if old.group(7) in (None, "Z") else dt.datetime.strptime(old.group(7), "%z").tzinfo
            moment = dt.datetime(*(int(old.group(i)) for i in range(1, 7)), tzinfo=zone)  # type: ignore[misc]
            return moment.astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _expand_urls(text: str, urls: Any) -> str:
    """t.co links replaced by the address they stood for: a kept record must not depend on X's redirector."""
    if not isinstance(urls, list):
        return text
    for url in urls:
        if isinstance(url, dict):
            short, full = _str(url.get("url")), _str(url.get("expanded_url") or url.get("expanded"))
            if short and full:
                text = text.replace(short, full)
    return text


# --------------------------------------------------------------------------- reading


@dataclass
class _Archive:
    """What was read from one archive, before it is cut into record units."""

    timezone: str
    problems: list[str] = field(default_factory=list)
    owner_id: str | None = None
    owner_name: str | None = None
    owner_evidence: list[Evidence] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # user id -> display name from mentions
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> tweet object
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> messages, people
    read_ok: int = 0
    media: dict[str, list[str]] = field(default_factory=dict)  # message/tweet id -> member names
    media_bytes: int = 0


def read_archive(path: Path, options: ReadOptions | None = None, *, is_zip: bool | None = None, timezone: str | None = None) -> Extraction:
    """Read an X archive (a zip, its companions, or a lone ``.js``/``.csv``) into items.

    ``timezone`` cuts school years: the argument, else ``options.timezone`` once
    ``ReadOptions`` has it, else ``DEFAULT_TIMEZONE``.
    """
    options = options or ReadOptions()
    if is_zip is None:
        is_zip = zipfile.is_zipfile(path)
    files = _Files(path, options, is_zip)
    try:
        found = _Archive(timezone=timezone or getattr(options, "timezone", None) or DEFAULT_TIMEZONE)
        readable = [n for kind in _READABLE for n in files.names(kind)]
        if not readable:
            raise Quarantine("unsupported", _nothing_to_read(files))
        _read_owner(files, found)
        _read_tweets(files, found)
        _read_dms(files, found)
        for kind in ("dm_media", "tweet_media"):
            for name in files.names(kind):
                stem = PurePosixPath(name).name.split("-", 1)[0]
                if stem.isdigit():
                    found.media.setdefault(stem, []).append(name)
        if not found.read_ok:
            raise Quarantine("damaged", f"X archive damaged: none of its message or post files could be read ({'; '.join(found.problems[:3])}); ask for a new download")
        items = _dm_items(found, files) + _post_items(found, files)
    finally:
        files.close()
    if not items:
        raise Quarantine("empty", "X archive holds no direct messages or posts")
    return Extraction(reader=XArchiveReader.name, detected=_detected(found, files, items), items=items, problems=found.problems)


def _nothing_to_read(files: _Files) -> str:
    if files.lone is not None:
        return "X archive file without direct messages or posts (account, likes, followers...): ingest the whole archive zip"
    return "X archive without direct messages or posts (no direct-messages.js, tweets.js or tweets.csv): if the archive came in several zips, ingest them together"


def _detected(found: _Archive, files: _Files, items: list[Item]) -> str:
    threads = len({i.dedupe_key.rsplit("#", 1)[0] for i in items if i.format == "x-dm-thread" and i.dedupe_key})
    posts = sum(len(i.messages) for i in items if i.format == "x-posts")
    text = f"X archive: {threads} DM conversations, {posts} posts"
    others = len(files.names("other"))
    if others:
        text += f"; {others} other data files not read"
    if found.owner_id is None:
        text += "; owner unknown (no account.js)"
    return text


def _read_owner(files: _Files, found: _Archive) -> None:
    for name in files.names("account"):
        for account in _records(_load(files, name, found.problems), "account"):
            owner = _id(account.get("accountId"))
            if owner:
                found.owner_id = owner
                found.owner_name = _str(account.get("accountDisplayName")) or _str(account.get("username")) or None
                found.owner_evidence = [Evidence("owner", "account.js accountId", 1.0)]
                return
    for name in files.names("grailbird_user"):
        data = _load(files, name, found.problems)
        if isinstance(data, dict) and _id(data.get("id")):
            found.owner_id = _id(data.get("id"))
            found.owner_name = _str(data.get("full_name")) or _str(data.get("screen_name")) or None
            found.owner_evidence = [Evidence("owner", "user_details.js id", 1.0)]
            return


def _read_tweets(files: _Files, found: _Archive) -> None:
    for name in files.names("tweets") + files.names("grailbird"):
        data = _load(files, name, found.problems)
        if data is None:
            continue
        found.read_ok += 1
        for tweet in _records(data, "tweet"):
            tweet_id = _id(tweet.get("id_str")) or _id(tweet.get("id"))
            if tweet_id:
                found.tweets.setdefault(tweet_id, tweet)
                user = tweet.get("user")
                if found.owner_id is None and isinstance(user, dict) and _id(user.get("id_str")):
                    found.owner_id = _id(user.get("id_str"))
                    found.owner_name = _str(user.get("name")) or _str(user.get("screen_name")) or None
                    found.owner_evidence = [Evidence("owner", "Grailbird tweet user.id_str", 0.9)]
    if not files.names("tweets") and not files.names("grailbird"):
        for name in files.names("csv"):
            _read_csv(files, name, found)
    for tweet in found.tweets.values():
        entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
        for mention in _list(entities.get("user_mentions")):
            if isinstance(mention, dict) and _id(mention.get("id_str")) and _str(mention.get("name")):
                found.names.setdefault(_id(mention.get("id_str")), _str(mention.get("name")))  # type: ignore[arg-type]
    _read_notes(files, found)


def _read_csv(files: _Files, name: str, found: _Archive) -> None:
    """Pre-2018 ``tweets.csv``: used only when the archive has no ``.js`` tweet files."""
    text = _load(files, name, found.problems, json_file=False)
    if text is None:
        return
    try:
        for row in csv.DictReader(io.StringIO(text)):
            tweet_id = _id(row.get("tweet_id"))
            if tweet_id:
                found.tweets.setdefault(tweet_id, {
                    "id_str": tweet_id, "full_text": row.get("text") or "", "created_at": row.get("timestamp"),
                    "in_reply_to_user_id_str": row.get("in_reply_to_user_id") or None,
                })
    except csv.Error as error:
        found.problems.append(f"{name} could not be read: invalid CSV ({' '.join(str(error).split())[:120]})")
        return
    found.read_ok += 1


def _read_notes(files: _Files, found: _Archive) -> None:
    """Long posts: ``note-tweet.js`` holds the whole text of posts whose ``full_text`` is cut.

    A note is matched to its post by id when the ids agree, else by time (within two
    seconds) and the post's text (without its trailing ``…`` and link) starting the note.
    """
    notes = [n for name in files.names("notes") for n in _records(_load(files, name, found.problems), "noteTweet")]
    if not notes:
        return
    by_second: dict[int, list[str]] = {}
    for tweet_id, tweet in found.tweets.items():
        moment = parse_time(tweet.get("created_at"))
        if moment:
            by_second.setdefault(int(moment.timestamp()), []).append(tweet_id)
    for note in notes:
        core = note.get("core") if isinstance(note.get("core"), dict) else {}
        text = _str(core.get("text"))
        if not text:
            continue
        target = _id(note.get("noteTweetId"))
        if target not in found.tweets:
            target = None
            moment = parse_time(note.get("createdAt"))
            if moment:
                second = int(moment.timestamp())
                candidates = [t for s in range(second - 2, second + 3) for t in by_second.get(s, [])]
                target = next((t for t in candidates if _starts(text, _full_text(found.tweets[t]))), None)
        if target:
            found.tweets[target] = {**found.tweets[target], "full_text": text, "_note": True}


def _full_text(tweet: dict[str, Any]) -> str:
    return html.unescape(_str(tweet.get("full_text")) or _str(tweet.get("text")))


def _starts(note: str, truncated: str) -> bool:
    head = re.sub(r"\s*(?:https://t\.co/\S+)?\s*$", "", truncated).rstrip("…").rstrip()
    head = " ".join(head.split())
    return bool(head) and " ".join(note.split()).startswith(head[: max(20, len(head) - 5)])


def _read_dms(files: _Files, found: _Archive) -> None:
    for name in files.names("dms"):
        data = _load(files, name, found.problems)
        if data is None:
            continue
        found.read_ok += 1
        for conversation in _records(data, "dmConversation"):
            conversation_id = _str(conversation.get("conversationId")).strip()
            if not conversation_id:
                found.problems.append(f"{name}: a conversation without conversationId skipped")
                continue
            held = found.conversations.setdefault(conversation_id, {"messages": {}, "people": {}})
            for entry in _list(conversation.get("messages")):
                if isinstance(entry, dict):
                    _dm_entry(entry, conversation_id, held, found)


def _dm_entry(entry: dict[str, Any], conversation_id: str, held: dict[str, Any], found: _Archive) -> None:
    """One event of a conversation: a message, or people joining/leaving (participants only)."""
    for kind, event in entry.items():
        if not isinstance(event, dict):
            continue
        moment = parse_time(event.get("createdAt"))
        people = [_id(event.get(key)) for key in ("senderId", "recipientId", "initiatingUserId")]
        for key in ("userIds", "participantsSnapshot"):
            if isinstance(event.get(key), list):
                people += [_id(v) for v in event[key]]
        if kind != "messageCreate":
            if moment:
                year = normalize.school_year(moment, found.timezone)
                held["people"].setdefault(year, set()).update(p for p in people if p)
            continue
        message_id = _id(event.get("id"))
        if moment is None:
            found.problems.append(f"direct message {message_id or '(no id)'} in conversation {conversation_id} skipped: no readable date")
            continue
        year = normalize.school_year(moment, found.timezone)
        held["people"].setdefault(year, set()).update(p for p in people if p)
        key = message_id or f"{moment.isoformat()}|{_id(event.get('senderId'))}|{_str(event.get('text'))}"
        held["messages"].setdefault(key, (moment, message_id, _id(event.get("senderId")), event))


# --------------------------------------------------------------------------- items


def _owner(found: _Archive) -> Participant | None:
    return Participant(found.owner_name, normalize.x_id(found.owner_id)) if found.owner_id else None


def _person(found: _Archive, user_id: str) -> Participant:
    if user_id == found.owner_id:
        return Participant(found.owner_name, normalize.x_id(user_id))
    return Participant(found.names.get(user_id), normalize.x_id(user_id))


def _dm_items(found: _Archive, files: _Files) -> list[Item]:
    items = []
    for conversation_id, held in sorted(found.conversations.items()):
        by_year: dict[str, list[tuple[dt.datetime, str | None, str | None, dict[str, Any]]]] = {}
        for moment, message_id, sender, event in held["messages"].values():
            by_year.setdefault(normalize.school_year(moment, found.timezone), []).append((moment, message_id, sender, event))
        pair = [p for p in conversation_id.split("-") if p.isdigit()] if conversation_id.count("-") == 1 else []
        for year, rows in sorted(by_year.items()):
            rows.sort(key=lambda r: (r[0], len(r[1] or ""), r[1] or ""))
            messages = []
            for moment, message_id, sender, event in rows:
                name = found.owner_name if sender and sender == found.owner_id else None
                media = tuple(_str(u) for u in _list(event.get("mediaUrls")) if _str(u))
                text = _expand_urls(_str(event.get("text")), event.get("urls"))
                messages.append(Message(name, normalize.x_id(sender) if sender else None, moment, text, message_id, media))
            people = sorted(set(pair) | held["people"].get(year, set()), key=lambda p: (p != found.owner_id, len(p), p))
            locator = f"{conversation_id}#{year}"
            dedupe_key = f"x-dm:{conversation_id}#{year}"
            items.append(_item("x-dm-thread", locator, dedupe_key, messages, [_person(found, p) for p in people], found,
                               {"conversation_id": conversation_id, "school_year": year}, files))
    return items


def _post_items(found: _Archive, files: _Files) -> list[Item]:
    by_year: dict[str, list[tuple[dt.datetime, str, dict[str, Any]]]] = {}
    for tweet_id, tweet in found.tweets.items():
        moment = parse_time(tweet.get("created_at"))
        if moment is None:
            found.problems.append(f"post {tweet_id} skipped: no readable date")
            continue
        by_year.setdefault(normalize.school_year(moment, found.timezone), []).append((moment, tweet_id, tweet))
    owner = _owner(found)
    items = []
    for year, rows in sorted(by_year.items()):
        rows.sort(key=lambda r: (r[0], len(r[1]), r[1]))
        messages = []
        people: dict[str, Participant] = {}
        if owner is not None:
            people[found.owner_id] = owner  # type: ignore[index]
        for moment, tweet_id, tweet in rows:
            entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
            text = _full_text(tweet)
            if not tweet.get("_note"):
                text = _expand_urls(text, entities.get("urls"))
            messages.append(Message(found.owner_name, owner.address if owner else None, moment, text, tweet_id, _tweet_media(tweet)))
            for mention in _list(entities.get("user_mentions")):
                mentioned = _id(mention.get("id_str")) if isinstance(mention, dict) else None
                if mentioned and mentioned != "0":
                    people.setdefault(mentioned, Participant(_str(mention.get("name")) or None, normalize.x_id(mentioned)))
            replied = _id(tweet.get("in_reply_to_user_id_str")) or _id(tweet.get("in_reply_to_user_id"))
            if replied:
                people.setdefault(replied, _person(found, replied))
        dedupe_key = f"x-posts:{found.owner_id}#{year}" if found.owner_id else None
        items.append(_item("x-posts", f"x-posts#{year}", dedupe_key, messages, list(people.values()), found,
                           {"owner": owner.address if owner else None, "school_year": year}, files))
    return items


def _tweet_media(tweet: dict[str, Any]) -> tuple[str, ...]:
    for holder in ("extended_entities", "entities"):
        block = tweet.get(holder)
        if isinstance(block, dict) and isinstance(block.get("media"), list):
            return tuple(_str(m.get("media_url_https") or m.get("media_url")) for m in block["media"] if isinstance(m, dict) and _str(m.get("media_url_https") or m.get("media_url")))
    return ()


def _item(format_: str, locator: str, dedupe_key: str | None, messages: list[Message], participants: list[Participant],
          found: _Archive, head: dict[str, Any], files: _Files) -> Item:
    item = Item(
        format=format_,
        locator=locator,
        text=normalize.transcript([(m.sent_at, m.sender_name or m.sender_address, m.text) for m in messages]),
        participants=participants,
        sent_at_first=messages[0].sent_at,
        sent_at_last=messages[-1].sent_at,
        evidence=list(found.owner_evidence),
        content=_content({"format": format_, **head}, messages),
        messages=messages,
        dedupe_key=dedupe_key,
        owner=_owner(found),
    )
    item.children = _media_children(item, found, files, [m for m in messages if m.message_id and m.attachments])
    return item


def _media_children(item: Item, found: _Archive, files: _Files, messages: list[Message]) -> list[Item]:
    """Media files the archive holds for these messages, as attachment children."""
    children = []
    for message in messages:
        for name in found.media.get(message.message_id or "", []):
            file_name = PurePosixPath(name).name
            try:
                data = files.read(name, MAX_MEDIA_FILE_BYTES)
            except Quarantine as stop:
                if stop.kind == "unsafe":
                    raise
                found.problems.append(f"{name} not kept: {stop.reason}")
                continue
            if found.media_bytes + len(data) > MAX_MEDIA_BYTES:
                found.problems.append(f"{name} not kept: the archive's media passed {MAX_MEDIA_BYTES // 1024**3} GB")
                continue
            found.media_bytes += len(data)
            children.append(Item(
                format="attachment", locator=f"{item.locator}/{file_name}", text="", content=data, name=file_name,
                sent_at_first=message.sent_at, sent_at_last=message.sent_at,
                dedupe_key=f"{item.dedupe_key}/{file_name}" if item.dedupe_key else None,
            ))
    return children


def _content(head: dict[str, Any], messages: list[Message]) -> bytes:
    """The part's JSON, the shape the catalog extends (``messages`` of ``Message.to_json``)."""
    return json.dumps({**head, "messages": [m.to_json() for m in messages]}, ensure_ascii=False).encode("utf-8")


register(XArchiveReader())
