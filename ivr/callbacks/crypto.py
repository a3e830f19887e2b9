"""Sealing secrets: AES-256-GCM with rotatable keys, each ciphertext naming its key.

A secret must be read back to the customer, so it cannot be hashed; it is encrypted with the
newest configured key and opened with whichever key sealed it (key id stored beside it). The
callback id is bound in as associated data: a ciphertext copied onto another callback does not
open. Keys come from `IVR_CALLBACK_KEYS` as `id:base64key,id:base64key` (newest first); an old
key stays listed until `ivr callbacks rekey` has resealed everything it sealed. Card digits
between two webhooks of a call are sealed the same way under their own keys
(`IVR_PAYMENT_KEYS`, ivr.payments.vault): a box names the variable its keys come from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYS_ENV = "IVR_CALLBACK_KEYS"
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class CallbackKeyError(ValueError):
    """The callback keys are missing or malformed (the message never holds key material)."""


class SecretUnreadable(Exception):
    """A sealed secret cannot be opened: its key is gone, or it was tampered with or moved."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    blob: bytes  # nonce + ciphertext + tag


class SecretBox:
    """Seals with the first (newest) key, opens with the key a ciphertext names."""

    def __init__(self, keys: list[tuple[str, bytes]], env: str = KEYS_ENV) -> None:
        what = _what(env)
        if not keys:
            raise CallbackKeyError(f"no {what} configured: set {env}")
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise CallbackKeyError(f"a {what} id must be 1-32 letters, digits, . _ or -")
            if len(key) != 32:
                raise CallbackKeyError(f"{what} {key_id!r} must be 32 bytes (AES-256)")
            if key_id in self._keys:
                raise CallbackKeyError(f"{what} id {key_id!r} is listed twice")
            self._keys[key_id] = key
        self.current = keys[0][0]
        self.env = env

    @classmethod
    def from_text(cls, text: str, env: str = KEYS_ENV) -> SecretBox:
        """`id:base64key,id:base64key`, newest first, as the variable `env` holds them."""
        keys = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise CallbackKeyError(f"{env}: each key is id:base64 (32 random bytes)")
            try:
                keys.append((key_id.strip(), base64.b64decode(encoded.strip(), validate=True)))
            except binascii.Error:
                raise CallbackKeyError(f"{env}: key {key_id.strip()!r} is not base64") from None
        return cls(keys, env)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, secret: str, bound_to: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        aead = AESGCM(self._keys[self.current])
        blob = nonce + aead.encrypt(nonce, secret.encode(), bound_to.encode())
        return Sealed(self.current, blob)

    def open(self, sealed: Sealed, bound_to: str) -> str:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise SecretUnreadable(f"{_what(self.env)} {sealed.key_id!r} is no longer configured")
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, body, bound_to.encode()).decode()
        except (InvalidTag, ValueError):
            raise SecretUnreadable("sealed secret does not open (tampered or moved)") from None

    def keyed_hash(self, data: bytes) -> str:
        """`key id:hex` of an HMAC under the current key (for idempotent bodies holding secrets)."""
        return f"{self.current}:{self._mac(self.current, data)}"

    def same_hash(self, stored: str, data: bytes) -> bool:
        key_id, _, digest = stored.partition(":")
        if key_id not in self._keys:
            return False
        return hmac.compare_digest(digest, self._mac(key_id, data))

    def _mac(self, key_id: str, data: bytes) -> str:
        derived = hmac.new(self._keys[key_id], b"ivr callback request hash", hashlib.sha256)
        return hmac.new(derived.digest(), data, hashlib.sha256).hexdigest()


def _what(env: str) -> str:
    """'IVR_PAYMENT_KEYS' -> 'payment key': how error messages name a box's keys."""
    return env.removeprefix("IVR_").removesuffix("_KEYS").lower().replace("_", " ") + " key"


def new_key_text(key_id: str) -> str:
    """A fresh `id:base64key` entry for IVR_CALLBACK_KEYS."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"
