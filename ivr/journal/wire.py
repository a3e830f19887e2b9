"""Journal batches on the pipe between the engine process and its journal worker.

Each batch travels as one frame: an 8-byte header (batch id, payload length) and a pickle of
plain tuples. Building a tuple per record and pickling a list of tuples is C work almost
entirely, so the engine's process is spared the scrubbing, folding and binding that the worker
does (`python -m bench.journal_overhead` prints what the engine still pays). Only the engine's
own worker reads these frames, so unpickling them is safe. Acknowledgements come back as short
text lines (see `Ack`).
"""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ivr.journal.records import DATA, JournalRecord, Row, as_row, data_json

HEADER = struct.Struct("!II")  # batch id, payload length
READY = b"ready\n"  # the worker's first line, once it has tried to open the store


def _json_safe(r: JournalRecord) -> Row:
    """A record whose data pickle refused, with its data as the store would keep it (JSON)."""
    return (*as_row(r)[:DATA], json.loads(data_json(r.data) or "{}"))


def encode_batch(batch_id: int, records: Sequence[JournalRecord]) -> bytes:
    """One frame: header and pickled rows (the kinds pickle once per batch, then by reference)."""
    try:
        payload = pickle.dumps(list(map(as_row, records)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an odd object in some record's data: store it as its JSON text would be
        payload = pickle.dumps([_json_safe(r) for r in records], protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(batch_id, len(payload)) + payload


def decode_batch(payload: bytes) -> list[Row]:
    """The rows of a frame, as `JournalStore.append_rows` takes them (no record objects built)."""
    rows: list[Row] = pickle.loads(payload)
    return rows


def decode_records(payload: bytes) -> list[JournalRecord]:
    """The records of a frame (tests and tools)."""
    return [JournalRecord(*row) for row in decode_batch(payload)]


@dataclass(frozen=True, slots=True)
class Ack:
    """The worker's answer about one batch.

    Lines (an error name only, never record data):
    - `ok <id> <records> <secret keys stripped> <seconds>`: stored;
    - `err <id> <ErrorName>`: the store refused it (it is spooled or retried next);
    - `spooled <id> <records>`: the store cannot take it now; it is in the worker's spool,
      fsync'd, and will be stored from there (the engine may forget it);
    - `dropped <id> <records>`: the store cannot take it and the spool is full: lost, counted;
    - `replayed 0 <records> <secret keys stripped> <seconds>`: spooled records now stored.
    """

    batch_id: int
    ok: bool
    records: int = 0
    secrets: int = 0
    seconds: float = 0.0
    error: str = ""
    kind: str = ""  # "" is what `ok` says: "ok" or "err"; else spooled, dropped, replayed

    @property
    def name(self) -> str:
        return self.kind or ("ok" if self.ok else "err")

    def encode(self) -> bytes:
        name = self.name
        if name in ("ok", "replayed"):
            text = f"{name} {self.batch_id} {self.records} {self.secrets} {self.seconds:.6f}"
        elif name == "err":
            text = f"err {self.batch_id} {self.error}"
        else:
            text = f"{name} {self.batch_id} {self.records}"
        return f"{text}\n".encode()

    @classmethod
    def decode(cls, line: bytes) -> Ack:
        parts = line.decode().split()
        name = parts[0]
        if name in ("ok", "replayed"):
            return cls(
                int(parts[1]),
                True,
                int(parts[2]),
                int(parts[3]),
                float(parts[4]),
                kind="" if name == "ok" else name,
            )
        if name in ("spooled", "dropped"):
            return cls(int(parts[1]), False, int(parts[2]), kind=name)
        return cls(int(parts[1]), False, error=parts[2] if len(parts) > 2 else "Error")


@dataclass(frozen=True, slots=True)
class Status:
    """The worker's journal state, sent whenever it changes:
    `state <ok|spooling|down> <records in the spool> <its bytes> <rebuilt or -> <damaged>`.

    `rebuilt` names what the last opening of the store had to recreate (a deleted SQLite
    file: `schema`; dropped tables: their names, comma-separated), `-` for nothing new.
    `damaged` counts the bytes of damaged spool frames skipped since the last status.
    """

    state: str
    spooled_records: int = 0
    spooled_bytes: int = 0
    rebuilt: tuple[str, ...] = ()
    damaged_bytes: int = 0

    def encode(self) -> bytes:
        rebuilt = ",".join(self.rebuilt) or "-"
        return (
            f"state {self.state} {self.spooled_records} {self.spooled_bytes} {rebuilt}"
            f" {self.damaged_bytes}\n".encode()
        )

    @classmethod
    def decode(cls, line: bytes) -> Status:
        _, state, records, size, rebuilt, damaged = line.decode().split()
        names = () if rebuilt == "-" else tuple(rebuilt.split(","))
        return cls(state, int(records), int(size), names, int(damaged))
