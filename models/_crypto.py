"""Encryption of secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key ring holds the current key first; older keys still decrypt during a rotation.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_ring: MultiFernet | None = None


class SecretKeyError(RuntimeError):
    pass


def configure(*keys: str) -> None:
    global _ring
    if not keys:
        raise SecretKeyError("at least one secret key is needed")
    try:
        _ring = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError as exc:
        raise SecretKeyError(
            "ZALO_OA_SECRET_KEY must be a urlsafe base64 32-byte key "
            "(zalo-oa keys generate prints one)"
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _current() -> MultiFernet:
    if _ring is None:
        raise SecretKeyError("secret key not configured")
    return _ring


def encrypt(plain: str) -> str:
    return _current().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretKeyError("a stored secret cannot be decrypted with the configured key") from exc


def rotate(token: str) -> str:
    return _current().rotate(token.encode()).decode()


def mask(plain: str | None) -> str | None:
    """The masked tail every API returns instead of a secret."""
    if plain is None:
        return None
    return "****" + plain[-4:] if len(plain) > 8 else "****"
