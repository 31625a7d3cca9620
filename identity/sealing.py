"""Secrets kept in the database are sealed (encrypted and authenticated) with a key of ours.

Private signing keys and client secrets typed on the operator page are stored as Fernet tokens
(AES-128-CBC + HMAC-SHA256, from ``cryptography``). The sealing key is derived with HKDF from
``IDENTITY_SEALING_KEY`` when set, otherwise from ``SECRET_KEY``; the keys in
``SECRET_KEY_FALLBACKS`` still open what they sealed, so a secret key can be rotated without
losing the stored keys (re-seal them with ``manage.py signing_keys reseal``).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"mastery.identity.sealed.v1"


class SealError(Exception):
    """A sealed value could not be opened (sealed under a key we no longer have, or altered)."""


def _fernet(secret: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    primary = getattr(settings, "IDENTITY_SEALING_KEY", "") or settings.SECRET_KEY
    older = [key for key in getattr(settings, "SECRET_KEY_FALLBACKS", []) if key]
    return MultiFernet([_fernet(primary), *(_fernet(key) for key in older)])


def seal(value: str) -> str:
    """The value encrypted and authenticated under the current sealing key."""
    return _keys().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    """The value a :func:`seal` token holds; :class:`SealError` when it cannot be opened."""
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SealError("a sealed secret could not be opened with the current keys") from error


def reseal(token: str) -> str:
    """The same value sealed again under the current key (after a key rotation)."""
    return seal(unseal(token))
