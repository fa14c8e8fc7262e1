"""The audit chain: tampering is named, checkpoints catch a cut tail, the export verifies
with nothing but the standard library, and concurrent appenders leave one valid chain."""

from __future__ import annotations

import json
import os
import random
import stat
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from records.config import Paths
from records.errors import RecordsError
from records.storage import audit
from records.storage import standalone_verifier as sv
from records.storage.audit_export import export_chain
from records.storage.checkpoint import ensure_signing_key, read_checkpoint, write_checkpoint
from records.storage.db import Catalog
from records.storage.models import AuditEventRow

# --- helpers --------------------------------------------------------------------------


def fill(catalog: Catalog, n: int = 6) -> None:
    with catalog.writing() as s:
        for i in range(1, n + 1):
            audit.append(
                s, "alice", "record.classified", "record", f"r{i}",
                {"series": "SR-17", "confidence": 0.5 + i / 100, "student_ids": [f"S{i:03}"], "note": "é\u2028\x85😀"},
            )


def sql(catalog: Catalog, statement: str, **params: Any) -> None:
    with catalog.writing() as s:
        s.execute(text(statement), params)


def verify(catalog: Catalog, expect_head: tuple[int, str] | None = None) -> audit.Verification:
    with catalog.reading() as s:
        return audit.verify(s, expect_head)


def insert_forged(catalog: Catalog, at_seq: int) -> None:
    """Shift events from ``at_seq`` up by one (two steps: no primary key collisions on
    PostgreSQL) and put a correctly hashed event there, chained to its predecessor."""
    sql(catalog, "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= :k", k=at_seq)
    sql(catalog, "UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000")
    with catalog.writing() as s:
        prev_hash = s.execute(text("SELECT hash FROM audit_events WHERE seq = :k"), {"k": at_seq - 1}).scalar_one()
        body = {
            "seq": at_seq, "at": "2025-01-01T00:00:00.000000Z", "actor": "mallory", "action": "hold.released",
            "subject_type": "hold", "subject_id": "H-1", "payload": {"reason": "none"}, "prev_hash": prev_hash,
        }
        row = {**body, "payload": audit.canonical(body["payload"]).decode(), "hash": audit.event_hash(body)}
        s.execute(AuditEventRow.__table__.insert(), [row])


