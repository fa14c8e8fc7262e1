"""Where encrypted content lives: a small interface, and a folder behind it.

The store only ever sees ciphertext (``content.py`` encrypts before writing). It is kept
behind the five calls of ``BlobStore`` so that the S3-compatible bucket planned for
scale-out (design.md, "Scale") is one new class, not a change to its callers.

Blob packs. Creating a file costs 70 to 700 µs of kernel time on this kind of disk, more
than parsing a whole short email, and an mbox makes two blobs (content and text) per
message. So the records cut from one chunk of a stream are written into one pack
(``pack``): each member is still its own ciphertext, encrypted under its own record's
key and bound to its own blob id, only stored side by side. A member is read and
deleted by its id like any blob. Deleting one overwrites its ciphertext, then its id,
with zeros in place and syncs them (the same as the key store does for key packs); the
other members stay readable, and the pack file goes with its last live member. Since
the record's key is shredded first (``destroy.py``), the zeroing is the second line of
defence, as unlinking a single blob file was. A member's id names its pack: it is
``<pack_id>_<anything>`` (a packed record key ``K-…_7`` gives ``K-…_7.blob``).

A bucket-backed store would keep a pack as one object and, on delete, write the pack
again without the member (objects cannot be changed in place) before removing the old
version.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, cast, runtime_checkable
from urllib.parse import unquote, urlsplit

from records.storage import durability
from records.errors import ConfigurationError, DiskFull, RecordsError, is_disk_full

# A plain file name that cannot be ".", "..", hidden, or contain a separator.
BLOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_HEX16 = "[0-9a-f]" * 16  # the random part of a temporary file's name
PACKS = "packs"  # packs live in <root>/packs/<2 hex chars>/, apart from single blobs
PACK_MAGIC = b"RBP1"  # records blob pack, version 1
_MEMBER_HEAD = struct.Struct(">HQ")  # member id length, ciphertext length
# The pack a member belongs to: everything before the first "_" of its id.
PACKED_BLOB_ID = re.compile(r"^([A-Za-z0-9-]{1,64})_[A-Za-z0-9._-]+$")
_SPILL = 1024 * 1024  # a member larger than this streams to the pack file as it comes
_ZEROS = bytes(1024 * 1024)
_CACHED_PACKS = 64  # member indexes of recently read packs kept in memory


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
        """Remove the blob; say whether there was one. Idempotent. Only ``destroy.py`` calls it.

        A packed blob's ciphertext is overwritten in place before the call returns; the
        rest of its pack stays readable.
        """
        ...

    def exists(self, blob_id: str) -> bool: ...

    def inventory(self) -> Iterator[tuple[str, float]]:
        """(blob id, modification time as a POSIX timestamp) of every blob (for the sweep)."""
        ...

    def temporaries(self) -> list[Path]:
        """Leftovers of interrupted writes (the sweep removes those past its grace period)."""
        ...

    def pack(self, pack_id: str) -> AbstractContextManager[BlobPackWriter]:
        """Write several blobs as one stored unit: all of them appear if the block exits
        cleanly, none otherwise. Each member's id must be ``<pack_id>_<anything>``."""
        ...


