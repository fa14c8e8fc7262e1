"""Uploads: files streamed into a private folder under RECORDS_HOME/tmp, then ingested.

The multipart body is parsed as it arrives (python-multipart), each file written in
chunks straight into that folder: never the system temp folder, never whole in memory.

The ingest itself is ``records.flows.ingest.ingest_inline`` (the ingest flow's work
without Prefect), run in the request's worker thread. The folder is removed afterwards:
the catalog keeps the encrypted original.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from records.storage.installation import Installation

_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+@-]+")


def safe_name(name: str | None, index: int) -> str:
    """A file name that cannot leave its folder, keeping what a clerk will recognise."""
    base = Path((name or "").replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")[:180]
    return base or f"upload-{index + 1}"


def upload_folder(installation: Installation) -> Path:
    scratch = installation.paths.home / "tmp"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))


class UploadRefused(Exception):
    """The upload's form is not acceptable (no CSRF token before the files, a bad body)."""


async def receive(request: Any, folder: Path, csrf_ok: Any, *, max_fields: int = 50, max_field_size: int = 64 * 1024) -> tuple[dict[str, str], list[Path]]:
    """Parse a multipart upload as it arrives, writing each file straight into ``folder``.

    Nothing goes through the system's temp folder or sits whole in memory. The form's
    fields come first (the CSRF token among them): ``csrf_ok(token)`` must accept the token
    before the first byte of any file is written.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused("the upload must be sent as a multipart form")
    fields: dict[str, str] = {}
    saved: list[Path] = []
    used: set[str] = set()
    state: dict[str, Any] = {"headers": {}, "name": b"", "value": b"", "out": None, "field": None, "data": bytearray(), "checked": False, "error": None}

    def on_part_begin() -> None:
        state["headers"] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["name"].lower()] = state["value"]
        state["name"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if filename is None:
            if len(fields) >= max_fields:
                raise UploadRefused("too many form fields")
            state["field"], state["out"], state["data"] = name, None, bytearray()
            return
        if not state["checked"]:
            if not csrf_ok(fields.get("csrf")):
                raise UploadRefused("csrf")
            state["checked"] = True
        state["field"] = None
        if not filename:  # the browser's empty file input
            state["out"] = None
            return
        safe = safe_name(filename.decode("utf-8", "replace"), len(saved))
        while safe in used:
            safe = f"{len(saved) + 1}-{safe}"
        used.add(safe)
        target = folder / safe
        state["out"] = target.open("wb")
        saved.append(target)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["out"] is not None:
            state["out"].write(data[start:end])
        elif state["field"] is not None:
            state["data"] += data[start:end]
            if len(state["data"]) > max_field_size:
                raise UploadRefused(f"the form field {state['field']!r} is too long")

    def on_part_end() -> None:
        if state["out"] is not None:
            state["out"].close()
            state["out"] = None
        elif state["field"] is not None:
            fields[state["field"]] = state["data"].decode("utf-8", "replace")
            state["field"] = None

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except UploadRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged body is the sender's problem, told plainly
        raise UploadRefused(f"the upload could not be read ({type(exc).__name__}); try again") from None
    finally:
        if state["out"] is not None:
            state["out"].close()
    if not state["checked"] and not csrf_ok(fields.get("csrf")):
        raise UploadRefused("csrf")
    return fields, [p for p in saved if p.exists()]


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
