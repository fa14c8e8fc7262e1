"""The labelled evaluation set (bench/evalset.py) against the engine's intake.

Every generated file is ingested (roster and staff imported first, each file with its
label's staff member as owner) and the top-level records that come out must be exactly
those of labels.json, by (path, format, locator): none missing, none extra, nothing
quarantined. The small set runs on every backend; the full set once, on SQLite.

The report split must be unseen wording: no template (chat script, email subject and
body, greeting, sign-off, forwarding note, X post) is used by files of both splits, by the
ids the generator records per label and by the wording itself with names removed.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench import evalset_text as T
from bench.evalset import POOLS, TEMPLATE_SPLIT, generate, template_by_id, template_text
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


def _wording(text: str) -> str:
    """Names and fill-ins removed, case, punctuation and spacing folded."""
    return " ".join(re.findall(r"[a-z0-9]+", re.sub(r"\{[a-z0-9_]+\}", " ", text.lower())))


def _lines(entry: Any) -> list[str]:
    if isinstance(entry, list):
        return [line.split("|", 1)[1] for line in entry]
    if isinstance(entry, tuple):
        return [entry[0], *entry[1].split("\n")]
    return [entry]


def _check_wording_disjoint(labels: list[dict[str, Any]]) -> None:
    """No template used by records of both splits: not by id, not by wording (whole
    templates, and any line of three words or more: "ok thanks" may recur)."""
    used: dict[str, set[str]] = defaultdict(set)
    for l in labels:
        assert l["templates"], l
        used[l["split"]].update(l["templates"])
        assert all(TEMPLATE_SPLIT[t] == l["split"] for t in l["templates"]), l
    assert used["tune"] & used["report"] == set()
    whole = {split: {_wording(template_text(template_by_id(t))) for t in ids} for split, ids in used.items()}
    assert whole["tune"] & whole["report"] == set()
    lines = {split: {w for t in ids for line in _lines(template_by_id(t)) if len((w := _wording(line)).split()) >= 3} for split, ids in used.items()}
    assert lines["tune"] & lines["report"] == set()


def test_every_template_has_one_split() -> None:
    """Each pool gives wording to both splits; no wording (or line of 3+ words) is in both."""
    assert set(TEMPLATE_SPLIT) == {f"{pid}#{i}" for pid, pool in POOLS.items() for i in range(len(pool))}
    assert {f"chat:{s}:{k}" for s, k in T.CHAT} | {f"email:{s}:{k}" for s, k in T.EMAIL} <= set(POOLS)
    whole: dict[str, set[str]] = defaultdict(set)
    lines: dict[str, set[str]] = defaultdict(set)
    for pid, pool in POOLS.items():
        splits = Counter(TEMPLATE_SPLIT[f"{pid}#{i}"] for i in range(len(pool)))
        assert splits["tune"] >= 2 and splits["report"] >= 2, (pid, splits)
        for i, entry in enumerate(pool):
            split = TEMPLATE_SPLIT[f"{pid}#{i}"]
            whole[split].add(_wording(template_text(entry)))
            lines[split].update(w for line in _lines(entry) if len((w := _wording(line)).split()) >= 3)
        if pid.startswith("chat:") and ":guardian" in pid and not pid.endswith("-pair"):
            # a family of several children is always named: each split has such wording
            named = {TEMPLATE_SPLIT[f"{pid}#{i}"] for i, entry in enumerate(pool) if "{s}" in template_text(entry)}
            assert named == {"tune", "report"}, pid
    assert whole["tune"] & whole["report"] == set()
    assert lines["tune"] & lines["report"] == set()


def _subject_pattern(subject_template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z0-9_]+\})", subject_template)
    return re.compile("".join(".+?" if part.startswith("{") else re.escape(part) for part in parts), re.S)


def _check_email_subjects(out: Path, labels: list[dict[str, Any]]) -> None:
    """The template recorded for a single email is the one its Subject was written from."""
    checked = 0
    for l in labels:
        if l["format"] != "email":
            continue
        message = email.message_from_bytes((out / l["path"]).read_bytes(), policy=email.policy.default)
        subject = re.sub(r"^(Fwd|FW): ", "", str(message["Subject"]))
        entry = template_by_id(next(t for t in l["templates"] if t.startswith("email:")))
        assert _subject_pattern(entry[0]).fullmatch(subject), (l["path"], subject, entry[0])
        checked += 1
    assert checked


def test_small_set_matches_what_the_engine_extracts(installation: Any, tmp_path: Path) -> None:
    out = tmp_path / "evalset"
    labels = json.loads(generate(out, seed=7, small=True).read_text(encoding="utf-8"))
    _check_labels(out, labels)
    assert {l["format"] for l in labels} == FORMATS
    _check_wording_disjoint(labels)
    _check_email_subjects(out, labels)
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
    _check_wording_disjoint(labels)
    _check_email_subjects(out, labels)
    # both splits have every format, series and hard case
    for split in ("tune", "report"):
        mine = [l for l in labels if l["split"] == split]
        assert {l["format"] for l in mine} == FORMATS, split
        assert {l["series"] for l in mine} == SERIES, split
        assert {t for l in mine for t in l["hard_cases"]} == {t for l in labels for t in l["hard_cases"]}, split
    assert sum(1 for l in labels if l["format"] == "printout-scan") >= 20
    tags = Counter(t for l in labels for t in l["hard_cases"])
    for tag in ("sibling", "same-first-name", "nickname", "preferred-name", "accent", "hyphenated-surname", "ocr-damage",
                "guardian-surname-differs", "x-id-unknown", "group-chat", "relative-shares-student-name", "staff-participant",
                "forward", "school-year-boundary"):
        assert tags[tag] >= 3, (tag, tags[tag])
    got, problems = _ingest(installation, out, labels)
    expected = _expected(labels)
    assert (problems, sorted(expected - got, key=str), sorted(got - expected, key=str)) == ([], [], [])
