#!/usr/bin/env python3
"""Check an exported audit chain with nothing but Python's standard library.

    python3 verify_chain.py events.jsonl [--checkpoint FILE] [--public-key FILE] [--json]

An auditor must not have to trust the software whose log they are checking, nor install
anything to check it. So this one file carries its own RFC 8785 canonical JSON, recomputes
every event's SHA-256 hash and link, names the first break exactly as the engine's own
``records audit verify`` does, and can check a signed checkpoint of the chain head with
its own (slow but small) RFC 8032 Ed25519 verification, which is what reveals events cut
off the end of the file.

``records audit export`` copies this module byte for byte as ``verify_chain.py``; inside
the engine it lives at ``records/storage/standalone_verifier.py`` so it can be tested.
It must import nothing outside the standard library and run on any Python 3.8 or newer.

Exit status: 0 the chain is intact, 1 it is broken (or the checkpoint is refused),
2 a file could not be read or the command line was wrong.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple

GENESIS_HASH = "0" * 64
CHECKPOINT_FORMAT = "records-audit-checkpoint/1"
EVENT_FIELDS = ("seq", "at", "actor", "action", "subject_type", "subject_id", "payload", "prev_hash")

# --- RFC 8785 (JSON Canonicalization Scheme) -------------------------------------------

# I-JSON integers: beyond 2**53 a JSON number is no longer exact in every reader.
_INT_LIMIT = 2**53 - 1
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


class NotCanonical(ValueError):
    """The value has no RFC 8785 form (NaN, infinity, huge integer, non-string key...)."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 encoding of a JSON value, as UTF-8 bytes."""
    parts: List[str] = []
    try:
        _encode(value, parts)
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate is not Unicode text
        raise NotCanonical("a string holds a lone surrogate") from exc
    except RecursionError as exc:
        raise NotCanonical("the value is nested too deeply") from exc


def _encode(value: Any, parts: List[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise NotCanonical(f"integer {value} is outside the exact range of JSON numbers")
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(_number(value))
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotCanonical("object keys must be strings")
        # Keys sort by their UTF-16 code units; big-endian UTF-16 bytes compare the same way.
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        parts.append("{")
        for index, key in enumerate(keys):
            if index:
                parts.append(",")
            parts.append(_string(key))
            parts.append(":")
            _encode(value[key], parts)
        parts.append("}")
    else:
        raise NotCanonical(f"{type(value).__name__} is not a JSON value")


def _string(text: str) -> str:
    """Escape only what JSON requires: quote, backslash and control characters."""
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(0)) or "\\u%04x" % ord(m.group(0)), text) + '"'


def _number(value: float) -> str:
    """ECMAScript's Number.prototype.toString, which RFC 8785 adopts for every number."""
    if math.isnan(value) or math.isinf(value):
        raise NotCanonical(f"{value} is not a JSON number")
    if value == 0:
        return "0"  # and -0 too
    sign = "-" if value < 0 else ""
    # repr gives the shortest digit string that reads back as the same double, which is
    # exactly the digit string ECMAScript asks for; only the layout differs.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)  # value = 0.digits * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    mantissa_text = digits if count == 1 else digits[0] + "." + digits[1:]
    return sign + mantissa_text + "e" + ("+" if power >= 0 else "-") + str(abs(power))


