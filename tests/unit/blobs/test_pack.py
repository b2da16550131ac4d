"""kura.blobs.pack: blobs staged into pack segments are durable after one sync, readable at
once (also by another process), copied into the file layout by compaction; a segment cut
short at any byte, or with a damaged record, gives up exactly its whole records (R41, R60)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil

import pytest

from kura.blobs.pack import PackedStore
from kura.errors import NotFound


def _blob(i: int) -> tuple[str, bytes]:
    data = (f"sealed instance {i} " * (7 + i)).encode()
    return hashlib.sha256(data).hexdigest(), data


def test_staged_blobs_read_at_once_and_survive_compaction(tmp_path):
    store = PackedStore(tmp_path / "blobs")
    blobs = [_blob(i) for i in range(5)]
    for name, data in blobs:
        store.stage(name, data)
    store.sync()
    assert [store.get(n) for n, _ in blobs] == [d for _, d in blobs]
    other = PackedStore(tmp_path / "blobs")  # another process's view: finds them by scanning
    assert all(other.exists(n) for n, _ in blobs) and other.get(blobs[2][0]) == blobs[2][1]
    assert set(other.names()) == {n for n, _ in blobs}
    assert store.compact() == 5
    assert list((tmp_path / "blobs" / "packs").glob("*.pack")) == []
    assert [other.get(n) for n, _ in blobs] == [d for _, d in blobs]  # from the files now
    assert set(store.names()) == {n for n, _ in blobs}


def test_a_segment_cut_short_at_any_byte_gives_up_only_its_whole_records(tmp_path):
    store = PackedStore(tmp_path / "source")
    blobs = [_blob(i) for i in range(3)]
    for name, data in blobs:
        store.stage(name, data)
    store.sync()
    (segment,) = (tmp_path / "source" / "packs").glob("*.pack")
    full = segment.read_bytes()
    ends = [full.index(data) + len(data) for _, data in blobs]
    for cut in range(len(full) + 1):
        root = tmp_path / f"cut{cut}"
        (root / "packs").mkdir(parents=True)
        (root / "packs" / segment.name).write_bytes(full[:cut])
        crashed = PackedStore(root)
        whole = [b for b, end in zip(blobs, ends) if end <= cut]
        assert sorted(crashed.names()) == sorted(n for n, _ in whole), cut
        for name, data in blobs:
            if (name, data) in whole:
                assert crashed.get(name) == data
            else:
                with pytest.raises(NotFound):
                    crashed.get(name)
        if cut in ends or cut % 23 == 0:  # (each compaction costs a syncfs)
            assert crashed.compact() == len(whole)  # recovery: the whole records become files
            assert sorted(crashed.names()) == sorted(n for n, _ in whole)
        shutil.rmtree(root)


def test_a_damaged_record_is_refused_with_everything_after_it(tmp_path):
    store = PackedStore(tmp_path / "blobs")
    blobs = [_blob(i) for i in range(3)]
    for name, data in blobs:
        store.stage(name, data)
    store.sync()
    (segment,) = (tmp_path / "blobs" / "packs").glob("*.pack")
    raw = bytearray(segment.read_bytes())
    raw[raw.index(blobs[1][1]) + 3] ^= 0xFF  # a flipped bit inside the second blob
    segment.write_bytes(bytes(raw))
    reader = PackedStore(tmp_path / "blobs")
    assert reader.get(blobs[0][0]) == blobs[0][1]
    for name, _ in blobs[1:]:
        with pytest.raises(NotFound):
            reader.get(name)


def test_compaction_leaves_a_segment_another_process_appends_to(tmp_path):
    writer = PackedStore(tmp_path / "blobs")
    name, data = _blob(1)
    writer.stage(name, data)
    writer.sync()
    (segment,) = (tmp_path / "blobs" / "packs").glob("*.pack")
    other = PackedStore(tmp_path / "blobs")
    assert other.compact() == 0 and segment.exists()  # the writer holds its flock
    assert other.get(name) == data
    fd = os.open(segment, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert writer.compact() == 1 and not segment.exists()


def test_r79_a_deleted_packed_blob_does_not_come_back_with_compaction(tmp_path):
    store = PackedStore(tmp_path / "blobs")
    (gone, data), (kept, other) = _blob(1), _blob(2)
    store.stage(gone, data)
    store.stage(kept, other)
    store.sync()
    store.delete(gone)
    store.compact()
    assert not store.exists(gone) and not PackedStore(tmp_path / "blobs").exists(gone)
    assert store.get(kept) == other
