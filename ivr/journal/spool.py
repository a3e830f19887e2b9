"""The journal worker's spool: batches the store cannot take, kept on local disk until it can.

One append-only file per worker process. Each batch is one frame (`ivr.journal.spool_frames`:
JSON rows behind a marker, length, record count and checksum) written and fsync'd before the
batch is acknowledged as spooled, so what the engine forgets is on disk. Frames are replayed
oldest first, batch by batch (the same batches as sent: the store's chunks follow batch
boundaries, so a batch stored twice gives chunks it already has, which replay ignores).

The cap (`max_bytes`) counts the bytes still waiting to be stored, not the file's size: a batch
that would take them over it is refused and the worker counts it as dropped. Frames already
stored are reclaimed as replay goes: the file is emptied when all of it is stored, and
rewritten with only what still waits (`_compact`) once what was stored outweighs it, so a
spool that never quite empties under steady traffic neither grows without end nor drops.

The worker holds an exclusive `flock` on its file. A worker that dies (kill -9, SIGBUS) releases
it; the next worker for the same journal URL adopts every unlocked file of that URL: it copies
their intact frames (a torn last frame was never acknowledged, so the engine sent it again) into
its own file, in front of anything new, then deletes them. Damaged bytes are skipped and counted
(`damaged_bytes`). The directory must belong to the server's user and be writable by no one
else (it is created 0700): anything written there is replayed into the journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from ivr.journal import spool_frames
from ivr.journal.records import Row
from ivr.journal.spool_frames import Frame

DEFAULT_MAX_BYTES = 256 * 2**20
COMPACT_MIN_BYTES = 4 * 2**20  # stored bytes worth a rewrite (or the cap, when smaller)
_COPY_BYTES = 1 << 20


class SpoolFull(Exception):
    """The batch would take the spool's waiting bytes over its cap: it is not written."""


class UnsafeSpoolDir(OSError):
    """The spool directory is not the server user's own: its files are not to be trusted."""


def url_key(url: str) -> str:
    """The file-name prefix of a journal URL's spools (the URL itself may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def check_directory(directory: Path) -> None:
    """Create `directory` (0700) if missing; UnsafeSpoolDir unless it is a real directory owned
    by this process's user and writable by nobody else."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeSpoolDir(f"{directory} is not a directory (a symbolic link?)")
    if info.st_uid != os.geteuid():
        raise UnsafeSpoolDir(f"{directory} belongs to user {info.st_uid}, not to this server")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeSpoolDir(f"{directory} is writable by others (mode {info.st_mode & 0o777:o})")


def _own_file(fd: int) -> bool:
    info = os.fstat(fd)
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


