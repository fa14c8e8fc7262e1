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
