"""Searching the records' text: one service for ``records list --text`` and the web's search.

Text is encrypted per record and there is no plaintext index (nothing to purge when a
record is destroyed), so a search decrypts the records the filters leave, at most
``record_views.SEARCH_LIMIT`` of them, in memory, inside a reading transaction. The search is an access to
every matched student's records: one ``records.searched`` event (who, why, how many read,
which matched) is committed before anything is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from records.storage import record_views
from records.storage.installation import Installation
from records.storage.users import authorize

@dataclass(frozen=True)
class SearchResult:
    records: list[dict[str, Any]]  # the views of the matched records, in the listing's order
    read: int  # how many records' text was decrypted to answer


def search_records(
    installation: Installation, where: record_views.RecordFilter, words: str, *, purpose: str, actor: str | None, context: record_views.ViewContext | None = None
) -> SearchResult:
    """The records the filters leave whose text holds every word, after the search is logged."""
    context = context or record_views.ViewContext.for_settings(installation.settings)
    with installation.catalog.reading() as session:  # decrypting never holds the write lock
        who = authorize(session, actor, "read", required=False)
        candidates = record_views.list_records(session, where, context)
        matched, read = record_views.match_text(session, installation.content, [r["id"] for r in candidates], words, purpose=purpose)
    with installation.catalog.writing() as session:  # logged before anything is shown
        record_views.log_search(session, actor=who, purpose=purpose, matched=matched, read=read)
    found = set(matched)
    return SearchResult([r for r in candidates if r["id"] in found], read)


__all__ = ["SearchResult", "search_records"]
