"""Reading zip exports safely: one tampered or hostile member and the archive is refused.

Exports arrive as zips (Facebook, Instagram, X, Takeout), sometimes several zips of one
export, sometimes nested one zip deep. Nothing is extracted to disk: members are read as
streams, with every size counted against limits, so a zip bomb stops at the limit
instead of filling memory or the disk.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from records.intake.model import Quarantine

UNSAFE = "unsafe"


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 500_000
    max_member_bytes: int = 4 * 1024**3
    max_total_bytes: int = 64 * 1024**3
    max_ratio: int = 200  # uncompressed / compressed, for members over 1 MiB
    max_depth: int = 1  # zips inside zips: one level


def _check_member(archive_name: str, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name = info.filename
    if not name:  # a name of NULs only: zipfile cuts names at the first NUL
        raise Quarantine(UNSAFE, f"{archive_name}: a member has no name; a tampered export is not trusted: ask for a new download")
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise Quarantine(UNSAFE, f"{archive_name}: member {name!r} would land outside its folder; a tampered export is not trusted: ask for a new download")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        raise Quarantine(UNSAFE, f"{archive_name}: member {name!r} is a symbolic link; a tampered export is not trusted: ask for a new download")
    if info.file_size > limits.max_member_bytes:
        raise Quarantine("too_large", f"{archive_name}: member {name!r} would expand to {info.file_size} bytes, over the limit of {limits.max_member_bytes}")
    if info.file_size > 1024**2 and info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
        raise Quarantine(UNSAFE, f"{archive_name}: member {name!r} expands {info.file_size // max(info.compress_size, 1)} times: a zip bomb, refused")


class _CountingReader(io.RawIOBase):
    """Stops a member that produces more bytes than it declared (a lying zip header)."""

    def __init__(self, inner: BinaryIO, declared: int, label: str) -> None:
        self._inner = inner
        self._left = declared
        self._label = label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            # A bad CRC, a truncated or corrupt deflate stream: found only while reading.
            # Worded as the X reader words it: callers put the member's name in front.
            raise Quarantine("damaged", f"the zip member is damaged ({' '.join(str(exc).split())[:120]})") from None
        self._left -= len(data)
        if self._left < 0:
            raise Quarantine(UNSAFE, f"{self._label} expands beyond its declared size: a zip bomb, refused")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class SafeArchive:
    """One or several zips of one export, read as a single tree of member names.

    Every member of every zip is checked when the archive is opened; any unsafe member
    refuses the whole set (``Quarantine``).
    """

    def __init__(self, paths: list[Path], limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()
        self._zips: list[zipfile.ZipFile] = []
        self._index: dict[str, tuple[zipfile.ZipFile, zipfile.ZipInfo, str]] = {}
        total = 0
        try:
            for path in paths:
                try:
                    archive = zipfile.ZipFile(path)
                except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                    # NotImplementedError: a zip version or feature Python's zipfile does not read
                    raise Quarantine("damaged", f"{path.name}: zip damaged ({exc}); ask for a new download") from None
                self._zips.append(archive)
                infos = archive.infolist()
                if len(infos) > self.limits.max_members:
                    raise Quarantine("too_large", f"{path.name}: {len(infos)} members, over the limit of {self.limits.max_members}")
                for info in infos:
                    _check_member(path.name, info, self.limits)
                    total += info.file_size
                    if info.is_dir():
                        continue
                    self._index.setdefault(info.filename, (archive, info, path.name))
            if total > self.limits.max_total_bytes:
                raise Quarantine("too_large", f"the export would expand to {total} bytes, over the limit of {self.limits.max_total_bytes}")
            self.expanded_size = total  # every member's declared size, added up
        except BaseException:
            self.close()
            raise

    def names(self) -> list[str]:
        return list(self._index)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def size(self, name: str) -> int:
        return self._index[name][1].file_size

    def open(self, name: str) -> BinaryIO:
        """A stream of one member, cut off if it produces more than it declared."""
        archive, info, label = self._index[name]
        try:
            inner = archive.open(info)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError) as exc:
            # OSError: a local header offset outside the file; ValueError (UnicodeDecodeError):
            # a local header name that is not the UTF-8 it claims to be.
            raise Quarantine("damaged", f"{label}: member {name!r} cannot be read ({exc})") from None
        return io.BufferedReader(_CountingReader(inner, info.file_size, f"{label}: member {name!r}"))

    def read_bytes(self, name: str, limit: int | None = None) -> bytes:
        """A whole member in memory, refused above ``limit`` bytes (JSON files, small media)."""
        cap = limit if limit is not None else self.limits.max_member_bytes
        if self.size(name) > cap:
            raise Quarantine("too_large", f"member {name!r} is {self.size(name)} bytes, over the limit of {cap} for one file")
        with self.open(name) as stream:
            return stream.read()

    def walk(self, suffix: str = "") -> Iterator[str]:
        for name in self._index:
            if name.endswith(suffix):
                yield name

    def close(self) -> None:
        for archive in self._zips:
            archive.close()
        self._zips.clear()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
