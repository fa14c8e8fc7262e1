"""Turning the paths a clerk gives into the list of files to ingest."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class MissingPath(ValueError):
    """A path that does not exist or is neither a file nor a folder."""


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and every file under folders given (recursively), each once, in order.

    Symbolic links are not followed into folders (a link loop must not hang an ingest),
    but a link to a file is read like the file.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser()
        if path.is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = []
            for folder, dirs, files in os.walk(path, followlinks=False):
                dirs.sort()
                candidates.extend(Path(folder) / name for name in sorted(files))
        else:
            raise MissingPath(f"{given}: no such file or folder")
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved in seen or not resolved.is_file():
                continue
            seen.add(resolved)
            found.append(resolved)
    return found


def batches(files: list[Path], size: int) -> list[list[Path]]:
    return [files[i : i + size] for i in range(0, len(files), size)]


def group_companions(files: list[Path]) -> tuple[list[Path], dict[str, tuple[Path, ...]]]:
    """Several zips of one export given in one call are read together.

    The first zip of each export kind leads; the other zips of that kind, and zips no
    reader takes alone whose folders match the lead's (a media-only part), become its
    companions. Companions are still received (hashed, kept, audited) but add no
    records of their own.
    """
    from records.intake.model import Quarantine
    from records.intake.registry import choose, sniff

    def top(names: tuple[str, ...]) -> set[str]:
        return {name.split("/", 1)[0] for name in names if "/" in name}

    leads: dict[str, list[Path]] = {}
    folders: dict[str, set[str]] = {}
    loose: list[tuple[Path, set[str]]] = []
    for path in files:
        try:
            found = sniff(path)
        except OSError:
            continue
        if not found.zip_members:
            continue
        try:
            reader = choose(found)
        except Quarantine:
            loose.append((path, top(found.zip_members)))
            continue
        except Exception:  # noqa: BLE001 - detection problems surface when the file is read
            continue
        if reader.name == "zip":  # a plain zip: maybe a part of an export given alongside
            loose.append((path, top(found.zip_members)))
            continue
        if reader.name in EXPORT_READERS:
            leads.setdefault(reader.name, []).append(path)
            folders.setdefault(reader.name, set()).update(top(found.zip_members))
    for path, tops in loose:
        kind = next((k for k, f in folders.items() if tops and tops <= f), None)
        if kind:
            leads[kind].append(path)
    companions = {str(group[0]): tuple(group[1:]) for group in leads.values() if len(group) > 1}
    return files, companions


EXPORT_READERS = frozenset({"facebook", "instagram", "x"})
