"""Classification runs: after each ingest batch, after a roster import, on demand.

Orchestration only: ``storage.classification`` reads and writes, ``retention.classify``
decides. Records are classified in chunks, each chunk in one write transaction with its
audit events, so a crash leaves every record either classified or still waiting (and a
rerun picks up what waits: ``classified_at`` is empty).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from records.intake.model import Evidence
from records.retention.classify import Decision, SeriesCandidate, Thresholds, classify
from records.retention.matching import StudentLink
from records.storage import classification as store
from records.storage import retention
from records.storage.users import authorize
from records.storage.installation import Installation

CHUNK = 200


@dataclass
class ClassifyReport:
    classified: int = 0
    in_review: int = 0
    changed: int = 0
    retention_changed: int = 0
    released_containers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "classified": self.classified,
            "in_review": self.in_review,
            "changed": self.changed,
            "retention_changed": self.retention_changed,
            "released_containers": self.released_containers,
        }


def _stored_parent(record_id: str, links: list[tuple[str, float]], code: str, confidence: float, thresholds: Thresholds) -> Decision:
    """A parent classified earlier, as a Decision its attachments can inherit from."""
    return Decision(
        record_id=record_id,
        links=[StudentLink(sid, conf, (Evidence("stored", "the parent's stored link", conf),)) for sid, conf in links],
        student_question=[],
        series=SeriesCandidate(code, confidence),
        series_question=[],
        roles=[],
        version="stored",
        thresholds=thresholds,
    )


def classify_records(
    installation: Installation, record_ids: Sequence[str] | None = None, *, actor: str = "engine", texts: Mapping[str, str] | None = None
) -> ClassifyReport:
    """Classify these records (or every one not yet classified), in chunks.

    ``texts``: text blob id → its plaintext, for texts the caller has just stored (an
    ingest batch), which then are not read back and decrypted.
    """
    report = ClassifyReport()
    thresholds = store.set_thresholds(installation.settings.review)
    with installation.catalog.reading() as session:
        ids = store.to_classify(session, record_ids)
        if not ids:
            return report
        roster = store.load_roster(session)
        model = store.load_model(session, installation.content)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with installation.catalog.reading() as session:
            waiting = store.pending(session, installation.content, chunk, texts=texts)
            outside = store.parent_decisions(session, [p.parent_id for p in waiting if p.parent_id and p.parent_id not in chunk])
        decisions: dict[str, Decision] = {}
        for item in waiting:
            parent = decisions.get(item.parent_id) if item.parent_id else None
            if parent is None and item.parent_id in outside:
                links, code, confidence = outside[item.parent_id]
                parent = _stored_parent(item.parent_id, links, code, confidence, thresholds)
            decisions[item.facts.record_id] = classify(item.facts, roster, thresholds, model, parent=parent)
        with installation.catalog.writing() as session:
            now = dt.datetime.now(dt.UTC)
            events = []
            for decision, made in zip(decisions.values(), store.save_decisions(session, list(decisions.values()), actor=actor, now=now), strict=True):
                events += made
                report.changed += len(made)
                report.classified += 1
                report.in_review += decision.in_review
            store.append_many(session, events, now=now)
            report.retention_changed += retention.recompute(session, installation.settings, list(decisions), now=now)
            report.released_containers += store.release_containers(
                session, installation.content, store.sources_of_records(session, list(decisions)), actor=actor, now=now
            )
    return report


def reclassify_all(installation: Installation, *, actor: str = "engine") -> ClassifyReport:
    """Re-evaluate every record the engine decided (after a roster import, say)."""
    with installation.catalog.reading() as session:
        ids = store.engine_decided(session)
    return classify_records(installation, ids, actor=actor)


def recompute_retention(installation: Installation, *, actor: str = "engine") -> int:
    """Recompute every live record's retention (a roster import, a new schedule version)."""
    with installation.catalog.writing() as session:
        return retention.recompute(session, installation.settings, actor=actor)


def decide_by_person(
    installation: Installation,
    record_id: str,
    *,
    students: Sequence[str] | None,
    no_student: bool,
    series: str | None,
    reason: str,
    actor: str | None,
) -> dict[str, object]:
    """A person's decision on a record (``records classify`` and the web's review form).

    The decision, its retention and its audit events commit together; when it taught the
    engine an identifier, the records sharing that counterpart are re-evaluated after.
    """
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "classify")
        result: dict[str, object] = store.classify_by_person(
            session, record_id, students=students or None, no_student=no_student, series=series, actor=who, reason=reason
        )
        retention.recompute(session, installation.settings, [record_id], actor=who)
    if result.get("learned_identifiers"):
        with installation.catalog.reading() as session:
            ids = store.records_with_learned(session, record_id)
        result["reclassified"] = classify_records(installation, ids, actor="engine").to_json()
    return result


def identify(installation: Installation, student_id: str, identifier: str, *, actor: str | None) -> dict[str, object]:
    """Tie an identifier to a student, then re-evaluate the records where it appears."""
    with installation.catalog.writing() as session:
        who = authorize(session, actor, "student.identify")
        kind, value, added = store.identify_student(session, student_id, identifier, actor=who)
    with installation.catalog.reading() as session:
        ids = store.records_with_identifier(session, kind, value)
    report = classify_records(installation, ids, actor="engine")
    return {"student_id": student_id, "kind": kind, "added": added, "reevaluated": report.classified, "changed": report.changed}