def run_verifier(out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """The exported verifier, isolated (-I) and without site-packages (-S): stdlib only."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(out / "verify_chain.py"), str(out / "events.jsonl"), *args, "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


# --- the chain in the catalog ---------------------------------------------------------


def test_untouched_chain_verifies(catalog: Catalog) -> None:
    fill(catalog)
    result = verify(catalog)
    assert result.ok and result.events == 6 and result.first_bad_seq is None
    with catalog.reading() as s:
        assert result.head == audit.head(s)[1]


def test_edited_payload_is_named(catalog: Catalog) -> None:
    fill(catalog)
    sql(catalog, "UPDATE audit_events SET payload = :p WHERE seq = 3", p='{"series":"SR-99"}')
    result = verify(catalog)
    assert not result.ok and result.first_bad_seq == 3 and "altered" in result.reason


@pytest.mark.parametrize("payload", ["{not json", '{"n": NaN}', '{"n": 1e999}', '{"n": 9007199254740993}'])
def test_payload_edited_beyond_json_is_named_not_crashed(catalog: Catalog, payload: str) -> None:
    fill(catalog)
    sql(catalog, "UPDATE audit_events SET payload = :p WHERE seq = 4", p=payload)
    result = verify(catalog)
    assert not result.ok and result.first_bad_seq == 4 and "altered" in result.reason


def test_deleted_middle_event_is_named(catalog: Catalog) -> None:
    fill(catalog)
    sql(catalog, "DELETE FROM audit_events WHERE seq = 3")
    result = verify(catalog)
    assert not result.ok and result.first_bad_seq == 3 and "removed" in result.reason


def test_inserted_event_is_named(catalog: Catalog) -> None:
    fill(catalog)
    insert_forged(catalog, 3)
    result = verify(catalog)
    assert not result.ok and result.first_bad_seq == 3 and "inserted" in result.reason


def test_cut_tail_is_caught_only_with_a_checkpoint(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    fill(catalog)
    with catalog.writing() as s:
        written = write_checkpoint(s, paths.keystore, tmp_path / "cp.json", "auditor")
    assert written["seq"] == 7
    sql(catalog, "DELETE FROM audit_events WHERE seq >= 5")
    assert verify(catalog).ok  # the shortened chain is still perfectly linked
    result = verify(catalog, expect_head=read_checkpoint(tmp_path / "cp.json", paths.keystore))
    assert not result.ok and result.first_bad_seq == 5 and "cut off" in result.reason


# --- checkpoints ----------------------------------------------------------------------


def test_checkpoint_is_signed_head_and_an_event(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    fill(catalog, 2)
    with catalog.writing() as s:
        written = write_checkpoint(s, paths.keystore, tmp_path / "cp.json", "auditor")
    on_disk = json.loads((tmp_path / "cp.json").read_text())
    assert on_disk == written
    assert set(written) == {"format", "seq", "hash", "at", "public_key", "signature"}
    assert written["format"] == "records-audit-checkpoint/1" and written["at"].endswith("Z")
    with catalog.reading() as s:
        assert (written["seq"], written["hash"]) == audit.head(s) == (3, written["hash"])
        last = list(audit.iter_events(s))[-1]
    assert last.action == "audit.checkpoint" and last.actor == "auditor" and set(last.payload) == {"public_key_sha256"}
    assert read_checkpoint(tmp_path / "cp.json", paths.keystore) == (3, written["hash"])
    assert read_checkpoint(tmp_path / "cp.json", None) == (3, written["hash"])
    assert verify(catalog, expect_head=(3, written["hash"])).ok
    assert stat.S_IMODE((paths.keystore / "audit-signing.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.keystore.stat().st_mode) == 0o700
    raw = ensure_signing_key(paths.keystore).public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert raw.hex() == written["public_key"]  # the key is created once and then reused


def test_checkpoint_file_is_removed_when_its_transaction_rolls_back(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), catalog.writing() as s:
        write_checkpoint(s, paths.keystore, tmp_path / "cp.json", "auditor")
        raise RuntimeError("later step failed")
    assert not (tmp_path / "cp.json").exists()
    assert verify(catalog).events == 0


def _checkpoint(catalog: Catalog, keystore: Path, out: Path) -> dict[str, Any]:
    with catalog.writing() as s:
        return write_checkpoint(s, keystore, out, "auditor")


def test_checkpoint_with_a_flipped_signature_byte_is_refused(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    written = _checkpoint(catalog, paths.keystore, tmp_path / "cp.json")
    signature = bytearray.fromhex(written["signature"])
    signature[10] ^= 0x01
    (tmp_path / "cp.json").write_text(json.dumps({**written, "signature": signature.hex()}))
    for keystore in (paths.keystore, None):
        with pytest.raises(RecordsError, match=r"cp\.json has a bad signature"):
            read_checkpoint(tmp_path / "cp.json", keystore)


def test_checkpoint_with_a_moved_head_is_refused(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    written = _checkpoint(catalog, paths.keystore, tmp_path / "cp.json")
    (tmp_path / "cp.json").write_text(json.dumps({**written, "seq": written["seq"] + 1}))
    with pytest.raises(RecordsError, match="bad signature"):
        read_checkpoint(tmp_path / "cp.json", paths.keystore)


def test_checkpoint_from_another_key_is_refused(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    _checkpoint(catalog, tmp_path / "other-keys", tmp_path / "cp.json")
    ensure_signing_key(paths.keystore)
    with pytest.raises(RecordsError, match=r"cp\.json was signed by another key"):
        read_checkpoint(tmp_path / "cp.json", paths.keystore)
    assert read_checkpoint(tmp_path / "cp.json", None)[0] == 1  # intact, just not ours


def test_unreadable_checkpoints_are_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("not json at all")
    with pytest.raises(RecordsError, match=r"a\.json is not JSON"):
        read_checkpoint(tmp_path / "a.json", None)
    (tmp_path / "b.json").write_text('{"format": "something-else"}')
    with pytest.raises(RecordsError, match="not an audit checkpoint"):
        read_checkpoint(tmp_path / "b.json", None)
    with pytest.raises(RecordsError, match="cannot read"):
        read_checkpoint(tmp_path / "missing.json", None)
    degenerate = {"format": "records-audit-checkpoint/1", "seq": 1, "hash": "a" * 64, "at": "x",
                  "public_key": "00" * 32, "signature": "00" * 64}  # verifies under OpenSSL's rules
    (tmp_path / "c.json").write_text(json.dumps(degenerate))
    with pytest.raises(RecordsError, match="degenerate public key"):
        read_checkpoint(tmp_path / "c.json", None)
    with pytest.raises(RecordsError, match="no audit signing key"):
        read_checkpoint(tmp_path / "c.json", tmp_path / "empty-keystore")


# --- the export and its standalone verifier -------------------------------------------


def test_exported_chain_verifies_with_stdlib_only(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    fill(catalog)
    ensure_signing_key(paths.keystore)
    with catalog.reading() as s:
        summary = export_chain(s, tmp_path / "out", paths.keystore)
        expected_lines = [json.dumps(e.to_json()) for e in audit.iter_events(s)]
    out = tmp_path / "out"
    assert summary == {"events": 6, "head": verify(catalog).head, "dir": str(out)}
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "audit-signing.pub", "events.jsonl", "verify_chain.py"]
    assert (out / "verify_chain.py").read_bytes() == Path(sv.__file__).read_bytes()
    assert "python3 verify_chain.py events.jsonl" in (out / "README.txt").read_text()
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(line) for line in expected_lines]
    code, result = run_verifier(out)
    assert code == 0 and result == {"ok": True, "events": 6, "head": summary["head"], "first_bad_seq": None, "reason": None}
    human = subprocess.run([sys.executable, "-I", "-S", str(out / "verify_chain.py"), str(out / "events.jsonl")],
                           capture_output=True, text=True)
    assert human.returncode == 0 and human.stdout.startswith("OK: 6 events")


def test_exported_chain_fails_after_a_line_is_edited(catalog: Catalog, tmp_path: Path) -> None:
    fill(catalog)
    with catalog.reading() as s:
        export_chain(s, tmp_path / "out", None)
    events = tmp_path / "out" / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[2])
    edited["payload"]["series"] = "SR-99"
    lines[2] = json.dumps(edited)
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, result = run_verifier(tmp_path / "out")
    assert code == 1 and result["first_bad_seq"] == 3 and "altered" in result["reason"] and result["events"] == 2


def test_exported_verifier_checks_a_checkpoint_and_a_cut_tail(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    fill(catalog)
    _checkpoint(catalog, paths.keystore, tmp_path / "cp.json")  # event 7
    fill(catalog, 2)  # events 8, 9 come after the checkpoint: fine
    with catalog.reading() as s:
        export_chain(s, tmp_path / "out", paths.keystore)
    out = tmp_path / "out"
    pinned = ("--checkpoint", str(tmp_path / "cp.json"), "--public-key", str(out / "audit-signing.pub"))
    assert run_verifier(out, *pinned)[0] == 0
    assert run_verifier(out, "--checkpoint", str(tmp_path / "cp.json"))[0] == 0

    lines = (out / "events.jsonl").read_bytes().splitlines(keepends=True)
    (out / "events.jsonl").write_bytes(b"".join(lines[:5]))  # events 6 to 9 cut off
    assert run_verifier(out)[0] == 0  # without a checkpoint a cut tail cannot show
    code, result = run_verifier(out, *pinned)
    assert code == 1 and result["first_bad_seq"] == 6 and "cut off" in result["reason"]
    engine = audit.verify_links(  # the same verdict as the engine's own verification
        (audit.ChainLink(**json.loads(line)) for line in lines[:5]), read_checkpoint(tmp_path / "cp.json", None)
    )
    assert engine.to_json() == result


def test_exported_verifier_refuses_a_forged_or_foreign_checkpoint(catalog: Catalog, paths: Paths, tmp_path: Path) -> None:
    fill(catalog, 2)
    written = _checkpoint(catalog, paths.keystore, tmp_path / "cp.json")
    with catalog.reading() as s:
        export_chain(s, tmp_path / "out", paths.keystore)
    out = tmp_path / "out"
    signature = bytearray.fromhex(written["signature"])
    signature[0] ^= 0x80
    (tmp_path / "flipped.json").write_text(json.dumps({**written, "signature": signature.hex()}))
    code, result = run_verifier(out, "--checkpoint", str(tmp_path / "flipped.json"))
    assert code == 1 and result["first_bad_seq"] is None and "bad signature" in result["reason"]
    _checkpoint(catalog, tmp_path / "other-keys", tmp_path / "foreign.json")
    code, result = run_verifier(out, "--checkpoint", str(tmp_path / "foreign.json"), "--public-key", str(out / "audit-signing.pub"))
    assert code == 1 and "another key" in result["reason"]


# --- the standalone verifier against the engine, without a database -------------------


def _chain(n: int) -> list[dict[str, Any]]:
    events, prev = [], audit.GENESIS_HASH
    for seq in range(1, n + 1):
        body = {"seq": seq, "at": f"2025-03-0{seq % 9 + 1}T10:00:00.000000Z", "actor": "bob", "action": "record.viewed",
                "subject_type": "record", "subject_id": f"r{seq}", "payload": {"x": seq / 3, "k": ["é", None, True]},
                "prev_hash": prev}
        prev = audit.event_hash(body)
        events.append({**body, "hash": prev})
    return events


def _forge(events: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    body = {**events[at - 1], "seq": at, "actor": "mallory", "prev_hash": events[at - 2]["hash"]}
    body.pop("hash")
    forged = {**body, "hash": audit.event_hash(body)}
    return events[: at - 1] + [forged] + [{**e, "seq": e["seq"] + 1} for e in events[at - 1:]]


TAMPERINGS = {
    "intact": lambda ev: ev,
    "altered": lambda ev: [*ev[:3], {**ev[3], "actor": "eve"}, *ev[4:]],
    "removed": lambda ev: ev[:2] + ev[3:],
    "removed-several": lambda ev: ev[:2] + ev[5:],
    "inserted": lambda ev: _forge(ev, 4),
    "inserted-first": lambda ev: _forge(ev, 1),
    "reordered": lambda ev: [ev[0], ev[2], ev[1], *ev[3:]],
    "duplicated": lambda ev: [*ev[:3], ev[2], *ev[3:]],
    "relinked": lambda ev: [*ev[:4], {**ev[4], "prev_hash": "f" * 64}, *ev[5:]],
    "hash-replaced": lambda ev: [*ev[:1], {**ev[1], "hash": "e" * 64}, *ev[2:]],
    "cut-tail": lambda ev: ev[:5],
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_standalone_verifier_names_the_same_break_as_the_engine(name: str, with_checkpoint: bool) -> None:
    original = _chain(8)
    expect_head = (7, original[6]["hash"]) if with_checkpoint else None
    events = TAMPERINGS[name](original)
    engine = audit.verify_links((audit.ChainLink(**e) for e in events), expect_head)
    standalone = sv.verify_events(enumerate(events, start=1), expect_head)
    assert standalone == engine.to_json()
    assert engine.ok == (name == "intact" or (name == "cut-tail" and not with_checkpoint))


def test_standalone_verifier_names_an_unreadable_line(tmp_path: Path) -> None:
    events = _chain(4)
    lines = [json.dumps(e) for e in events]
    lines[2] = lines[2][:40]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    with (tmp_path / "events.jsonl").open("rb") as handle:
        result = sv.verify_events(sv.read_events(handle))
    assert result["first_bad_seq"] == 3 and "line 3" in result["reason"]


# --- RFC 8785 and Ed25519 in pure Python ----------------------------------------------

JCS_TABLE: list[Any] = [
    0.1, 1e21, 1e-7, 1e-6, 1.5e-7, 123456789012345680000.0, 9.999999999999999e20, -0.0, 0.0, 5e-324,
    -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 1e16, 1e20, 100.0, 0.000001234, 333333333.33333329,
    -1.5, 2**53 - 1, -(2**53 - 1), 0, True, False, None, "", [], {},
    {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7, "\u007f": 8, "a": 9, "\ue000": 10},
    "\u007f\u0000\u001f\b\f\n\r\t\"\\/\u2028\u2029 é 😀 \U0010ffff",
    {"nested": [{"b": [1, 2.5, {"z": None, "a": "\u0001"}]}, []], "A": {"": ""}},
]


@pytest.mark.parametrize("value", JCS_TABLE, ids=[repr(v)[:40] for v in JCS_TABLE])
def test_stdlib_canonical_json_matches_rfc8785(value: Any) -> None:
    assert sv.canonical_json(value) == rfc8785.dumps(value)


def test_stdlib_canonical_json_matches_rfc8785_on_random_values() -> None:
    rng = random.Random(8785)
    alphabet = ["a", "Z", "\u0000", "\u001f", "\u007f", '"', "\\", "é", "\u20ac", "\ufb33", "\U0001f600", "\U0001d11e", "\ue000"]

    def number() -> float:
        while True:
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if value == value and abs(value) != float("inf"):
                return value

    def word() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def value(depth: int = 0) -> Any:
        kind = rng.randint(0, 6 if depth < 3 else 3)
        return [number, word, lambda: rng.randint(-(2**53) + 1, 2**53 - 1), lambda: rng.choice([None, True, False]),
                lambda: [value(depth + 1) for _ in range(rng.randint(0, 4))],
                lambda: {word(): value(depth + 1) for _ in range(rng.randint(0, 4))},
                lambda: rng.randint(1, 10**rng.randint(1, 17)) * 10.0 ** rng.randint(-40, 40)][kind]()

    for _ in range(3000):
        sample = value()
        assert sv.canonical_json(sample) == rfc8785.dumps(sample), sample


def test_event_payload_canonical_form_is_rfc8785_on_random_payloads() -> None:
    """``audit.canonical`` takes a shortcut for plain payloads: its bytes (the ones every
    event's hash covers) are the ``rfc8785`` package's, whatever the payload holds."""
    rng = random.Random(2026)
    alphabet = ["a", "Z", "0", " ", "\u0000", "\u001f", "\u007f", '"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "é", "\u2028", "\u20ac", "\ufb33", "\U0001f600", "\ue000"]

    def word(letters: list[str]) -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))

    def number() -> float:
        while True:  # any finite double, or one of a plain size with few digits
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] if rng.random() < 0.5 else rng.randint(1, 10**6) / 10 ** rng.randint(0, 20)
            if value == value and abs(value) != float("inf"):
                return value

    def value(depth: int = 0) -> Any:
        kind = rng.randint(0, 8 if depth < 3 else 4)
        return [
            lambda: word(alphabet), lambda: rng.randint(-(2**53) + 1, 2**53 - 1), lambda: rng.choice([None, True, False]),
            lambda: rng.randint(-5, 5), lambda: rng.choice([0.5, 1.0, -0.0, 0.0, -3.0, 2.0**52, 2.0**53 - 1, 2.0**53, -(2.0**53) + 1, -(2.0**53), 1e21, 1e-7, 1e-4, 0.0001234, 1e16,
                                 9999999999999998.0, 0.1, 123456789.125, number()]),
            lambda: [value(depth + 1) for _ in range(rng.randint(0, 4))],
            lambda: tuple(value(depth + 1) for _ in range(rng.randint(0, 3))),
            lambda: {word(alphabet[:4] + ['"', "_"]): value(depth + 1) for _ in range(rng.randint(0, 4))},
            lambda: {word(alphabet): value(depth + 1) for _ in range(rng.randint(0, 4))},
        ][kind]()

    for _ in range(20000):
        sample = value()
        assert audit.canonical(sample) == rfc8785.dumps(sample), sample
    for refused in ("\ud800", {"a": [2**53]}, {"a": float("nan")}):
        with pytest.raises(Exception):  # noqa: B017 - rfc8785's own errors, as before
            audit.canonical(refused)


@pytest.mark.parametrize("payload", JCS_TABLE[28:], ids=["keys", "string", "nested"])
def test_event_body_assembled_from_the_payload_bytes_is_its_canonical_form(payload: Any) -> None:
    from records.storage.audit import PendingEvent, _body, _body_bytes, canonical

    event = PendingEvent("clerk \u00e9", "record.extracted", "record", "R-1\u20ac", {"p": payload})
    payload_bytes = canonical({"p": payload})
    body = _body(7, "2026-01-01T00:00:00.000000Z", event, {"p": payload}, "ab" * 32)
    assert _body_bytes(body, payload_bytes) == rfc8785.dumps(body)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**53, -(2**53), {1: 2}, "\ud800", object()])
def test_stdlib_canonical_json_refuses_what_rfc8785_refuses(value: Any) -> None:
    with pytest.raises(sv.NotCanonical):
        sv.canonical_json(value)
    with pytest.raises(Exception):  # noqa: B017 - rfc8785 raises its own subclasses
        rfc8785.dumps(value)


def test_pure_python_ed25519_agrees_with_cryptography() -> None:
    rng = random.Random(25519)
    for _ in range(12):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = rng.randbytes(rng.randint(0, 300))
        signature = key.sign(message)
        assert sv.ed25519_verify(public, message, signature)
        flipped = bytearray(signature)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not sv.ed25519_verify(public, message, bytes(flipped))
        assert not sv.ed25519_verify(public, message + b"!", signature)
        other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert not sv.ed25519_verify(other, message, signature)
        pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        assert sv.public_key_from_pem(pem) == public


# --- concurrency ----------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from records.storage import audit
    from records.storage.db import Catalog

    url, actor, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    catalog = Catalog(url)
    while not go.exists():
        time.sleep(0.002)
    for i in range(int(sys.argv[4])):
        with catalog.writing() as s:
            audit.append(s, actor, "record.viewed", "record", f"{actor}-{i}", {"n": i})
    """
)


def test_two_processes_appending_at_once_leave_one_valid_chain(catalog: Catalog, tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, catalog.url, actor, str(go), "1000"],
                         stderr=subprocess.PIPE, text=True, env={**os.environ})
        for actor in ("worker-a", "worker-b")
    ]
    time.sleep(1.0)  # both import and connect first, then start together
    go.touch()
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    result = verify(catalog)
    assert result.ok and result.events == 2000, result
    with catalog.reading() as s:
        actors = [e.actor for e in audit.iter_events(s)]
    assert actors.count("worker-a") == actors.count("worker-b") == 1000
    switches = sum(1 for a, b in zip(actors, actors[1:]) if a != b)
    assert switches > 1  # they really ran at the same time, interleaved
