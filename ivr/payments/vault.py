"""Card digits between two webhooks of a call: sealed into the call's state, opened on the next.

A payment step takes several webhooks (card number, expiry, CVV, postcode); the session store
holds the call's state in between, so what was keyed in so far is kept there only as AES-GCM
ciphertext (ivr.callbacks.crypto.SecretBox under `IVR_PAYMENT_KEYS`), bound to the call and
the step: copied onto another call or step it does not open. It is dropped from the state as
soon as the processor has answered.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from ivr.callbacks.crypto import Sealed, SecretBox, SecretUnreadable


@dataclass(slots=True)
class CardEntry:
    """The fields keyed in so far; only in memory while one webhook is handled."""

    pan: str = field(default="", repr=False)
    expiry: str = field(default="", repr=False)
    cvv: str = field(default="", repr=False)
    postcode: str = field(default="", repr=False)


class EntryUnreadable(Exception):
    """The sealed entry does not open (key rotated away, tampered, moved): the payment fails."""


class PaymentVault:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def seal(self, entry: CardEntry, call_id: str, step: str) -> dict[str, str]:
        """Plain data for the call's state: the key id and the ciphertext (base64)."""
        text = json.dumps([entry.pan, entry.expiry, entry.cvv, entry.postcode])
        sealed = self.box.seal(text, _binding(call_id, step))
        return {"k": sealed.key_id, "b": base64.b64encode(sealed.blob).decode()}

    def open(self, data: dict[str, str] | None, call_id: str, step: str) -> CardEntry:
        """What `seal` stored; an empty entry when nothing was sealed yet."""
        if not data:
            return CardEntry()
        try:
            sealed = Sealed(data["k"], base64.b64decode(data["b"], validate=True))
            pan, expiry, cvv, postcode = json.loads(self.box.open(sealed, _binding(call_id, step)))
        except (SecretUnreadable, KeyError, ValueError, TypeError):
            raise EntryUnreadable("the sealed card entry does not open") from None
        return CardEntry(pan, expiry, cvv, postcode)


def _binding(call_id: str, step: str) -> str:
    return f"payment:{call_id}:{step}"
