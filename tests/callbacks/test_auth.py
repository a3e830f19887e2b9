"""App tokens: HS256 with the shared secret, RS256 and ES256 with a public key file; the
algorithm is never taken from the token."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ivr.callbacks.auth import AppAuth, AuthConfigError, Unauthorised


def _pem_pair(kind: str) -> tuple[bytes, bytes]:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_public_key_tokens(tmp_path: Path, algorithm: str) -> None:
    private, public = _pem_pair(algorithm)
    key_file = tmp_path / "login.pem"
    key_file.write_bytes(public)
    auth = AppAuth.build(None, key_file, audience="ivr-app", issuer="https://login.example")
    assert auth is not None
    claims = {
        "sub": "C1001",
        "name": "Alice Example",
        "exp": int(time.time()) + 60,
        "aud": "ivr-app",
        "iss": "https://login.example",
    }
    good = jwt.encode(claims, private, algorithm=algorithm)
    who = auth.identify(f"Bearer {good}")
    assert who.customer_id == "C1001"
    assert who.name == "Alice Example"
    for bad in (
        jwt.encode({**claims, "aud": "other"}, private, algorithm=algorithm),
        jwt.encode({**claims, "iss": "https://evil.example"}, private, algorithm=algorithm),
        # HS256 signed with the public key as the secret: the classic confusion attack
        jwt.encode(claims, "x" * 40, algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
    ):
        with pytest.raises(Unauthorised):
            auth.identify(f"Bearer {bad}")


def test_configuration_mistakes_are_refused(tmp_path: Path) -> None:
    assert AppAuth.build(None, None) is None
    with pytest.raises(AuthConfigError):
        AppAuth.build("short", None)
    with pytest.raises(AuthConfigError):
        AppAuth.build(None, tmp_path / "missing.pem")
    with pytest.raises(AuthConfigError):
        AppAuth.build(None, tmp_path / "k.pem", algorithms=("HS256",))
