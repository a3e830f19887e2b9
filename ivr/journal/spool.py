"""The journal worker's spool: batches the store cannot take, kept on local disk until it can.

One append-only file per worker process. Each batch is one frame (payload length, CRC-32 and
record count, then the pickled rows) written and fsync'd before the batch is acknowledged as
spooled, so what the engine forgets is on disk. Frames are replayed oldest first, batch by batch
(the same batches as sent: the store's chunks follow batch boundaries, so a batch stored twice
gives chunks it already has, which replay ignores), and the file is emptied once all of it is
stored. The spool is capped (`max_bytes`, the file's size): a batch that would go over is
refused and the worker counts it as dropped.

The worker holds an exclusive `flock` on its file. A worker that dies (kill -9, SIGBUS) releases
it; the next worker for the same journal URL adopts every unlocked file of that URL: it copies
their intact frames (a torn last frame was never acknowledged, so the engine sent it again) into
its own file, in front of anything new, then deletes them. Only the worker's own engine reads
these files, so unpickling them is safe (as for the pipe, see `ivr.journal.wire`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import struct
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from ivr.journal.records import Row

DEFAULT_MAX_BYTES = 256 * 2**20  # ~6 million records at ~45 bytes each
FRAME = struct.Struct("!III")  # payload length, CRC-32 of the payload, record count


class SpoolFull(Exception):
    """The batch would take the spool over its size cap: it is not written."""


def url_key(url: str) -> str:
    """The file-name prefix of a journal URL's spools (the URL itself may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _frames(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, size, records) of each intact frame from the start; stops at the first bad one."""
    out, at = [], 0
    while at + FRAME.size <= len(data):
        length, crc, records = FRAME.unpack_from(data, at)
        end = at + FRAME.size + length
        if end > len(data) or zlib.crc32(data[at + FRAME.size : end]) != crc:
            break
        out.append((at, end - at, records))
        at = end
    return out


class Spool:
    def __init__(self, path: Path, fd: int, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._fd = fd
        self._index: deque[tuple[int, int, int]] = deque()  # frames not yet stored
        self._end = 0  # the file's size: frames already stored stay until it is emptied
        self.records = 0  # records waiting in the spool
        self.bytes = 0  # their frames' bytes
        self.adopted = 0  # records taken over from dead workers' spools on open

    @classmethod
    def open(cls, directory: Path, url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Spool:
        """This worker's spool in `directory` (created), having adopted dead workers' spools."""
        directory.mkdir(parents=True, exist_ok=True)
        key = url_key(url)
        path = directory / f"{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}.spool"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        spool = cls(path, fd, max_bytes)
        spool.adopted = spool._adopt(directory, key)
        return spool

    def _adopt(self, directory: Path, key: str) -> int:
        """Take over the frames of this URL's spools that no live worker holds; records taken."""
        taken = 0
        others = [p for p in directory.glob(f"{key}-*.spool") if p != self.path]
        for other in sorted(others, key=_mtime):
            try:
                fd = os.open(other, os.O_RDWR)
            except FileNotFoundError:
                continue  # adopted by another worker meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live worker's
                data = _read_all(fd)
                frames = _frames(data)
                if frames:
                    valid = frames[-1][0] + frames[-1][1]
                    self._append_bytes(data[:valid], [(o, s, r) for o, s, r in frames])
                    taken += sum(r for _, _, r in frames)
                other.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return taken

    def append(self, batches: Sequence[Sequence[Row]]) -> None:
        """Write each batch as a frame and fsync; SpoolFull (nothing written) over the cap,
        OSError if the disk refuses (nothing kept either)."""
        payloads = [pickle.dumps(list(rows), protocol=pickle.HIGHEST_PROTOCOL) for rows in batches]
        frames, data, at = [], bytearray(), 0
        for rows, payload in zip(batches, payloads, strict=True):
            head = FRAME.pack(len(payload), zlib.crc32(payload), len(rows))
            data += head
            data += payload
            frames.append((at, len(head) + len(payload), len(rows)))
            at += len(head) + len(payload)
        if self._end + len(data) > self.max_bytes:
            raise SpoolFull(f"{self._end + len(data)} bytes would exceed {self.max_bytes}")
        self._append_bytes(bytes(data), frames)

    def _append_bytes(self, data: bytes, frames: list[tuple[int, int, int]]) -> None:
        base = self._end
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, base)  # no torn frame left behind
            raise
        self._end = base + len(data)
        for offset, size, records in frames:
            self._index.append((base + offset, size, records))
            self.records += records
            self.bytes += size

    def oldest(self, max_records: int) -> list[list[Row]]:
        """The oldest spooled batches, as many as fit in `max_records` (at least one)."""
        batches: list[list[Row]] = []
        count = 0
        for offset, size, records in self._index:
            if batches and count + records > max_records:
                break
            frame = os.pread(self._fd, size, offset)
            batches.append(pickle.loads(frame[FRAME.size :]))
            count += records
        return batches

    def consume(self, n: int) -> int:
        """The `n` oldest batches are stored: forget them (emptying the file when it is all
        stored). Records consumed."""
        records = 0
        for _ in range(n):
            _, size, count = self._index.popleft()
            records += count
            self.bytes -= size
        self.records -= records
        if not self._index:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self._end = 0
        return records

    def close(self) -> None:
        """Release the file: deleted when empty, else left for the next worker to adopt."""
        if not self._index:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


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
