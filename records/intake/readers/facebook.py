"""Facebook "Download Your Information" exports (JSON): Messenger threads as record units.

Staff who talked with students or parents from a personal account save the export; each
chat thread becomes one record per school year (design.md, "Record units"). The export
may be one zip, several zips of one export (``ReadOptions.companions``, media spread over
them), or a lone ``message_1.json``. Posts, photos, comments, groups and events are
recognised and named in ``Extraction.detected`` but not read yet.

Items are streamed thread by thread (``streams = True``): ``Extraction.items`` is an
iterator, memory is bounded by the largest thread, and ``Extraction.problems`` grows while
it is consumed. The parsing shared with Instagram is in ``meta_threads``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from records.intake import normalize
from records.intake.archive import SafeArchive
from records.intake.model import Evidence, Extraction, Participant, Quarantine, ReadOptions
from records.intake.readers import meta_threads as mt
from records.intake.registry import Reader, Sniff, register

HTML_REASON = "Facebook export in HTML format: download it again choosing JSON format"
NO_THREADS_REASON = (
    "Facebook export without Messenger threads in JSON: if this zip is one part of a larger "
    "export, ingest it together with the part holding messages/.../message_1.json; posts, "
    "photos and comments alone are not read yet"
)
DELETED = frozenset({"facebook user"})  # how a deactivated or deleted account is named
PROFILE_FILES = (
    "profile_information/profile_information.json",  # 2018-2021
    "personal_information/profile_information/profile_information.json",  # 2022 on
)
SKIPPED = {  # folder or file name → what it holds, for ``detected``
    "posts": "posts", "your_posts": "posts", "photos_and_videos": "photos", "photos": "photos",
    "videos": "photos", "comments": "comments", "comments_and_reactions": "comments",
    "groups": "groups", "events": "events", "stories": "stories",
}


class FacebookReader(Reader):
    """Reads Facebook JSON exports (zips or a lone thread file) into thread parts."""

    name = "facebook"
    streams: ClassVar[bool] = True

    def score(self, sniff: Sniff) -> float:
        try:
            if sniff.zip_members:
                found = mt.survey(sniff.zip_members)
                if found.platform == "instagram" and (found.certain or found.legacy_instagram):
                    return 0.0 if found.certain else 0.3
                if found.threads or found.html_threads:
                    return 0.95 if found.certain else 0.6
                return 0.5 if found.certain and found.platform == "facebook" else 0.0
            platform = mt.lone_thread_platform(sniff.head)
            if platform == "facebook":
                return 0.75 if mt.lone_thread_certain(sniff.head) else 0.6
            return 0.3 if platform == "instagram" else 0.0
        except Exception:  # noqa: BLE001 - score must never raise
            return 0.0

    def read(self, sniff: Sniff, options: ReadOptions) -> Extraction:
        if not sniff.zip_members:
            return mt.read_lone_file(sniff, options, self.name, "facebook-thread", people_for(None))
        archive = SafeArchive([sniff.path, *options.companions])
        try:
            names = archive.names()
            found = mt.survey(names)
            if not found.threads:
                raise Quarantine("unsupported", HTML_REASON if found.html_threads else NO_THREADS_REASON)
            kinds, count = mt.skipped_content(names, SKIPPED)
            owner, owner_evidence = facebook_owner(archive)
        except BaseException:
            archive.close()
            raise
        problems: list[str] = []
        context = mt.Context(
            format="facebook-thread",
            people=people_for(owner),
            problems=problems,
            timezone=getattr(options, "timezone", None) or mt.DEFAULT_TIMEZONE,
            media=mt.MediaIndex(archive, (m for ms in found.threads.values() for m in ms)),
            evidence=owner_evidence,
        )
        items = mt.primed(mt.stream_threads(found, archive, context, "Facebook export"))
        detected = mt.describe("Facebook", f"{len(found.threads)} threads", kinds, count)
        return Extraction(reader=self.name, detected=detected, items=items, problems=problems)  # type: ignore[arg-type]


def people_for(owner: Participant | None) -> mt.People:
    return mt.People("facebook", DELETED, owner=owner)


def facebook_owner(archive: SafeArchive) -> tuple[Participant | None, list[Evidence]]:
    """The export's own account from ``profile_information.json``, when it is there and readable."""
    for name in archive.names():
        if not name.endswith(PROFILE_FILES):
            continue
        try:
            data = mt.parse_json(mt.read_member(archive, name, mt.MAX_SMALL_JSON_BYTES))
        except mt.ThreadError:
            continue
        full = _full_name(data)
        if full:
            # The same address the owner's messages get in the threads (normalize.handle),
            # or the owner is not recognised as a participant of their own threads.
            return Participant(full, normalize.handle("facebook", full)), [Evidence("owner", "profile_information.json", 1.0)]
    return None, []


def _full_name(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    profile = data.get("profile_v2") or data.get("profile")
    if not isinstance(profile, dict):
        return None
    name = profile.get("name")
    if isinstance(name, dict):
        name = name.get("full_name")
    return mt.text_of(name, mt.MAX_NAME_CHARS) or None


register(FacebookReader())
