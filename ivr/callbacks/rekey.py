"""Resealing every callback secret under the newest key of IVR_CALLBACK_KEYS (key rotation).

Rows are resealed one at a time with a compare-and-set on the key they were sealed with, in
batches by id, so the run can be stopped and started again (what is done stays done, a second
run finds nothing to do) and live traffic sealing or deleting secrets meanwhile is never
overwritten. A secret whose key is no longer configured cannot be opened: it is counted and
named by its row (never its content) and left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.callbacks.crypto import Sealed, SecretBox, SecretUnreadable
from ivr.callbacks.db import Database

BATCH = 500


@dataclass
class Rekeyed:
    """What a run did, for the operator (counts and row names only)."""

    key_id: str
    callbacks: int = 0
    standing: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # callback ids, standing:<customer>


# (table, key column, how a row's associated data is made from its key)
_TABLES = (
    ("callbacks", "id", ""),
    ("standing_secrets", "customer_id", "standing:"),
)


async def rekey(db: Database, box: SecretBox) -> Rekeyed:
    """Reseal every stored secret not under `box`'s newest key."""
    done = Rekeyed(box.current)
    for table, column, prefix in _TABLES:
        after = ""
        while True:
            rows = await db.fetch(
                f"SELECT {column}, secret_kid, secret_ct FROM {table}"
                f" WHERE secret_kid IS NOT NULL AND secret_kid <> :k AND {column} > :after"
                f" ORDER BY {column} LIMIT {BATCH}",
                {"k": box.current, "after": after},
            )
            for row_key, kid, blob in rows:
                bound = prefix + row_key
                try:
                    secret = box.open(Sealed(kid, bytes(blob)), bound)
                except SecretUnreadable:
                    done.unreadable.append(bound)
                    continue
                sealed = box.seal(secret, bound)
                changed = await db.execute(
                    f"UPDATE {table} SET secret_kid = :k, secret_ct = :b"
                    f" WHERE {column} = :key AND secret_kid = :old",
                    {"k": sealed.key_id, "b": sealed.blob, "key": row_key, "old": kid},
                )
                if table == "callbacks":
                    done.callbacks += changed
                else:
                    done.standing += changed
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
        current = await db.fetch(
            f"SELECT COUNT(*) FROM {table} WHERE secret_kid = :k", {"k": box.current}
        )
        done.already_current += int(current[0][0])
    done.already_current -= done.callbacks + done.standing
    return done