def event_hash(body: Dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an event without its ``hash``."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


# --- the chain ------------------------------------------------------------------------


def read_events(handle: IO[bytes]) -> Iterator[Tuple[int, Any]]:
    """(line number, decoded JSON or None when unreadable) for each non-blank line."""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            yield number, None


def verify_events(lines: Iterable[Tuple[int, Any]], expect_head: Optional[Tuple[int, str]] = None) -> Dict[str, Any]:
    """Recompute the chain in one pass, in constant memory, and name its first break.

    Mirrors ``records.storage.audit.verify_links`` so that both name the same event for
    the same reason. ``expect_head`` is a trusted (seq, hash) from a signed checkpoint.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    before_prev: Optional[str] = None  # hash two back: recognises an inserted event
    count = 0
    checkpoint_seen = False

    def broken(seq: int, reason: str) -> Dict[str, Any]:
        return {"ok": False, "events": count, "head": prev_hash, "first_bad_seq": seq, "reason": reason}

    for line, event in lines:
        seq = event.get("seq") if isinstance(event, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            return broken(expected_seq, f"line {line} is not an audit event: the file was damaged or edited there")
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq} to {seq - 1}"
                return broken(expected_seq, f"event {missing} removed: the chain jumps from event {expected_seq - 1} to event {seq}")
            return broken(seq, f"event {seq} appears twice or out of order")
        if event.get("prev_hash") != prev_hash:
            if before_prev is not None and event.get("prev_hash") == before_prev:
                return broken(seq - 1, f"event {seq - 1} was inserted: event {seq} was chained to the event before it")
            return broken(
                seq,
                f"event {seq} does not follow event {seq - 1}: its prev_hash does not match (an event before it was removed or altered)",
            )
        try:
            intact = event_hash({name: event.get(name) for name in EVENT_FIELDS}) == event.get("hash")
        except NotCanonical:
            intact = False
        if not intact:
            return broken(seq, f"event {seq} was altered: its content no longer matches its hash")
        if expect_head and seq == expect_head[0]:
            if event.get("hash") != expect_head[1]:
                return broken(seq, f"event {seq} differs from the signed checkpoint: the chain was rewritten up to there")
            checkpoint_seen = True
        before_prev, prev_hash = prev_hash, event["hash"]
        expected_seq += 1
        count += 1
    if expect_head and not checkpoint_seen and expect_head[0] > 0:
        return broken(
            expected_seq,
            f"events {expected_seq} to {expect_head[0]} were cut off the end: the signed checkpoint covers up to event {expect_head[0]}",
        )
    return {"ok": True, "events": count, "head": prev_hash, "first_bad_seq": None, "reason": None}


# --- Ed25519 signature verification (RFC 8032, section 5.1) ---------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = Tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(a: _Point, b: _Point) -> _Point:
    """Point addition on the twisted Edwards curve; complete, so it also doubles."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decode_point(data: bytes) -> Optional[_Point]:
    """RFC 8032 5.1.3: a 32-byte encoding to a curve point, or None when it is not one."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    x_sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P == u:
        pass
    elif v * x * x % _P == -u % _P:
        x = x * _SQRT_M1 % _P
    else:
        return None
    if x == 0 and x_sign:
        return None
    if x & 1 != x_sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BASE = _decode_point((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


def is_weak_public_key(public_key: bytes) -> bool:
    """True for bytes that are no point, or a point of small order: such a "key" has no
    secret behind it (the all-zero signature verifies under it), so it vouches for nothing."""
    point = _decode_point(public_key)
    return point is None or _same(_multiply(8, point), _IDENTITY)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 5.1.7: does ``signature`` sign ``message`` under ``public_key``?

    Stricter than the RFC in one respect: small-order keys and R values are refused,
    since no honest signer produces them.
    """
    if len(public_key) != 32 or len(signature) != 64 or _BASE is None:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    if _same(_multiply(8, a), _IDENTITY) or _same(_multiply(8, r), _IDENTITY):
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    # The cofactored check [8][S]B = [8]R + [8][k]A, as the RFC states it.
    return _same(_multiply(8 * s, _BASE), _multiply(8, _add(r, _multiply(k, a))))


# --- checkpoints ----------------------------------------------------------------------

# DER SubjectPublicKeyInfo of an Ed25519 key is this fixed prefix and the 32 key bytes.
_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(Exception):
    """The checkpoint cannot be trusted; the message says why."""


def public_key_from_pem(text: str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key in PEM (``audit-signing.pub``)."""
    body = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", text, re.S)
    try:
        der = base64.b64decode("".join(body.group(1).split()), validate=True) if body else b""
    except (binascii.Error, ValueError):
        der = b""
    if len(der) != 44 or not der.startswith(_SPKI_ED25519):
        raise CheckpointError("the public key file is not an Ed25519 public key in PEM form")
    return der[12:]


def read_checkpoint(path: str, pinned_key: Optional[bytes] = None) -> Tuple[int, str]:
    """(seq, hash) of a checkpoint whose signature holds, else ``CheckpointError``.

    With ``pinned_key`` (the installation's ``audit-signing.pub``) a checkpoint signed by
    any other key is refused; without it only the key embedded in the file vouches.
    """
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is not JSON") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an audit checkpoint (format {CHECKPOINT_FORMAT} expected)")
    seq, head, at = data.get("seq"), data.get("hash"), data.get("at")
    key_hex, signature_hex = data.get("public_key"), data.get("signature")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise CheckpointError(f"checkpoint {path} has no valid seq")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise CheckpointError(f"checkpoint {path} has no valid hash")
    if not isinstance(at, str):
        raise CheckpointError(f"checkpoint {path} has no valid time")
    try:
        embedded = bytes.fromhex(key_hex)
        signature = bytes.fromhex(signature_hex)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has a malformed public_key or signature") from exc
    if len(embedded) != 32 or len(signature) != 64:
        raise CheckpointError(f"checkpoint {path} has a malformed public_key or signature")
    if pinned_key is not None and embedded != pinned_key:
        raise CheckpointError(f"checkpoint {path} was signed by another key, not the installation's audit signing key")
    statement = canonical_json({"format": CHECKPOINT_FORMAT, "seq": seq, "hash": head, "at": at})
    if not ed25519_verify(pinned_key or embedded, statement, signature):
        raise CheckpointError(f"checkpoint {path} has a bad signature: it was altered or is not genuine")
    return seq, head


# --- command line ---------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_chain.py", description="Verify an exported records audit chain.")
    parser.add_argument("events", help="events.jsonl from `records audit export`")
    parser.add_argument("--checkpoint", help="a signed checkpoint (`records audit checkpoint`): also catches a cut-off tail")
    parser.add_argument("--public-key", help="audit-signing.pub: refuse checkpoints signed by any other key")
    parser.add_argument("--json", action="store_true", help='print {"ok","events","head","first_bad_seq","reason"}')
    args = parser.parse_args(argv)

    expect_head: Optional[Tuple[int, str]] = None
    refused: Optional[str] = None
    try:
        pinned = None
        if args.public_key:
            with open(args.public_key, encoding="utf-8") as handle:
                pinned = public_key_from_pem(handle.read())
        if args.checkpoint:
            expect_head = read_checkpoint(args.checkpoint, pinned)
    except OSError as exc:
        print(f"verify_chain.py: cannot read {args.public_key}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except CheckpointError as exc:
        refused = f"checkpoint refused: {exc}"
    try:
        with open(args.events, "rb") as handle:
            result = verify_events(read_events(handle), expect_head)
    except OSError as exc:
        print(f"verify_chain.py: cannot read {args.events}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if refused:
        result["ok"] = False
        result["reason"] = refused if result["reason"] is None else f"{result['reason']}; {refused}"

    if args.json:
        print(json.dumps(result))
    elif result["ok"]:
        signed = f", reaching the signed checkpoint at event {expect_head[0]}" if expect_head else ""
        print(f"OK: {result['events']} events, head {result['head']}{signed}")
    elif result["first_bad_seq"] is not None:
        print(f"BROKEN at event {result['first_bad_seq']}: {result['reason']}")
    else:
        print(f"NOT VERIFIED: {result['reason']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
