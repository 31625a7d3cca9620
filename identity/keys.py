"""Key material: generating key pairs, sealing them, signing JWTs and publishing the JWK set.

The JOSE work is joserfc's (the library Authlib builds on); this module only decides which
key, which algorithm and which header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from identity.models import KeyAlgorithm, SigningKey
from identity.sealing import seal, unseal

# The algorithms JOSE recommends (RFC 7518); Ed25519 is left until verifiers agree on its name.
PrivateKey = RSAKey | ECKey


def generate(algorithm: str) -> tuple[str, dict[str, Any], str]:
    """A new key pair: its key id (the RFC 7638 thumbprint), the public JWK and the sealed
    private key (PEM)."""
    key: PrivateKey
    if algorithm == KeyAlgorithm.RS256:
        key = RSAKey.generate_key(2048)
    elif algorithm == KeyAlgorithm.ES256:
        key = ECKey.generate_key("P-256")
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": algorithm, "use": "sig"}
    return kid, public, seal(key.as_pem(private=True).decode())


def private_key(signing_key: SigningKey) -> PrivateKey:
    pem = unseal(signing_key.private_key_sealed).encode()
    if signing_key.algorithm == KeyAlgorithm.ES256:
        return ECKey.import_key(pem)
    return RSAKey.import_key(pem)


def sign_jwt(
    signing_key: SigningKey,
    claims: Mapping[str, Any],
    *,
    header: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS of ``claims`` signed by the key, its ``kid`` and ``alg`` in the header."""
    if signing_key.retired_at is not None:
        raise ValueError("a retired key signs nothing more: rotate_signing_key made a new one")
    full_header = {"typ": "JWT", **(header or {})}
    full_header.update(alg=signing_key.algorithm, kid=signing_key.kid)
    return jwt.encode(full_header, dict(claims), private_key(signing_key))


def key_set(keys: Iterable[SigningKey]) -> dict[str, list[dict[str, Any]]]:
    """The JWK set (RFC 7517) of these keys' public halves."""
    return {"keys": [dict(key.public_jwk) for key in keys]}
