"""Record content, encrypted at rest under the record's own key, streamed when large.

Bytes go through Tink's streaming AEAD (AES256-GCM-HKDF, 1 MiB segments) straight into
the blob store, so a 5 GB mbox costs a few megabytes of memory, never its size. A record
known to be small (``SMALL_BYTES``: an email, a chat part) has an AEAD key instead
(AES256-GCM, ``keystore``) and each of its blobs is encrypted in one call: its bytes are
in memory already, and two streams per short message cost more than the rest of storing
it. The blob id is the associated data either way: a blob copied or renamed onto another
id fails to decrypt instead of showing another record's content. Extracted text is a
second blob under the same key, so destroying the key (``destroy.py``) shreds both.

A tampered blob raises ``ContentCorrupted`` when the damaged segment is read. Segments
before it have already been handed out by then; a caller that must not act on partial
content (an export, a hash check) reads to the end before using it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

import tink
from tink import aead

from records.config import Paths
from records.errors import RecordsError
from records.storage.blobstore import BlobPackWriter, BlobStore, check_blob_id, open_blob_store
from records.storage.keystore import KeyStore, RecordKey

CHUNK = 1024 * 1024
PACK_KEYS = 10_000  # keys per key pack at most (a stream's chunk needs a few hundred)
SMALL_BYTES = 256 * 1024  # a record whose content and text are both this small gets an AEAD key


class ContentCorrupted(RecordsError):
    """The ciphertext fails authentication: altered, truncated, or not this blob's."""

    def __init__(self, blob_id: str, detail: str) -> None:
        super().__init__(
            f"the content blob {blob_id} fails its integrity check ({detail}): it was altered, truncated "
            "or swapped with another blob; restore it from the store backup"
        )
        self.blob_id = blob_id


@dataclass(frozen=True)
class StoredBlob:
    """What ``put`` wrote: the blob's id and the plaintext's SHA-256 (hex) and size."""

    blob_id: str
    sha256: str
    size: int


class _CheckedReader(io.RawIOBase):
    """Tink's decrypting stream, with its errors turned into ``ContentCorrupted``."""

    def __init__(self, inner: BinaryIO, blob_id: str) -> None:
        super().__init__()
        self._inner = inner
        self._blob_id = blob_id

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except tink.TinkError as exc:
            raise ContentCorrupted(self._blob_id, str(exc)) from exc
        size = len(data or b"")
        buffer[:size] = data or b""
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


