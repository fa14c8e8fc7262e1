"""The labelled evaluation set (bench/evalset.py) against the engine's intake.

Every generated file is ingested (roster and staff imported first, each file with its
label's staff member as owner) and the top-level records that come out must be exactly
those of labels.json, by (path, format, locator): none missing, none extra, nothing
quarantined. The small set runs on every backend; the full set once, on SQLite.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.evalset import generate
from records.flows.ingest import process_batch
from records.storage.models import Record
from tests.cli_helpers import run

SERIES = {"STU-TEMPORARY", "CORR-TRANSITORY", "NON-RECORD", "CORR-ADMIN", "STU-SPED", "STU-TRANSCRIPT", "PUBLIC-RECORDS-REQUEST", "PERSONNEL"}
FORMATS = {"email", "mbox-message", "sms-thread", "facebook-thread", "instagram-thread", "x-dm-thread", "x-posts", "printout-pdf", "printout-scan"}


def _ingest(installation: Any, out: Path, labels: list[dict[str, Any]]) -> tuple[set[tuple[str, str, str | None]], list[str]]:
    """Ingest every labelled file with its owner; returns what came out and any file not ingested cleanly."""
    roster = run("roster", "import", str(out / "roster.csv"), "--json")
    assert roster.exit_code == 0, roster.stdout + roster.stderr
    assert roster.json()["errors"] == [] and roster.json()["added"] == 40
    staff = run("staff", "import", str(out / "staff.csv"), "--json")
    assert staff.exit_code == 0 and staff.json()["errors"] == [], staff.stdout + staff.stderr

    owner_of: dict[str, str | None] = {}
    for label in labels:
        owner_of.setdefault(label["path"], label["staff_id"])
    by_owner: dict[str | None, list[str]] = defaultdict(list)
    for path, owner in owner_of.items():
        by_owner[owner].append(path)
    problems: list[str] = []
    source_path: dict[str, str] = {}
    for owner, paths in sorted(by_owner.items(), key=lambda kv: kv[0] or ""):
        for start in range(0, len(paths), 40):
            chunk = paths[start:start + 40]
            reports = process_batch(installation, [out / p for p in chunk], actor="system:test", owner_staff_id=owner)
            for rel, report in zip(chunk, reports, strict=True):
                if report.status != "ingested":
                    problems.append(f"{rel}: {report.status} {report.reason}")
                source_path[report.id] = rel
    got: set[tuple[str, str, str | None]] = set()
    with installation.catalog.reading() as session:
        for record in session.execute(select(Record).where(Record.parent_id.is_(None))).scalars():
            got.add((source_path.get(record.source_id, f"?{record.source_id}"), record.format, record.locator))
    return got, problems


def _expected(labels: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(l["path"], l["format"], l["locator"]) for l in labels}


def _check_labels(out: Path, labels: list[dict[str, Any]]) -> None:
    roster_ids = {line.split(",", 1)[0] for line in (out / "roster.csv").read_text(encoding="utf-8").splitlines()[1:]}
    staff_ids = {line.split(",", 1)[0] for line in (out / "staff.csv").read_text(encoding="utf-8").splitlines()[1:]}
    assert len(roster_ids) == 40 and len(staff_ids) == 8
    keys = Counter((l["path"], l["format"], l["locator"]) for l in labels)
    assert [k for k, n in keys.items() if n > 1] == []
    for l in labels:
        assert l["split"] in ("tune", "report") and l["path"].startswith(f"files/{l['split']}/") and (out / l["path"]).is_file()
        assert l["format"] in FORMATS and l["series"] in SERIES
        assert (l["locator"] is None) == l["format"].startswith("printout")
        assert l["staff_id"] is None or l["staff_id"] in staff_ids
        assert set(l["students"]) <= roster_ids
        if l["series"] in ("NON-RECORD", "CORR-ADMIN", "PUBLIC-RECORDS-REQUEST", "PERSONNEL"):
            assert l["students"] == [], l
        if l["series"].startswith("STU-"):
            assert l["students"], l
    # a file lives in one split only
    splits = defaultdict(set)
    for l in labels:
        splits[l["path"]].add(l["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_small_set_matches_what_the_engine_extracts(installation: Any, tmp_path: Path) -> None:
    out = tmp_path / "evalset"
    labels = json.loads(generate(out, seed=7, small=True).read_text(encoding="utf-8"))
    _check_labels(out, labels)
    assert {l["format"] for l in labels} == FORMATS
    got, problems = _ingest(installation, out, labels)
    expected = _expected(labels)
    assert (problems, sorted(expected - got, key=str), sorted(got - expected, key=str)) == ([], [], [])


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=11, small=True).read_text(encoding="utf-8")
    b = generate(tmp_path / "b", seed=11, small=True).read_text(encoding="utf-8")
    assert a == b
    c = generate(tmp_path / "c", seed=12, small=True).read_text(encoding="utf-8")
    assert a != c
    files_a = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file())
    for rel in files_a:
        if rel.endswith((".eml", ".mbox", ".xml", ".csv", ".json")):
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_full_set_matches_what_the_engine_extracts(installation: Any, tmp_path: Path) -> None:
    out = tmp_path / "evalset"
    labels = json.loads(generate(out).read_text(encoding="utf-8"))
    _check_labels(out, labels)
    assert len(labels) >= 320
    per_split = Counter(l["split"] for l in labels)
    assert per_split["tune"] >= 150 and per_split["report"] >= 150, per_split
    assert {l["format"] for l in labels} == FORMATS
    assert sum(1 for l in labels if l["format"] == "printout-scan") >= 20
    tags = Counter(t for l in labels for t in l["hard_cases"])
    for tag in ("sibling", "same-first-name", "nickname", "preferred-name", "accent", "hyphenated-surname", "ocr-damage",
                "guardian-surname-differs", "x-id-unknown", "group-chat", "relative-shares-student-name", "staff-participant",
                "forward", "school-year-boundary"):
        assert tags[tag] >= 3, (tag, tags[tag])
    got, problems = _ingest(installation, out, labels)
    expected = _expected(labels)
    assert (problems, sorted(expected - got, key=str), sorted(got - expected, key=str)) == ([], [], [])
