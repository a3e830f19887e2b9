"""The spool file itself: its cap counts what waits (not the file's size), stored frames are
reclaimed, its directory must be the server user's own, and reading a file never runs code
(JSON frames, not pickle): damaged or foreign bytes are skipped and counted."""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from pathlib import Path

import pytest

from ivr.journal import spool_frames
from ivr.journal.records import JournalRecord, RecordKind, Row, as_row
from ivr.journal.spool import Spool, SpoolFull, UnsafeSpoolDir, url_key
from tests.journal.test_faults import calls

URL = "sqlite:///journal.db"


def batch(n: int, tag: str = "s") -> list[Row]:
    records: list[JournalRecord] = [r for call in calls(n, 1, tag) for r in call]
    return [as_row(r) for r in records]


def test_a_spool_that_never_empties_takes_far_more_than_its_cap(tmp_path: Path) -> None:
    """Steady traffic behind a store that keeps up but never lets the spool empty: the cap
    counts what waits, so nothing is refused, and the file is rewritten instead of growing
    (it used to count the file's size and drop everything once the file reached the cap)."""
    one = max(len(spool_frames.encode(batch(n))) for n in range(200))
    spool = Spool.open(tmp_path / "spool", URL, max_bytes=one * 4)
    written = 0
    for n in range(200):
        spool.append([batch(n)])  # raised SpoolFull once the file reached the cap
        written += len(spool_frames.encode(batch(n)))
        if len(spool.oldest(10_000)) == 2:  # the store took the oldest, one more came meanwhile
            spool.consume(1)
    assert written > 40 * spool.max_bytes
    assert spool.file_size() <= 2 * spool.max_bytes
    assert spool.compactions > 0
    (waiting,) = spool.oldest(10_000)
    assert waiting == batch(199)
    assert spool.bytes == len(spool_frames.encode(waiting))
    spool.close()


def test_the_cap_refuses_what_would_wait_over_it(tmp_path: Path) -> None:
    one = len(spool_frames.encode(batch(0)))
    spool = Spool.open(tmp_path / "spool", URL, max_bytes=one * 2)
    spool.append([batch(0)])
    spool.append([batch(1)])
    with pytest.raises(SpoolFull):
        spool.append([batch(2)])
    spool.consume(1)
    spool.append([batch(2)])  # room again once the oldest is stored
    assert spool.records == len(batch(1)) + len(batch(2))
    spool.close()


def test_rows_come_back_as_they_went(tmp_path: Path) -> None:
    rows = batch(0)
    rows.append(
        (
            "c-odd",
            99,
            1.5,
            RecordKind.INPUT,
            "f",
            "v",
            "line",
            None,
            None,
            None,
            None,
            {"k": object()},
        )
    )
    spool = Spool.open(tmp_path / "spool", URL)
    spool.append([rows])
    (back,) = spool.oldest(10_000)
    assert back[:-1] == rows[:-1]
    assert back[-1][-1]["k"].startswith("<object")  # as the store would keep it: its text
    assert isinstance(back[0][3], RecordKind)
    spool.close()


def _dead_worker_file(directory: Path, data: bytes) -> Path:
    path = directory / f"{url_key(URL)}-99999-deadbeef.spool"
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_a_torn_tail_and_a_flipped_byte_are_skipped_and_counted(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    frames = [spool_frames.encode(batch(n)) for n in range(3)]
    damaged = bytearray(frames[1])
    damaged[len(damaged) // 2] ^= 0xFF
    torn = frames[2][: len(frames[2]) // 2]
    _dead_worker_file(directory, frames[0] + bytes(damaged) + frames[2] + torn)
    spool = Spool.open(directory, URL)
    assert spool.adopted == len(batch(0)) + len(batch(2))
    assert spool.damaged_bytes == len(damaged) + len(torn)
    assert [rows[0][0] for rows in spool.oldest(10_000)] == [batch(0)[0][0], batch(2)[0][0]]
    spool.close()


class _Marker:
    """Unpickling this creates a file: what a planted pickle could do, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_a_planted_pickle_is_never_unpickled(tmp_path: Path) -> None:
    """A file in the old pickled format (or anyone's pickle) is damaged bytes, not records:
    reading it runs nothing."""
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    marker = tmp_path / "ran"
    payload = pickle.dumps([_Marker(marker)])
    old_frame = struct.pack("!III", len(payload), zlib.crc32(payload), 1) + payload
    _dead_worker_file(directory, old_frame)
    spool = Spool.open(directory, URL)
    assert spool.oldest(10_000) == []
    assert spool.damaged_bytes == len(old_frame)
    assert not marker.exists()
    spool.close()


def test_rows_of_the_wrong_shape_are_damaged(tmp_path: Path) -> None:
    """A frame with a valid checksum but rows that are not journal rows is skipped too."""
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    good = spool_frames.encode(batch(0))
    payload = b'[["x", "not a seq"]]'
    head = spool_frames.HEAD.pack(
        spool_frames.MARK,
        len(payload),
        1,
        zlib.crc32(payload, zlib.crc32(struct.pack("!II", len(payload), 1))),
    )
    _dead_worker_file(directory, head + payload + good)
    spool = Spool.open(directory, URL)
    assert spool.adopted == len(batch(0))
    assert spool.damaged_bytes == len(head) + len(payload)
    spool.close()


def test_the_directory_is_created_private(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "new" / "spool", URL)
    assert (tmp_path / "new" / "spool").stat().st_mode & 0o777 == 0o700
    spool.close()


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    directory.chmod(0o777)
    _dead_worker_file(directory, spool_frames.encode(batch(0)))
    with pytest.raises(UnsafeSpoolDir, match="writable by others"):
        Spool.open(directory, URL)


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    if os.geteuid() == 0:
        directory.mkdir(mode=0o700)
        os.chown(directory, 65534, 65534)
    else:
        directory = Path("/usr")  # root's, writable by no one else
    with pytest.raises(UnsafeSpoolDir, match="belongs to user"):
        Spool.open(directory, URL)


def test_a_file_of_another_user_is_not_adopted(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    path = _dead_worker_file(directory, spool_frames.encode(batch(0)))
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    else:
        path.unlink()
        path.symlink_to(tmp_path / "elsewhere")
    spool = Spool.open(directory, URL)
    assert spool.adopted == 0
    spool.close()
