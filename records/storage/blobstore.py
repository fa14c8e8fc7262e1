"""Where encrypted content lives: a small interface, and a folder behind it.

The store only ever sees ciphertext (``content.py`` encrypts before writing). It is kept
behind the four calls of ``BlobStore`` so that the S3-compatible bucket planned for
scale-out (design.md, "Scale") is one new class, not a change to its callers.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from records.storage import durability
from records.errors import ConfigurationError, DiskFull, RecordsError, is_disk_full

# A plain file name that cannot be ".", "..", hidden, or contain a separator.
BLOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_HEX16 = "[0-9a-f]" * 16  # the random part of a temporary file's name


class BlobMissing(RecordsError):
    """The blob is not in the store (destroyed, or the store is not the one the catalog expects)."""

    def __init__(self, blob_id: str) -> None:
        super().__init__(
            f"the content blob {blob_id} is not in the store: it was destroyed, or RECORDS_STORE_URL "
            "does not point at this installation's store"
        )
        self.blob_id = blob_id


def check_blob_id(blob_id: str) -> str:
    """Refuse ids that could name anything but one file inside the store."""
    if not isinstance(blob_id, str) or not BLOB_ID_PATTERN.fullmatch(blob_id):
        raise ValueError(f"not a valid blob id: {blob_id!r} (letters, digits, '.', '-' and '_', at most 128)")
    return blob_id


@runtime_checkable
class BlobStore(Protocol):
    """The seam between content and where its ciphertext is kept."""

    def writer(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """A binary file to write; the blob appears, whole, only if the block exits cleanly.

        The caller may close the yielded file inside the block (Tink's encrypting stream
        does); the store still completes the write on exit.
        """
        ...

    def reader(self, blob_id: str) -> BinaryIO:
        """The blob's bytes, as a file the caller closes; ``BlobMissing`` if absent."""
        ...

    def delete(self, blob_id: str) -> bool:
        """Remove the blob; say whether there was one. Idempotent. Only ``destroy.py`` calls it."""
        ...

    def exists(self, blob_id: str) -> bool: ...

    def inventory(self) -> Iterator[tuple[str, float]]:
        """(blob id, modification time as a POSIX timestamp) of every blob (for the sweep)."""
        ...

    def temporaries(self) -> list[Path]:
        """Leftovers of interrupted writes (the sweep removes those past its grace period)."""
        ...


def _fsync_dir(folder: Path) -> None:
    durability.fsync_dir(folder)


class _WatchedFile(io.RawIOBase):
    """A raw file over a descriptor that remembers the error its writes met.

    Tink's encrypting stream turns an ``OSError`` of the file it writes into a
    ``TinkError`` carrying only text; the remembered error tells a full disk apart.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            self.error = exc
            raise

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


class FolderBlobStore:
    """Blobs as files under ``root/<2 hex chars>/<blob_id>``.

    The fan-out folder comes from a hash of the id, not its first characters: ids share
    prefixes (``K-...``), and a hash spreads millions of blobs evenly over 256 folders.
    """

    def __init__(self, root: Path) -> None:
        """Open the store, creating its root (0700) so ``records init`` leaves it in place."""
        self.root = Path(root).resolve()
        try:
            self._make_dirs(self.root)
        except OSError as exc:
            raise ConfigurationError(f"cannot create the store folder {self.root} (RECORDS_STORE_URL): {exc}") from exc

    def _path(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        fan = hashlib.sha256(blob_id.encode("ascii")).hexdigest()[:2]
        path = self.root / fan / blob_id
        if path.parent.parent != self.root:  # belt and braces: the id pattern already ensures it
            raise ValueError(f"blob id {blob_id!r} escapes the store")
        return path

    @staticmethod
    def _make_dirs(folder: Path) -> None:
        """Create ``folder`` as 0700 whatever the umask; an existing folder keeps its mode."""
        if not folder.is_dir():
            folder.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
            os.chmod(folder, _FOLDER_MODE)

    @contextmanager
    def writer(self, blob_id: str) -> Iterator[BinaryIO]:
        """Temp file, fsync, rename: readers see the old blob or the whole new one, never half.

        A full volume (ENOSPC, EDQUOT) becomes ``DiskFull`` naming the store, whichever
        layer met it first (Tink reports its stream's errors as its own).
        """
        target = self._path(blob_id)
        try:
            self._make_dirs(target.parent)
            tmp = target.with_name(f".{blob_id}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull("store", self.root) from exc
            raise
        # A second descriptor survives the caller closing the file object, so we can fsync.
        sync_fd = os.dup(fd)
        raw = _WatchedFile(fd)
        file = io.BufferedWriter(raw, 1024 * 1024)
        try:
            try:
                yield file  # type: ignore[misc]
                if not file.closed:
                    file.flush()
                durability.fsync_fd(sync_fd)
            finally:
                try:
                    file.close()
                finally:
                    os.close(sync_fd)
            os.replace(tmp, target)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc) or is_disk_full(raw.error):
                raise DiskFull("store", self.root) from exc
            raise
        _fsync_dir(target.parent)

    def reader(self, blob_id: str) -> BinaryIO:
        try:
            return open(self._path(blob_id), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise BlobMissing(blob_id) from None

    def delete(self, blob_id: str) -> bool:
        target = self._path(blob_id)
        deleted = False
        try:
            target.unlink()
            deleted = True
        except FileNotFoundError:
            pass
        if target.parent.is_dir():
            # Leftovers of an interrupted write of this blob hold the same ciphertext.
            for stale in target.parent.glob(f".{blob_id}.{_HEX16}.tmp"):
                stale.unlink(missing_ok=True)
            _fsync_dir(target.parent)
        return deleted

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).is_file()

    def inventory(self) -> Iterator[tuple[str, float]]:
        for fan in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not fan.is_dir() or len(fan.name) != 2:
                continue
            for entry in os.scandir(fan.path):
                if not entry.name.startswith(".") and BLOB_ID_PATTERN.fullmatch(entry.name):
                    try:
                        yield entry.name, entry.stat().st_mtime
                    except FileNotFoundError:
                        continue  # deleted meanwhile

    def temporaries(self) -> list[Path]:
        return list(self.root.glob("??/.*.tmp"))


def open_blob_store(url: str) -> BlobStore:
    """The store named by ``RECORDS_STORE_URL``: ``file:///absolute/path`` for now."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigurationError(f"RECORDS_STORE_URL must be file:///absolute/path, not {url!r}")
        return FolderBlobStore(Path(path))
    if parts.scheme == "s3":
        raise ConfigurationError(
            f"RECORDS_STORE_URL {url!r} names an S3-compatible bucket; that backend is not available in "
            "this version: use file:///absolute/path"
        )
    raise ConfigurationError(f"RECORDS_STORE_URL {url!r} is not a store URL: use file:///absolute/path")


__all__ = ["BLOB_ID_PATTERN", "BlobMissing", "BlobStore", "FolderBlobStore", "check_blob_id", "open_blob_store"]