class BlobPackWriter(Protocol):
    """The members of one pack being written, one after the other."""

    def writer(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """Like ``BlobStore.writer``; the member becomes readable when the pack is complete."""
        ...

    def put(self, blob_id: str, data: bytes) -> None:
        """A whole member at once (``writer`` without a stream, for bytes already in memory)."""
        ...


def pack_of(blob_id: str) -> str | None:
    """The pack a blob id would belong to (``None``: an id that can only be a single blob)."""
    found = PACKED_BLOB_ID.fullmatch(blob_id)
    return found.group(1) if found else None


def _fsync_dir(folder: Path) -> None:
    durability.fsync_dir(folder)


class _OwnedDescriptor(io.RawIOBase):
    """A raw stream that owns its descriptor: closing the stream closes it, once."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


class _WatchedFile(_OwnedDescriptor):
    """A raw file over a descriptor that remembers the error its writes met.

    Tink's encrypting stream turns an ``OSError`` of the file it writes into a
    ``TinkError`` carrying only text; the remembered error tells a full disk apart.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            self.error = exc
            raise


class FolderBlobStore:
    """Blobs as files under ``root/<2 hex chars>/<blob_id>``.

    The fan-out folder comes from a hash of the id, not its first characters: ids share
    prefixes (``K-...``), and a hash spreads millions of blobs evenly over 256 folders.
    """

    def __init__(self, root: Path) -> None:
        """Open the store, creating its root (0700) so ``records init`` leaves it in place."""
        self.root = Path(root).resolve()
        self._indexes: dict[str, dict[str, tuple[int, int, int]]] = {}
        self._lock = threading.Lock()
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

    def _temporary(self, target: Path, name: str) -> tuple[Path, int]:
        """A new temporary file beside ``target`` (its folders made), open for writing.

        Its name starts with a dot, so that nothing takes it for a blob or a pack, and the
        sweep recognises what a killed write left behind.
        """
        try:
            folder = self.root
            for part in target.parent.relative_to(self.root).parts:  # each 0700, packs/ too
                folder = folder / part
                self._make_dirs(folder)
            tmp = target.with_name(f".{name}.{secrets.token_hex(8)}.tmp")
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull("store", self.root) from exc
            raise

    @contextmanager
    def writer(self, blob_id: str) -> Iterator[BinaryIO]:
        """Temp file, fsync, rename: readers see the old blob or the whole new one, never half.

        A full volume (ENOSPC, EDQUOT) becomes ``DiskFull`` naming the store, whichever
        layer met it first (Tink reports its stream's errors as its own).
        """
        target = self._path(blob_id)
        tmp, fd = self._temporary(target, blob_id)
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
            pass
        found = self._open_member(blob_id)
        if found is None:
            raise BlobMissing(blob_id)
        return cast(BinaryIO, _MemberReader(*found))

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
        pack_id = pack_of(blob_id)
        if pack_id is not None:
            deleted = self._delete_member(blob_id, pack_id) or deleted
        return deleted

    def exists(self, blob_id: str) -> bool:
        if self._path(blob_id).is_file():
            return True
        found = self._open_member(blob_id)
        if found is None:
            return False
        os.close(found[0])
        return True

    def inventory(self) -> Iterator[tuple[str, float]]:
        """Single blobs by file, packed blobs by the live members of each pack (its time)."""
        for fan in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not fan.is_dir() or len(fan.name) != 2:
                continue
            for entry in os.scandir(fan.path):
                if not entry.name.startswith(".") and BLOB_ID_PATTERN.fullmatch(entry.name):
                    try:
                        yield entry.name, entry.stat().st_mtime
                    except FileNotFoundError:
                        continue  # deleted meanwhile
        packs = self.root / PACKS
        if not packs.is_dir():
            return
        for fan in sorted(os.scandir(packs), key=lambda e: e.name):
            if not fan.is_dir():
                continue
            for entry in os.scandir(fan.path):
                if entry.name.startswith(".") or not entry.name.endswith(".pack"):
                    continue
                try:
                    fd = os.open(entry.path, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # its last member was deleted meanwhile
                try:
                    modified = os.fstat(fd).st_mtime
                    members = [member for member, _, _, _ in _scan_pack(fd) if member]
                finally:
                    os.close(fd)
                for member in members:
                    yield member, modified

    def temporaries(self) -> list[Path]:
        return [*self.root.glob("??/.*.tmp"), *self.root.glob(f"{PACKS}/??/.*.tmp")]

    # --- packs ---------------------------------------------------------------------------

    def _pack_path(self, pack_id: str) -> Path:
        check_blob_id(pack_id)
        fan = hashlib.sha256(pack_id.encode("ascii")).hexdigest()[:2]
        return self.root / PACKS / fan / f"{pack_id}.pack"

    @contextmanager
    def pack(self, pack_id: str) -> Iterator[BlobPackWriter]:
        """A temporary file, fsynced, then hard-linked into place (never over a pack).

        A full volume becomes ``DiskFull`` naming the store, as for a single blob, even
        when Tink's stream met it first and reported it as its own error.
        """
        target = self._pack_path(pack_id)
        tmp, fd = self._temporary(target, pack_id)
        file = os.fdopen(fd, "wb", buffering=_SPILL)
        packer = _PackWriter(pack_id, file)
        try:
            try:
                file.write(PACK_MAGIC)
                yield packer
                file.flush()
                durability.fsync_fd(file.fileno())
            finally:
                file.close()
            if packer.members:
                os.link(tmp, target)
        except BaseException as exc:
            if is_disk_full(exc) or is_disk_full(packer.error):
                raise DiskFull("store", self.root) from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)
        if packer.members:
            _fsync_dir(target.parent)

    def _members(self, pack_id: str, fd: int) -> dict[str, tuple[int, int, int]]:
        """Live member id → (id offset, ciphertext start, end); cached per pack."""
        cached = self._indexes.get(pack_id)
        if cached is not None:
            return cached
        index = {member: (id_at, start, end) for member, id_at, start, end in _scan_pack(fd) if member}
        with self._lock:
            if len(self._indexes) >= _CACHED_PACKS:
                self._indexes.pop(next(iter(self._indexes)), None)
            self._indexes[pack_id] = index
        return index

    def _open_member(self, blob_id: str) -> tuple[int, int, int] | None:
        """(open descriptor of its pack, start, end) of a live packed blob, or None."""
        pack_id = pack_of(check_blob_id(blob_id))
        if pack_id is None:
            return None
        try:
            fd = os.open(self._pack_path(pack_id), os.O_RDONLY)
        except FileNotFoundError:
            self._indexes.pop(pack_id, None)
            return None
        try:
            span = self._members(pack_id, fd).get(blob_id)
            raw = blob_id.encode("ascii")
            # The index may predate a deletion by another process: the id must still be there.
            if span is not None and os.pread(fd, len(raw), span[0]) != raw:
                self._indexes.pop(pack_id, None)
                span = self._members(pack_id, fd).get(blob_id)
        except BaseException:
            os.close(fd)
            raise
        if span is None:
            os.close(fd)
            return None
        return fd, span[1], span[2]

    def _delete_member(self, blob_id: str, pack_id: str) -> bool:
        """Zero a member's ciphertext, then its id, in place; unlink the pack once none is live.

        Ciphertext first: a crash in between leaves the id, so a second call finds the
        member and finishes. A lock on the pack serialises deleters, so the last one sees
        every other member gone and removes the file.
        """
        target = self._pack_path(pack_id)
        deleted = False
        try:
            fd = os.open(target, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                live = 0
                for member, id_at, start, end in _scan_pack(fd):
                    if member == blob_id:
                        _zero(fd, start, end)
                        durability.fsync_fd(fd)
                        _zero(fd, id_at, start)
                        durability.fsync_fd(fd)
                        deleted = True
                    elif member:
                        live += 1
                if live == 0:
                    target.unlink(missing_ok=True)
            finally:
                os.close(fd)
            self._indexes.pop(pack_id, None)
        if target.parent.is_dir():
            # An interrupted pack write leaves its temporary file, holding the same ciphertext.
            for stale in target.parent.glob(f".{pack_id}.{_HEX16}.tmp"):
                stale.unlink(missing_ok=True)
                deleted = True
            _fsync_dir(target.parent)
        return deleted


class _PackWriter:
    """Appends members to an open pack file: id length, ciphertext length, id, ciphertext."""

    def __init__(self, pack_id: str, file: BinaryIO) -> None:
        self.pack_id = pack_id
        self.members: list[str] = []
        self._taken: set[str] = set()  # ``members`` as a set: a chunk's pack holds hundreds
        self.error: OSError | None = None  # what a member's write met (Tink hides it)
        self._file = file
        self._busy = False

    @contextmanager
    def writer(self, blob_id: str) -> Iterator[BinaryIO]:
        self._check(blob_id)
        self._busy = True
        member = _Member(self._file, blob_id.encode("ascii"), self)
        try:
            yield member  # type: ignore[misc]
            member.close()
            member.finish()
        except BaseException:
            member.undo()  # the pack stays well-formed if the caller carries on
            raise
        finally:
            self._busy = False
        self.members.append(blob_id)
        self._taken.add(blob_id)

    def put(self, blob_id: str, data: bytes) -> None:
        self._check(blob_id)
        start = self._file.tell()
        raw_id = blob_id.encode("ascii")
        try:
            self._file.write(_MEMBER_HEAD.pack(len(raw_id), len(data)) + raw_id + data)
        except BaseException as exc:
            if isinstance(exc, OSError):
                self.error = exc
            self._file.flush()
            os.ftruncate(self._file.fileno(), start)  # the pack stays well-formed if the caller carries on
            self._file.seek(start)
            raise
        self.members.append(blob_id)
        self._taken.add(blob_id)

    def _check(self, blob_id: str) -> None:
        if pack_of(check_blob_id(blob_id)) != self.pack_id:
            raise ValueError(f"blob {blob_id} cannot go into pack {self.pack_id}: its id must start with '{self.pack_id}_'")
        if blob_id in self._taken or self._busy:
            raise ValueError(f"blob {blob_id}: already in pack {self.pack_id}, or another member is being written")


class _Member(io.RawIOBase):
    """One member being written: held in memory while small, streamed to the file once large.

    Its length is known only at its end: a small member is written whole, head first; a
    large one gets a provisional head that is filled in afterwards.
    """

    def __init__(self, file: BinaryIO, raw_id: bytes, pack: _PackWriter) -> None:
        super().__init__()
        self._file = file
        self._pack = pack
        self._raw_id = raw_id
        self._start = file.tell()
        self._held = bytearray()
        self._spilled = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a finished pack member")
        try:
            return self._write(data)
        except OSError as exc:
            self._pack.error = exc
            raise

    def _write(self, data: bytes) -> int:
        if self._spilled == 0 and len(self._held) + len(data) <= _SPILL:
            self._held += data
            return len(data)
        if not self._spilled:
            self._file.write(_MEMBER_HEAD.pack(len(self._raw_id), 0) + self._raw_id)
            self._file.write(self._held)
            self._spilled = len(self._held)
            self._held = bytearray()
        self._file.write(data)
        self._spilled += len(data)
        return len(data)

    def close(self) -> None:  # Tink's stream closes its destination; the pack stays open
        super().close()

    def finish(self) -> None:
        if not self._spilled:
            self._file.write(_MEMBER_HEAD.pack(len(self._raw_id), len(self._held)) + self._raw_id + self._held)
            return
        self._file.flush()
        os.pwrite(self._file.fileno(), _MEMBER_HEAD.pack(len(self._raw_id), self._spilled), self._start)

    def undo(self) -> None:
        self._file.flush()
        os.ftruncate(self._file.fileno(), self._start)
        self._file.seek(self._start)


class _MemberReader(_OwnedDescriptor):
    """A packed blob's ciphertext, read from its pack by position."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        super().__init__(fd)
        self._at = start
        self._end = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._end - self._at)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._at)
        buffer[: len(data)] = data
        self._at += len(data)
        return len(data)


def _scan_pack(fd: int) -> list[tuple[str, int, int, int]]:
    """(member id, id offset, ciphertext start, end) of each member; a deleted one's id is ""."""
    size = os.fstat(fd).st_size
    if os.pread(fd, len(PACK_MAGIC), 0) != PACK_MAGIC:
        return []
    found = []
    at = len(PACK_MAGIC)
    while at + _MEMBER_HEAD.size <= size:
        head = os.pread(fd, _MEMBER_HEAD.size + 128, at)
        id_length, length = _MEMBER_HEAD.unpack_from(head)
        id_at = at + _MEMBER_HEAD.size
        start = id_at + id_length
        end = start + length
        if end > size or id_length > 128:
            break  # a damaged pack: what follows cannot be trusted
        raw = head[_MEMBER_HEAD.size : _MEMBER_HEAD.size + id_length]
        found.append(("" if not raw.strip(b"\0") else raw.decode("ascii", "replace"), id_at, start, end))
        at = end
    return found


def _zero(fd: int, start: int, end: int) -> None:
    while start < end:
        start += os.pwrite(fd, _ZEROS[: min(len(_ZEROS), end - start)], start)

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


__all__ = ["BLOB_ID_PATTERN", "PACKED_BLOB_ID", "BlobMissing", "BlobPackWriter", "BlobStore", "FolderBlobStore", "check_blob_id", "open_blob_store", "pack_of"]