class ContentStore:
    """Encrypts into and decrypts out of a blob store with keys from a key store."""

    def __init__(self, keystore: KeyStore, blobs: BlobStore) -> None:
        self.keystore = keystore
        self.blobs = blobs

    @classmethod
    def from_paths(cls, paths: Paths) -> ContentStore:
        """The installation's store: ``RECORDS_KEYSTORE`` and ``RECORDS_STORE_URL`` (via ``Paths``)."""
        return cls(KeyStore(paths.keystore), open_blob_store(paths.store_url))

    def ensure_key(self, key_id: str) -> RecordKey:
        """The key ``key_id``, created if it does not exist yet (first content of a record)."""
        if not self.keystore.has_key(key_id):
            try:
                return self.keystore.new_key(key_id)
            except ValueError:
                if not self.keystore.has_key(key_id):
                    raise
                # Another process created it between our check and our write: use theirs.
        return self.keystore.primitive(key_id)

    def new_keys(self, count: int, small: Sequence[bool] = ()) -> list[tuple[str, RecordKey]]:
        """``count`` new record keys, stored together in one key pack (see ``keystore``).

        ``small[n]``: key ``n`` will only encrypt blobs of at most ``SMALL_BYTES`` (an
        AEAD key: each blob in one call).
        """
        from records.storage.ids import new_id

        made: list[tuple[str, RecordKey]] = []
        while len(made) < count:
            size = min(PACK_KEYS, count - len(made))
            made += self.keystore.new_keys(new_id("K"), size, small[len(made) : len(made) + size])
        return made

    def put(
        self,
        key_id: str,
        source: BinaryIO,
        *,
        blob_id: str | None = None,
        primitive: RecordKey | None = None,
        pack: BlobPackWriter | None = None,
    ) -> StoredBlob:
        """Encrypt ``source`` under an existing key into ``blob_id`` (default ``<key_id>.blob``).

        ``primitive`` is the key's AEAD when the caller holds it already (``ensure_key``
        returned it): a record's content and text are written right after its key is
        made, and reading the key back from the key store and unwrapping it twice more
        cost more than encrypting a short message. ``pack``: write the blob as a member
        of that blob pack (``blobstore``) instead of as a file of its own.
        """
        blob_id = check_blob_id(blob_id or f"{key_id}.blob")
        primitive = primitive or self.keystore.primitive(key_id)
        if isinstance(primitive, aead.Aead):
            return self._put_whole(primitive, source, blob_id, pack)
        digest = hashlib.sha256()
        size = 0
        with (pack or self.blobs).writer(blob_id) as destination:
            try:
                encrypting = primitive.new_encrypting_stream(destination, blob_id.encode("ascii"))
            except tink.TinkError as exc:
                raise RecordsError(f"cannot encrypt into blob {blob_id}: {exc}") from exc
            try:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    encrypting.write(chunk)
            except BaseException:
                # Finish the stream so it does not write into a closed file when collected;
                # the store throws the partial blob away.
                try:
                    encrypting.close()
                except Exception:  # noqa: BLE001, S110 - the original error is what matters
                    pass
                raise
            encrypting.close()  # writes the final segment (and closes ``destination``)
        return StoredBlob(blob_id=blob_id, sha256=digest.hexdigest(), size=size)

    def _put_whole(self, primitive: aead.Aead, source: BinaryIO, blob_id: str, pack: BlobPackWriter | None) -> StoredBlob:
        """A small record's blob: read whole, encrypted in one AEAD call."""
        data = source.read()
        try:
            ciphertext = primitive.encrypt(data, blob_id.encode("ascii"))
        except tink.TinkError as exc:
            raise RecordsError(f"cannot encrypt into blob {blob_id}: {exc}") from exc
        if pack is not None:
            pack.put(blob_id, ciphertext)
        else:
            with self.blobs.writer(blob_id) as destination:
                destination.write(ciphertext)
                destination.close()  # written once, as Tink's stream closes it: a full disk fails once
        return StoredBlob(blob_id=blob_id, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def open(self, key_id: str, blob_id: str) -> BinaryIO:
        """A reader of the plaintext (streamed when large); ``KeyDestroyed``, ``BlobMissing`` or ``ContentCorrupted``."""
        check_blob_id(blob_id)
        primitive = self.keystore.primitive(key_id)
        if isinstance(primitive, aead.Aead):
            with self.blobs.reader(blob_id) as whole:
                ciphertext_bytes = whole.read()
            try:
                return cast(BinaryIO, io.BytesIO(primitive.decrypt(ciphertext_bytes, blob_id.encode("ascii"))))
            except tink.TinkError as exc:
                raise ContentCorrupted(blob_id, str(exc)) from exc
        ciphertext = self.blobs.reader(blob_id)
        try:
            decrypting = primitive.new_decrypting_stream(ciphertext, blob_id.encode("ascii"))
        except tink.TinkError as exc:
            ciphertext.close()
            raise ContentCorrupted(blob_id, str(exc)) from exc
        except BaseException:
            ciphertext.close()
            raise
        return cast(BinaryIO, io.BufferedReader(_CheckedReader(decrypting, blob_id), buffer_size=CHUNK))

    def put_text(
        self,
        key_id: str,
        text: str,
        *,
        blob_id: str | None = None,
        primitive: RecordKey | None = None,
        pack: BlobPackWriter | None = None,
    ) -> str:
        """Store a record's extracted text under the record's key; return its blob id."""
        blob_id = blob_id or f"{key_id}.text"
        self.put(key_id, io.BytesIO(text.encode("utf-8")), blob_id=blob_id, primitive=primitive, pack=pack)
        return blob_id

    def read_text(self, key_id: str, blob_id: str) -> str:
        with self.open(key_id, blob_id) as reader:
            return reader.read().decode("utf-8")


__all__ = ["CHUNK", "ContentCorrupted", "ContentStore", "StoredBlob"]