class Spool:
    def __init__(self, path: Path, fd: int, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._fd = fd
        self._index: deque[Frame] = deque()  # frames not yet stored, oldest first
        self._end = 0  # the file's size
        self.records = 0  # records waiting in the spool
        self.bytes = 0  # their frames' bytes: what the cap counts
        self.adopted = 0  # records taken over from dead workers' spools on open
        self.damaged_bytes = 0  # bytes of damaged frames skipped (the worker reports, resets)
        self.compactions = 0

    @classmethod
    def open(cls, directory: Path, url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Spool:
        """This worker's spool in `directory` (checked, created), having adopted dead workers'
        spools."""
        check_directory(directory)
        key = url_key(url)
        path = directory / f"{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}.spool"
        fd = _create_locked(path)
        spool = cls(path, fd, max_bytes)
        spool.adopted = spool._adopt(directory, key)
        return spool

    def _adopt(self, directory: Path, key: str) -> int:
        """Take over the frames of this URL's spools that no live worker holds; records taken."""
        taken = 0
        others = [p for p in directory.glob(f"{key}-*.spool") if p != self.path]
        for other in sorted(others, key=_mtime):
            with _dead_file(other) as data:
                if data is None:
                    continue
                frames, damaged = spool_frames.scan(data)
                self.damaged_bytes += damaged
                for frame in frames:
                    chunk = data[frame.offset : frame.offset + frame.size]
                    self._append_bytes(chunk, [Frame(0, frame.size, frame.records)])
                    taken += frame.records
                other.unlink(missing_ok=True)  # while locked: no other worker takes it too
        for stale in directory.glob(f"{key}-*.compact"):  # a rewrite a dead worker never finished
            with _dead_file(stale) as data:
                if data is not None:
                    stale.unlink(missing_ok=True)
        return taken

    def append(self, batches: Sequence[Sequence[Row]]) -> None:
        """Write each batch as a frame and fsync; SpoolFull (nothing written) over the cap,
        OSError if the disk refuses (nothing kept either)."""
        data, frames = bytearray(), []
        for rows in batches:
            frame = spool_frames.encode(rows)
            frames.append(Frame(len(data), len(frame), len(rows)))
            data += frame
        if self.bytes + len(data) > self.max_bytes:
            raise SpoolFull(f"{self.bytes + len(data)} waiting bytes would exceed {self.max_bytes}")
        self._append_bytes(bytes(data), frames)

    def _append_bytes(self, data: bytes, frames: list[Frame]) -> None:
        base = self._end
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, base)  # no torn frame left behind
            raise
        self._end = base + len(data)
        for frame in frames:
            self._index.append(Frame(base + frame.offset, frame.size, frame.records))
            self.records += frame.records
            self.bytes += frame.size

    def oldest(self, max_records: int) -> list[list[Row]]:
        """The oldest spooled batches, as many as fit in `max_records` (at least one)."""
        batches: list[list[Row]] = []
        count = 0
        for frame in self._index:
            if batches and count + frame.records > max_records:
                break
            batches.append(spool_frames.decode(os.pread(self._fd, frame.size, frame.offset)))
            count += frame.records
        return batches

    def consume(self, n: int) -> int:
        """The `n` oldest batches are stored: forget them, emptying the file when it is all
        stored or compacting it when the stored part outweighs the rest. Records consumed."""
        records = 0
        for _ in range(n):
            frame = self._index.popleft()
            records += frame.records
            self.bytes -= frame.size
        self.records -= records
        if not self._index:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self._end = 0
        elif self._index[0].offset >= max(self.bytes, min(COMPACT_MIN_BYTES, self.max_bytes)):
            self._compact()
        return records

    def _compact(self) -> None:
        """Rewrite the file with only the frames still waiting: written to a locked temporary
        file, fsync'd, then renamed over this one, so a crash leaves either file whole."""
        start = self._index[0].offset
        temp = self.path.with_suffix(".compact")
        fd = _create_locked(temp)
        try:
            offset = start
            while offset < self._end:
                chunk = os.pread(self._fd, min(_COPY_BYTES, self._end - offset), offset)
                _write_all(fd, chunk)
                offset += len(chunk)
            os.fsync(fd)
            os.replace(temp, self.path)
        except OSError:
            os.close(fd)
            temp.unlink(missing_ok=True)
            return  # keep the larger file: nothing is lost, the cap counts waiting bytes
        _fsync_directory(self.path.parent)
        os.close(self._fd)
        self._fd = fd
        self._index = deque(Frame(f.offset - start, f.size, f.records) for f in self._index)
        self._end -= start
        self.compactions += 1

    def file_size(self) -> int:
        return self._end

    def close(self) -> None:
        """Release the file: deleted when empty, else left for the next worker to adopt."""
        if not self._index:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


def _create_locked(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)  # a leftover of the same name (a dead worker's rewrite) starts empty
    except OSError:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _dead_file(path: Path) -> Iterator[bytes | None]:
    """The contents of a spool file no live worker holds, locked for the `with` block (None if
    a live worker holds it, or if it is not a regular file of this user)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        yield None  # adopted by another worker meanwhile, or a symbolic link
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None  # a live worker's
            return
        if not _own_file(fd) or os.fstat(fd).st_ino != _inode(path):
            yield None  # not ours to trust, or replaced by a rewrite since it was opened
            return
        yield _read_all(fd)
    finally:
        os.close(fd)


def _inode(path: Path) -> int:
    try:
        return os.lstat(path).st_ino
    except FileNotFoundError:
        return -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
