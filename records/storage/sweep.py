"""The sweep: content that no catalog row refers to, found and removed.

Content is written before the catalog transaction that refers to it (the store and the
catalog cannot share a transaction, ``ingest.py``). A failed transaction removes what it
wrote (``Cleanup``), but a process killed between the two (SIGKILL, power loss, the OOM
killer) cannot: it leaves key packs, blobs and temporary files that no row names. They
are unreadable ciphertext and keys that open nothing kept, but they are copies the
district did not decide to keep, and they would outlive every disposal. The sweep lists
the key store and the store, reads what the catalog refers to, and removes what is older
than a grace period and referred to by nothing, through the destroy primitive's
``discard_uncommitted``; one ``store.swept`` audit event names what went.

The grace period is what makes it safe while other processes ingest: their content is
unreferenced until their batch commits, which takes minutes, never a day. With no other
process running (a restore, a test) a grace of zero is exact.

Keys and blobs the catalog says were destroyed are removed again at any age: only a key
store or store restored from a backup older than the destruction can hold them.

It also reports the reverse, which only a restore produces: records the catalog holds as
readable whose key is gone (their destruction happened after the catalog backup was
taken; their content stays unreadable, as the key-store rotation promises).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from records.storage import audit
from records.storage.content import ContentStore
from records.storage.destroy import discard_uncommitted
from records.storage.models import Record, Source

DEFAULT_GRACE = dt.timedelta(hours=24)
_LISTED_IDS = 200  # ids named in the audit event at most (the counts are always whole)


@dataclass
class SweepReport:
    """What the sweep found (``dry_run``) or removed; the shape of ``records sweep --json``."""

    grace_hours: float
    dry_run: bool
    orphan_keys: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    temporaries: int = 0
    young: int = 0  # unreferenced but inside the grace period: perhaps a batch in flight
    keyless_records: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.orphan_keys) + len(self.orphan_blobs) + self.temporaries

    def to_json(self) -> dict[str, Any]:
        return {
            "grace_hours": self.grace_hours,
            "dry_run": self.dry_run,
            "orphan_keys": self.orphan_keys,
            "orphan_blobs": self.orphan_blobs,
            "temporaries": self.temporaries,
            "young": self.young,
            "keyless_records": self.keyless_records,
        }


def referenced(session: Session) -> tuple[set[str], set[str]]:
    """(key ids, blob ids) that a source or record still needs.

    Keys and blobs of destroyed records and of released containers (``key_destroyed_at``)
    are named by their rows but needed by nothing: if they are in the store (a key store
    restored from a backup older than the destruction) they must go again.
    """
    live_record = Record.status != "destroyed"
    live_source = Source.key_destroyed_at.is_(None)
    keys = union(
        select(Source.key_id).where(Source.key_id.is_not(None), live_source),
        select(Record.key_id).where(Record.key_id.is_not(None), live_record),
    )
    blobs = union(
        select(Source.blob_id).where(Source.blob_id.is_not(None), live_source),
        select(Record.blob_id).where(Record.blob_id.is_not(None), live_record),
        select(Record.text_blob_id).where(Record.text_blob_id.is_not(None), live_record),
    )
    return set(session.execute(keys).scalars()), set(session.execute(blobs).scalars())


def shredded(session: Session) -> tuple[set[str], set[str]]:
    """(key ids, blob ids) the catalog says were destroyed: removed again whatever their age."""
    keys = union(
        select(Source.key_id).where(Source.key_id.is_not(None), Source.key_destroyed_at.is_not(None)),
        select(Record.key_id).where(Record.key_id.is_not(None), Record.status == "destroyed"),
    )
    blobs = union(
        select(Record.blob_id).where(Record.blob_id.is_not(None), Record.status == "destroyed"),
        select(Record.text_blob_id).where(Record.text_blob_id.is_not(None), Record.status == "destroyed"),
        select(Source.blob_id).where(Source.blob_id.is_not(None), Source.key_destroyed_at.is_not(None)),
    )
    return set(session.execute(keys).scalars()), set(session.execute(blobs).scalars())


def _readable_record_keys(session: Session) -> Iterable[tuple[str, str]]:
    return session.execute(select(Record.id, Record.key_id).where(Record.status != "destroyed", Record.key_id.is_not(None)).order_by(Record.id)).all()


def sweep(
    session: Session,
    content: ContentStore,
    *,
    actor: str,
    grace: dt.timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> SweepReport:
    """Find (and unless ``dry_run`` remove) content no row refers to, older than ``grace``.

    Runs in the caller's write transaction (``records sweep``, the nightly flow) so its
    audit event commits with the decision; a reading session does for a dry run.
    """
    now = now or dt.datetime.now(dt.UTC)
    cutoff = (now - grace).timestamp()
    report = SweepReport(grace_hours=round(grace.total_seconds() / 3600, 3), dry_run=dry_run)
    # List first, read the catalog second: content committed in between counts as referenced.
    keys = list(content.keystore.inventory())
    blobs = list(content.blobs.inventory())
    temporaries = [t for t in content.keystore.temporaries() if t.stat().st_mtime < cutoff]
    temporaries += [t for t in content.blobs.temporaries() if t.stat().st_mtime < cutoff]
    key_refs, blob_refs = referenced(session)
    key_gone, blob_gone = shredded(session)
    for key_id, modified in keys:
        if key_id in key_gone or (key_id not in key_refs and modified < cutoff):
            report.orphan_keys.append(key_id)
        elif key_id not in key_refs:
            report.young += 1
    for blob_id, modified in blobs:
        if blob_id in blob_gone or (blob_id not in blob_refs and modified < cutoff):
            report.orphan_blobs.append(blob_id)
        elif blob_id not in blob_refs:
            report.young += 1
    report.temporaries = len(temporaries)
    held = {key_id for key_id, _ in keys}
    report.keyless_records = [record_id for record_id, key_id in _readable_record_keys(session) if key_id not in held]
    report.orphan_keys.sort()
    report.orphan_blobs.sort()
    if dry_run or not report.found:
        return report
    from records import logs

    logs.get("sweep").info("store.swept", keys=len(report.orphan_keys), blobs=len(report.orphan_blobs), temporaries=report.temporaries, grace_hours=report.grace_hours)
    discard_uncommitted(content, report.orphan_keys, report.orphan_blobs)
    for temporary in temporaries:
        temporary.unlink(missing_ok=True)
    payload = {
        "grace_hours": report.grace_hours,
        "keys": len(report.orphan_keys),
            "blobs": len(report.orphan_blobs),
            "temporaries": report.temporaries,
            "key_ids": report.orphan_keys[:_LISTED_IDS],
            "blob_ids": report.orphan_blobs[:_LISTED_IDS],
    }
    audit.append_many(session, [audit.PendingEvent(actor, "store.swept", "installation", "store", payload)], now=now)
    return report


__all__ = ["DEFAULT_GRACE", "SweepReport", "referenced", "shredded", "sweep"]
