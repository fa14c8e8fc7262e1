"""``records audit export``: the chain as JSON Lines plus a verifier an auditor can trust.

The export is for people who do not run our software and should not have to trust it:
``events.jsonl`` holds every event exactly as stored, ``verify_chain.py`` recomputes it
with nothing but Python's standard library, and ``audit-signing.pub`` lets a signed
checkpoint be pinned to this installation's key.

Events are written as stored, not as they should be: a tampered event must reach the
auditor tampered, so the export never "repairs" or verifies what it copies. It streams,
so a chain of millions of events needs no more memory than one of ten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from records.storage import audit
from records.storage.checkpoint import PUBLIC_KEY_FILE

EVENTS_FILE = "events.jsonl"
VERIFIER_FILE = "verify_chain.py"
README_FILE = "README.txt"
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}

README = """\
Audit chain export
==================

events.jsonl     every audit event, one JSON object per line, in sequence order
verify_chain.py  checks the chain; needs Python 3.8 or newer and nothing else
{public_key_line}
Each event's "hash" is SHA-256 (hex) over the RFC 8785 canonical JSON of the event
without "hash"; each "prev_hash" is the hash of the event before it (64 zeros for the
first). Changing, inserting or removing any event breaks the chain from there on.

To check the chain:

    python3 verify_chain.py events.jsonl

To also check that nothing was cut off the end, give a signed checkpoint written earlier
with `records audit checkpoint` (and, to refuse checkpoints signed by any other key, this
installation's public key):

    python3 verify_chain.py events.jsonl --checkpoint FILE{public_key_option}

Add --json for a machine-readable result. Exit status 0 means the chain is intact,
1 that it is broken (the first bad event is named), 2 that a file could not be read.
"""


def _line(row: Any) -> bytes:
    """One event as ``records audit log --json`` shows it, payload decoded when it can be."""
    try:
        payload: Any = json.loads(row.payload)
    except ValueError:
        payload = row.payload  # damaged in the catalog: export it as found, the verifier will say so
    event = {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "payload": payload,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    # Readable UTF-8, except the three characters that some tools take for line breaks.
    return line.translate(_LINE_BREAKS).encode("utf-8") + b"\n"


def verifier_source() -> bytes:
    """The standalone verifier, byte for byte as tested inside the package."""
    return resources.files("records.storage").joinpath("standalone_verifier.py").read_bytes()


def export_chain(session: Session, out_dir: Path, keystore: Path | None) -> dict[str, Any]:
    """Write events.jsonl, verify_chain.py, README.txt and audit-signing.pub into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = 0
    head = audit.GENESIS_HASH
    fd, temporary = tempfile.mkstemp(dir=out_dir, prefix=f".{EVENTS_FILE}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            for row in audit.iter_rows(session):
                sink.write(_line(row))
                events += 1
                head = row.hash
        os.chmod(temporary, 0o644)
        os.replace(temporary, out_dir / EVENTS_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

    (out_dir / VERIFIER_FILE).write_bytes(verifier_source())
    public_key = Path(keystore) / PUBLIC_KEY_FILE if keystore is not None else None
    has_key = public_key is not None and public_key.is_file()
    if has_key:
        shutil.copyfile(public_key, out_dir / PUBLIC_KEY_FILE)
    readme = README.format(
        public_key_line=f"{PUBLIC_KEY_FILE} this installation's checkpoint signing key (Ed25519, PEM)\n" if has_key else "",
        public_key_option=f" --public-key {PUBLIC_KEY_FILE}" if has_key else "",
    )
    (out_dir / README_FILE).write_text(readme, encoding="utf-8")
    return {"events": events, "head": head, "dir": str(out_dir)}
