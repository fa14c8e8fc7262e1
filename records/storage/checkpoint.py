"""Signed checkpoints of the audit chain's head (design.md, "The audit chain").

A chain proves its own links but cannot show events cut off its end: whoever deletes the
newest events leaves a shorter chain that is still perfectly linked. A checkpoint is the
(seq, hash) of the head at one moment, signed with the installation's Ed25519 key and kept
away from the catalog (by an auditor, in a ticket, on paper); verifying against it shows
a chain that no longer reaches that far.

The signing key lives in the key store, not the catalog, so someone who can rewrite the
catalog cannot also forge checkpoints. The signed statement is the RFC 8785 encoding of
``{"format", "seq", "hash", "at"}`` so the standalone verifier can check it without us.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from records.errors import ConfigurationError, RecordsError
from records.storage import audit
from records.storage.standalone_verifier import is_weak_public_key

FORMAT = "records-audit-checkpoint/1"
PRIVATE_KEY_FILE = "audit-signing.key"
PUBLIC_KEY_FILE = "audit-signing.pub"
_SIGNED_FIELDS = ("format", "seq", "hash", "at")


# --- the signing key ------------------------------------------------------------------


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"the audit signing key {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"the audit signing key {path} is not an Ed25519 key")
    return key


def _create_private(path: Path) -> None:
    """Write a new key so that no reader ever sees a partial file and two racing
    processes end up sharing one key: write a 0600 temporary file, then hard-link it into
    place, which fails if the other process got there first."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".audit-signing-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
    finally:
        os.unlink(temporary)


def _signing_key(keystore: Path) -> Ed25519PrivateKey:
    """The installation's signing key, created on first use (folder 0700, key 0600)."""
    if not keystore.exists():
        keystore.mkdir(parents=True, exist_ok=True)
        keystore.chmod(0o700)
    private_path = keystore / PRIVATE_KEY_FILE
    if not private_path.exists():
        _create_private(private_path)
    key = _load_private(private_path)
    public_path = keystore / PUBLIC_KEY_FILE
    pem = _public_pem(key.public_key())
    if not public_path.exists() or public_path.read_bytes() != pem:
        _write_atomically(public_path, pem, mode=0o600)
    return key


def ensure_signing_key(keystore: Path) -> Ed25519PublicKey:
    """The installation's audit signing public key, creating the key pair if needed."""
    return _signing_key(keystore).public_key()


def installation_public_key(keystore: Path) -> Ed25519PublicKey:
    """The public key to check checkpoints against; never creates one."""
    public_path = keystore / PUBLIC_KEY_FILE
    private_path = keystore / PRIVATE_KEY_FILE
    if public_path.exists():
        try:
            key = serialization.load_pem_public_key(public_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"the audit signing public key {public_path} cannot be read: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(f"the audit signing public key {public_path} is not an Ed25519 key")
        return key
    if private_path.exists():
        return _load_private(private_path).public_key()
    raise ConfigurationError(f"there is no audit signing key in the key store {keystore}: no checkpoint was ever written here")


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- writing and reading checkpoints ---------------------------------------------------


def _statement(checkpoint: dict[str, Any]) -> bytes:
    return audit.canonical({name: checkpoint[name] for name in _SIGNED_FIELDS})


def write_checkpoint(session: Session, keystore: Path, out: Path, actor: str) -> dict[str, Any]:
    """Record an ``audit.checkpoint`` event, then sign the head (that very event) to ``out``.

    Runs inside the caller's write transaction: the chain lock taken by the append keeps
    the head from moving until commit. Should that transaction roll back instead, the
    file would vouch for an event that never existed, so it is removed again.
    """
    key = _signing_key(keystore)
    raw_public = _raw(key.public_key())
    event = audit.append(
        session, actor, "audit.checkpoint", "audit", "chain",
        {"public_key_sha256": hashlib.sha256(raw_public).hexdigest()},
    )
    seq, head_hash = audit.head(session)
    checkpoint: dict[str, Any] = {"format": FORMAT, "seq": seq, "hash": head_hash, "at": event.at}
    checkpoint["public_key"] = raw_public.hex()
    checkpoint["signature"] = key.sign(_statement(checkpoint)).hex()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(out, (json.dumps(checkpoint, indent=2) + "\n").encode("utf-8"))
    _remove_on_rollback(session, out)
    return checkpoint


def _remove_on_rollback(session: Session, out: Path) -> None:
    committed = False

    def on_commit(_session: Session) -> None:
        nonlocal committed
        committed = True

    def on_rollback(_session: Session) -> None:
        if not committed:
            out.unlink(missing_ok=True)

    sa_event.listen(session, "after_commit", on_commit)
    sa_event.listen(session, "after_rollback", on_rollback)


def read_checkpoint(file: Path, keystore: Path | None) -> tuple[int, str]:
    """The (seq, hash) a checkpoint vouches for, once its signature holds.

    With ``keystore`` the signature must be by this installation's key (a checkpoint
    signed by any other key is refused); without it, by the key embedded in the file,
    which proves integrity only. Any problem is a ``RecordsError`` naming the file.
    """
    file = Path(file)
    try:
        data = json.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise RecordsError(f"cannot read the checkpoint {file}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise RecordsError(f"the checkpoint {file} is not JSON") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordsError(f"{file} is not an audit checkpoint (expected format {FORMAT})")
    seq, head_hash, at = data.get("seq"), data.get("hash"), data.get("at")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise RecordsError(f"the checkpoint {file} has no valid seq")
    if not isinstance(head_hash, str) or len(head_hash) != 64 or not all(c in "0123456789abcdef" for c in head_hash):
        raise RecordsError(f"the checkpoint {file} has no valid hash")
    if not isinstance(at, str):
        raise RecordsError(f"the checkpoint {file} has no valid time")
    try:
        embedded = bytes.fromhex(data.get("public_key"))
        signature = bytes.fromhex(data.get("signature"))
    except (TypeError, ValueError) as exc:
        raise RecordsError(f"the checkpoint {file} has a malformed public_key or signature") from exc
    if len(embedded) != 32 or len(signature) != 64:
        raise RecordsError(f"the checkpoint {file} has a malformed public_key or signature")
    if keystore is not None:
        trusted = installation_public_key(Path(keystore))
        if _raw(trusted) != embedded:
            raise RecordsError(
                f"the checkpoint {file} was signed by another key (sha256 {hashlib.sha256(embedded).hexdigest()[:16]}…), "
                "not this installation's audit signing key: refused"
            )
    elif is_weak_public_key(embedded):
        raise RecordsError(f"the checkpoint {file} carries a degenerate public key that anyone can sign for: refused")
    else:
        trusted = Ed25519PublicKey.from_public_bytes(embedded)
    try:
        trusted.verify(signature, _statement(data))
    except InvalidSignature as exc:
        raise RecordsError(f"the checkpoint {file} has a bad signature: it was altered or is not genuine") from exc
    except (ValueError, TypeError) as exc:  # a statement rfc8785 cannot encode
        raise RecordsError(f"the checkpoint {file} cannot be checked: {exc}") from exc
    return seq, head_hash
