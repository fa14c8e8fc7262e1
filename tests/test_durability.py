"""Syncs put off by ``durability.batched()`` happen at its end, for exactly what was written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from records.storage import durability


def _watch(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, int]], list[str]]:
    """Record the (device, inode) of every fsync, and every os.sync call."""
    synced: list[tuple[int, int]] = []
    global_syncs: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "sync", lambda: global_syncs.append("sync"))
    return synced, global_syncs


def _inode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        durability.write_all(fd, data)
    finally:
        os.close(fd)
    durability.fsync_dir(path.parent)


def test_a_batch_syncs_each_file_and_folder_it_wrote_once_at_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced, global_syncs = _watch(monkeypatch)
    open_before = len(os.listdir("/proc/self/fd"))
    files = [tmp_path / f"pack-{n}" for n in range(3)]
    with durability.batched():
        for file in files:
            _write(file, b"ciphertext")
        assert synced == []  # put off: nothing synced inside the block
    assert synced[:3] == [_inode(file) for file in files]  # the files, then
    assert synced[3:] == [_inode(tmp_path)]  # their folder, once
    assert global_syncs == []  # not the whole machine's dirty pages
    assert len(os.listdir("/proc/self/fd")) == open_before  # the descriptors held for the sync are closed


def test_a_failed_batch_syncs_nothing_and_leaks_no_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced, global_syncs = _watch(monkeypatch)
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeError), durability.batched():
        _write(tmp_path / "half", b"ciphertext")
        raise RuntimeError("the disk filled")
    assert synced == [] and global_syncs == []
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_a_batch_of_very_many_files_ends_with_one_sync_of_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durability, "MAX_DEFERRED", 4)
    synced, global_syncs = _watch(monkeypatch)
    with durability.batched():
        for n in range(6):
            _write(tmp_path / f"blob-{n}", b"x")
    assert global_syncs == ["sync"] and synced == []


def test_outside_a_batch_each_write_is_synced_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced, _ = _watch(monkeypatch)
    _write(tmp_path / "key", b"wrapped")
    assert synced == [_inode(tmp_path / "key"), _inode(tmp_path)]


def test_a_file_locked_and_closed_inside_a_batch_can_be_locked_again(tmp_path: Path) -> None:
    """Holding a written file for its later sync must not hold the caller's lock on it:
    deleting two members of one blob pack in one batch locks the pack twice."""
    import fcntl

    path = tmp_path / "pack"
    path.write_bytes(b"members")
    with durability.batched():
        for _ in range(2):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises instead of waiting for ever
                durability.fsync_fd(fd)
            finally:
                os.close(fd)
