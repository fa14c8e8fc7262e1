"""The key store: one key per record, wrapped by a master key.

It lives apart from the catalog and the blobs (design.md, "Storage of content"): its own
folder (default ``RECORDS_HOME/keys``, ``RECORDS_KEYSTORE``), its own volume and its own
short backup rotation. Destroying a record's key is what makes every copy of its blob
and text, in any store or catalog backup, unreadable (crypto-shredding); so keys are
written atomically, never overwritten, and ``destroy`` is the only way one goes.

Layout::

    <keystore>/            0700
        master.json        0600  cleartext Tink AEAD keyset (AES256_GCM)
        records/           0700
            <key_id>.key   0600  Tink streaming-AEAD (or, small records, AEAD) keyset, encrypted by the master key
        packs/             0700
            <pack_id>.pack 0600  many such wrapped keysets, one per record, written at once

Each wrapped keyset is bound to its key id (associated data), so renaming or swapping
key files makes them unusable rather than silently wrong.

Key packs. Creating a file is the dearest thing the store does on some file systems (up
to 0.7 ms of kernel time here), and an mbox makes a record, so a key, per message. So
the records cut from one chunk of a stream get their keys from one new pack file
(``new_keys``): still one independent random key per record, each wrapped on its own
and bound to its own id (``<pack_id>_<n>``), only stored side by side. Destroying one
overwrites that key's bytes inside the pack with zeros and syncs them, exactly as a
single key file is zeroed before it is unlinked; the other keys of the pack stay
readable, and the pack file goes once every key in it has been destroyed. Crypto-shredding
is therefore per record as before: a record's blob and text, in any backup, are
unreadable once its key's bytes are gone, and only key-store backups can hold them.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import tink
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tink import aead, secret_key_access, streaming_aead
from tink.proto import aes_gcm_pb2, tink_pb2

from records.storage import durability
from records.errors import ConfigurationError, DiskFull, RecordsError, is_disk_full

aead.register()
streaming_aead.register()

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MASTER_FILE = "master.json"
RECORD_KEYS = "records"
KEY_PACKS = "packs"
PACK_MAGIC = b"RKP1"  # records key pack, version 1
_ENTRY_HEAD = struct.Struct(">HI")  # key id length, wrapped keyset length
PACKED_KEY_ID = re.compile(r"^(K-[0-9A-Z]{15})_([0-9]{1,5})$")
_TEMPLATE = streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
# For a record whose content and text are small (an email, a chat part): Tink's AEAD,
# AES256-GCM, encrypting each blob in one call. Starting a stream cost 30 µs against
# 2 µs for one AEAD call, and every record starts two (content and text), where the
# blobs are a few kilobytes that are in memory anyway. The key's type says which: every
# key decrypts its own blobs whichever it was made with (``RecordKey``). Such keys are
# made by ``_new_small_key``: the keyset Tink's ``AES256_GCM`` template makes, without
# Tink's per-key Python overhead.
_AEAD_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmKey"
_TINK_PREFIX = b"\x01"  # Tink's output prefix for a TINK key: 0x01, then the key's id (4 bytes, big-endian)
_IV_BYTES = 12
_MAX_TINK_KEY_ID = 2**31 - 1  # Tink draws key ids in 1 .. 2^31 - 1
RecordKey = streaming_aead.StreamingAead | aead.Aead  # what ``primitive`` and ``new_keys`` return
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_HEX16 = "[0-9a-f]" * 16  # the random part of a temporary file's name


class KeyDestroyed(RecordsError):
    """The record's key is gone: its content was destroyed and can never be read again."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"the content key {key_id} no longer exists: the record's content was destroyed "
            "and cannot be read from this store or any backup of it"
        )
        self.key_id = key_id


class KeyUnreadable(RecordsError):
    """A key file exists but the master key cannot unwrap it (wrong key store, or tampering)."""

    def __init__(self, key_id: str, detail: str) -> None:
        super().__init__(
            f"the content key {key_id} cannot be unwrapped with this key store's master key "
            f"({detail}); check that RECORDS_KEYSTORE points at this installation's key store"
        )
        self.key_id = key_id


def check_key_id(key_id: str) -> str:
    """Refuse anything but a plain token, so a key id can never name a path outside the store."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(f"not a valid key id: {key_id!r} (letters, digits, '-' and '_', at most 64)")
    return key_id


def _fsync_dir(folder: Path) -> None:
    durability.fsync_dir(folder)


def _make_private_dir(folder: Path) -> None:
    """Create ``folder`` as 0700 whatever the umask; an existing folder keeps its mode."""
    if not folder.is_dir():
        folder.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
        os.chmod(folder, _FOLDER_MODE)


def _write_new_file(target: Path, data: bytes) -> None:
    """Write ``data`` as a new 0600 file, atomically and durably, never replacing one.

    The bytes go to a temporary file that is fsynced and then hard-linked into place:
    ``link`` fails if the target exists, so two processes racing on one key id cannot
    overwrite each other's key, and a crash never leaves a half-written key behind.
    """
    tmp = target.with_name(f".{target.stem}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            try:
                durability.write_all(fd, data)
            finally:
                os.close(fd)
            os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        if is_disk_full(exc):
            # The key store's own volume (design.md) filled: say which, not "errno 28".
            raise DiskFull("key store", target.parent.parent) from exc
        raise
    _fsync_dir(target.parent)


class KeyStore:
    """A folder of per-record keys under one master key (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._master: aead.Aead | None = None

    @property
    def master_file(self) -> Path:
        return self.path / MASTER_FILE

    @property
    def records_dir(self) -> Path:
        return self.path / RECORD_KEYS

    @property
    def packs_dir(self) -> Path:
        return self.path / KEY_PACKS

    @property
    def exists(self) -> bool:
        """True when the folder and its master key are there."""
        return self.master_file.is_file()

    def create(self) -> bool:
        """Create the folder and a master key if there is none; say whether one was made.

        An existing master key is never replaced: every record key is wrapped by it.
        """
        _make_private_dir(self.path)
        if self.master_file.exists():
            return False
        handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
        data = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
        try:
            _write_new_file(self.master_file, data.encode("utf-8"))
        except FileExistsError:
            return False  # another process created it first; theirs stands
        _make_private_dir(self.records_dir)
        return True

    def problems(self) -> list[str]:
        """What ``records doctor`` should report about the key store (empty when healthy)."""
        if not self.path.is_dir():
            return [f"key store folder {self.path} does not exist; run `records init` or set RECORDS_KEYSTORE"]
        found: list[str] = []
        if not self.master_file.is_file():
            found.append(
                f"key store {self.path} has no master key ({MASTER_FILE}); without it no record can be read. "
                "Restore it from the key store backup, or run `records init` on a new installation"
            )
        for folder, dirs, files in os.walk(self.path):
            here = Path(folder)
            mode = stat.S_IMODE(here.stat().st_mode)
            if mode & 0o077:
                found.append(f"key store folder {here} is open to group or others (mode {mode:04o}); run `chmod 700 {here}`")
            for name in files:
                file = here / name
                mode = stat.S_IMODE(file.lstat().st_mode)
                if mode & 0o066:
                    found.append(f"key file {file} is readable or writable by group or others (mode {mode:04o}); run `chmod 600 {file}`")
            dirs.sort()
        return found

    def inventory(self) -> Iterable[tuple[str, float]]:
        """(key id, modification time) of every key held, single or packed (the sweep's view)."""
        if self.records_dir.is_dir():
            for entry in os.scandir(self.records_dir):
                if entry.name.endswith(".key") and not entry.name.startswith("."):
                    yield entry.name[: -len(".key")], entry.stat().st_mtime
        if self.packs_dir.is_dir():
            for entry in os.scandir(self.packs_dir):
                if entry.name.endswith(".pack") and not entry.name.startswith("."):
                    modified = entry.stat().st_mtime
                    try:
                        data = Path(entry.path).read_bytes()
                    except FileNotFoundError:
                        continue  # its last key was destroyed meanwhile
                    for key_id, _, _ in _pack_entries(data):
                        if key_id:
                            yield key_id, modified

    def temporaries(self) -> list[Path]:
        """Temporary files a killed write left (``_write_new_file``): never a key anyone holds."""
        return [p for folder in (self.records_dir, self.packs_dir) if folder.is_dir() for p in folder.glob(".*.tmp")]

    def _master_aead(self) -> aead.Aead:
        if self._master is None:
            try:
                text = self.master_file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ConfigurationError(
                    f"the key store {self.path} has no master key; run `records init`, or set RECORDS_KEYSTORE "
                    "to the installation's key store"
                ) from None
            try:
                handle = tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
                self._master = handle.primitive(aead.Aead)
            except tink.TinkError as exc:
                raise ConfigurationError(f"the master key in {self.master_file} is not a valid Tink AEAD keyset: {exc}") from exc
        return self._master

    def _key_file(self, key_id: str) -> Path:
        return self.records_dir / f"{check_key_id(key_id)}.key"

    def has_key(self, key_id: str) -> bool:
        if self._key_file(key_id).is_file():
            return True
        return self._packed(key_id) is not None

    def new_key(self, key_id: str) -> streaming_aead.StreamingAead:
        """Create the record key ``key_id`` and return its streaming AEAD; refuse an existing id."""
        target = self._key_file(key_id)
        if target.exists() or self._packed(key_id) is not None:
            raise ValueError(f"key {key_id} already exists; a key id is never reused")
        master = self._master_aead()
        _make_private_dir(self.records_dir)
        handle = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
        wrapped = tink.proto_keyset_format.serialize_encrypted(handle, master, key_id.encode("ascii"))
        try:
            _write_new_file(target, wrapped)
        except FileExistsError:
            raise ValueError(f"key {key_id} already exists; a key id is never reused") from None
        return handle.primitive(streaming_aead.StreamingAead)

    def new_keys(self, pack_id: str, count: int, small: Sequence[bool] = ()) -> list[tuple[str, RecordKey]]:
        """Create ``count`` record keys in one new pack; return (key id, AEAD) for each.

        ``pack_id`` is a fresh content-key id (``new_id("K")``); the keys are
        ``<pack_id>_0`` to ``<pack_id>_<count-1>``. The pack is written like a key file:
        whole or not at all, never over an existing one. ``small[n]`` true: key ``n``
        encrypts only small blobs, each in one AEAD call (``_SmallKey``).
        """
        if not PACKED_KEY_ID.fullmatch(f"{pack_id}_{max(0, count - 1)}"):
            raise ValueError(f"not a valid key pack id or size: {pack_id!r}, {count}")
        master = self._master_aead()
        _make_private_dir(self.packs_dir)
        chunks = [PACK_MAGIC]
        made: list[tuple[str, RecordKey]] = []
        checked = False
        for number in range(count):
            key_id = f"{pack_id}_{number}"
            primitive: RecordKey
            if number < len(small) and small[number]:
                wrapped, primitive = _new_small_key(master, key_id, check=not checked)
                checked = True
            else:
                handle = tink.new_keyset_handle(_TEMPLATE)
                wrapped = tink.proto_keyset_format.serialize_encrypted(handle, master, key_id.encode("ascii"))
                primitive = handle.primitive(streaming_aead.StreamingAead)
            chunks += [_ENTRY_HEAD.pack(len(key_id), len(wrapped)), key_id.encode("ascii"), wrapped]
            made.append((key_id, primitive))
        try:
            _write_new_file(self._pack_file(pack_id), b"".join(chunks))
        except FileExistsError:
            raise ValueError(f"key pack {pack_id} already exists; a key id is never reused") from None
        return made

    def _pack_file(self, pack_id: str) -> Path:
        return self.packs_dir / f"{check_key_id(pack_id)}.pack"

    def _packed(self, key_id: str) -> bytes | None:
        """The wrapped keyset of a packed key, or None (no such pack, or destroyed)."""
        found = PACKED_KEY_ID.fullmatch(check_key_id(key_id))
        if not found:
            return None
        try:
            data = self._pack_file(found.group(1)).read_bytes()
        except FileNotFoundError:
            return None
        for entry_id, start, end in _pack_entries(data):
            if entry_id == key_id:
                return data[start:end]
        return None

    def primitive(self, key_id: str) -> RecordKey:
        """Unwrap the record key ``key_id``; ``KeyDestroyed`` when it is gone."""
        target = self._key_file(key_id)
        try:
            wrapped = target.read_bytes()
        except FileNotFoundError:
            packed = self._packed(key_id)
            if packed is None:
                raise KeyDestroyed(key_id) from None
            wrapped = packed
        master = self._master_aead()
        try:
            handle = tink.proto_keyset_format.parse_encrypted(wrapped, master, key_id.encode("ascii"))
            kinds = {key.type_url for key in handle.keyset_info().key_info}
            if kinds == {_AEAD_TYPE_URL}:
                return handle.primitive(aead.Aead)
            return handle.primitive(streaming_aead.StreamingAead)
        except tink.TinkError as exc:
            raise KeyUnreadable(key_id, str(exc)) from exc

    def destroy(self, key_id: str) -> bool:
        """Shred the record key ``key_id``; say whether there was one. Idempotent.

        Only ``records.storage.destroy`` may call this. The bytes are overwritten with
        zeros and synced before the unlink: on a plain filesystem that leaves nothing to
        recover; on copy-on-write or flash storage it is best effort, which is why the key
        store's own volume and short backup rotation matter (design.md).
        """
        target = self._key_file(key_id)
        destroyed = False
        try:
            fd = os.open(target, os.O_WRONLY)
        except FileNotFoundError:
            pass
        else:
            try:
                durability.write_all(fd, bytes(os.fstat(fd).st_size))
            finally:
                os.close(fd)
            target.unlink(missing_ok=True)
            destroyed = True
        # A crash inside ``new_key`` can leave a temporary copy of the wrapped key behind.
        if self.records_dir.is_dir():
            for stale in self.records_dir.glob(f".{key_id}.{_HEX16}.tmp"):
                stale.unlink(missing_ok=True)
                destroyed = True
            _fsync_dir(self.records_dir)
        if PACKED_KEY_ID.fullmatch(key_id):
            destroyed = self._destroy_packed([key_id]) or destroyed
        return destroyed

    def destroy_many(self, key_ids: Iterable[str]) -> None:
        """``destroy`` each key; keys of one pack are zeroed with one pass over the pack.

        Used to throw away the keys of a chunk whose transaction failed: hundreds of keys
        of one pack, which one by one would each reread and resync the pack.
        """
        by_pack: dict[str, list[str]] = {}
        for key_id in key_ids:
            found = PACKED_KEY_ID.fullmatch(check_key_id(key_id))
            if found and not self._key_file(key_id).exists():
                by_pack.setdefault(found.group(1), []).append(key_id)
            else:
                self.destroy(key_id)
        for keys in by_pack.values():
            self._destroy_packed(keys)

    def _destroy_packed(self, key_ids: list[str]) -> bool:
        """Zero the given keys' bytes inside their pack (all of one pack); unlink it once empty.

        The key id and the wrapped keyset are overwritten in place and synced; the entry
        lengths stay, so the rest of the pack still parses. Zeroing distinct entries
        never conflicts, so two processes destroying keys of one pack need no lock.
        """
        pack_id = PACKED_KEY_ID.fullmatch(key_ids[0]).group(1)  # type: ignore[union-attr]
        target = self._pack_file(pack_id)
        wanted = set(key_ids)
        destroyed = False
        try:
            fd = os.open(target, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        if fd is not None:
            try:
                data = _read_all(fd)
                live = 0
                for entry_id, start, end in _pack_entries(data):
                    if entry_id in wanted:
                        id_start = start - len(entry_id)
                        os.pwrite(fd, bytes(end - id_start), id_start)
                        destroyed = True
                    elif entry_id:
                        live += 1
                if destroyed:
                    durability.fsync_fd(fd)
            finally:
                os.close(fd)
            if live == 0:
                target.unlink(missing_ok=True)
        # A crash inside ``new_keys`` can leave a temporary copy of the whole pack behind.
        if self.packs_dir.is_dir():
            for stale in self.packs_dir.glob(f".{pack_id}.{_HEX16}.tmp"):
                stale.unlink(missing_ok=True)
                destroyed = True
            _fsync_dir(self.packs_dir)
        return destroyed


class _SmallKey(aead.Aead):
    """A new small record's AES256-GCM key, encrypting exactly as Tink's AEAD does.

    Tink's Python wrapper spent 27 µs making, wrapping and loading each key (60 µs with
    the reading process on the other core), as much as the rest of storing a short email,
    and an mbox makes a key per message; this takes 8 µs. It writes the same thing with
    less machinery: the key is 32 random bytes in a Tink ``AesGcmKey`` keyset (TINK output
    prefix, as ``AES256_GCM``'s template makes), wrapped by the master AEAD bound to the
    key id exactly as ``serialize_encrypted`` wraps it, and each blob is AES-GCM from
    ``cryptography`` in Tink's ciphertext layout: prefix (0x01 and the 4-byte key id),
    12-byte random IV, ciphertext and 16-byte tag, the blob id as associated data. Only
    the writing side is ours: every key is read back through Tink (``KeyStore.primitive``),
    and ``tests/test_store.py`` checks the keysets against Tink's own and opens these
    blobs with Tink.
    """

    def __init__(self, raw: bytes, tink_key_id: int) -> None:
        self._gcm = AESGCM(raw)
        self._prefix = _TINK_PREFIX + struct.pack(">I", tink_key_id)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        iv = os.urandom(_IV_BYTES)
        return self._prefix + iv + self._gcm.encrypt(iv, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        head = len(self._prefix)
        if not ciphertext.startswith(self._prefix) or len(ciphertext) < head + _IV_BYTES + 16:
            raise tink.TinkError("decryption failed: not a ciphertext of this key")
        try:
            return self._gcm.decrypt(ciphertext[head : head + _IV_BYTES], ciphertext[head + _IV_BYTES :], associated_data)
        except InvalidTag:
            raise tink.TinkError("decryption failed") from None


def _new_small_key(master: aead.Aead, key_id: str, *, check: bool) -> tuple[bytes, _SmallKey]:
    """A new AES256-GCM record key: (its keyset wrapped by ``master`` for ``key_id``, its AEAD).

    ``check``: unwrap it again and compare, as ``serialize_encrypted`` does for every key
    it wraps in case the master key's primitive is broken. Once per key pack is enough to
    catch that before any content is encrypted under keys nobody could read.
    """
    raw = secrets.token_bytes(32)
    tink_id = secrets.randbelow(_MAX_TINK_KEY_ID) + 1
    keyset = tink_pb2.Keyset(primary_key_id=tink_id)
    key = keyset.key.add()
    key.key_data.type_url = _AEAD_TYPE_URL
    key.key_data.value = aes_gcm_pb2.AesGcmKey(version=0, key_value=raw).SerializeToString()
    key.key_data.key_material_type = tink_pb2.KeyData.SYMMETRIC
    key.status = tink_pb2.ENABLED
    key.key_id = tink_id
    key.output_prefix_type = tink_pb2.TINK
    info = tink_pb2.KeysetInfo(primary_key_id=tink_id)
    info.key_info.add(type_url=_AEAD_TYPE_URL, status=tink_pb2.ENABLED, key_id=tink_id, output_prefix_type=tink_pb2.TINK)
    plain = keyset.SerializeToString()
    bound_to = key_id.encode("ascii")
    encrypted = master.encrypt(plain, bound_to)
    if check:
        try:
            same = master.decrypt(encrypted, bound_to) == plain
        except tink.TinkError:
            same = False
        if not same:
            raise RecordsError("a new content key could not be unwrapped with the master key; nothing was stored. Run `records doctor`")
    return tink_pb2.EncryptedKeyset(encrypted_keyset=encrypted, keyset_info=info).SerializeToString(), _SmallKey(raw, tink_id)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _pack_entries(data: bytes) -> list[tuple[str, int, int]]:
    """(key id, start, end of its wrapped keyset) for each entry; a destroyed entry's id is ""."""
    if not data.startswith(PACK_MAGIC):
        return []
    entries = []
    at = len(PACK_MAGIC)
    while at + _ENTRY_HEAD.size <= len(data):
        id_length, wrapped_length = _ENTRY_HEAD.unpack_from(data, at)
        at += _ENTRY_HEAD.size
        raw_id = data[at : at + id_length]
        start = at + id_length
        end = start + wrapped_length
        if end > len(data):
            break  # a damaged pack: what follows cannot be trusted
        entries.append(("" if not raw_id.strip(b"\0") else raw_id.decode("ascii", "replace"), start, end))
        at = end
    return entries


__all__ = ["KEY_ID_PATTERN", "PACKED_KEY_ID", "KeyDestroyed", "KeyStore", "KeyUnreadable", "check_key_id"]
