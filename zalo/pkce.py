"""PKCE values for Zalo's OAuth v4 (S256 is implicit: Zalo takes no ``code_challenge_method``)."""

from __future__ import annotations

import base64
import hashlib
import secrets


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    """32 random bytes, base64url without padding: 43 characters."""
    return _b64url(secrets.token_bytes(32))


def challenge(verifier: str) -> str:
    """base64url-nopad of the raw SHA-256 digest of the ASCII verifier."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    """An unguessable one-time ``state`` value for the permission URL."""
    return secrets.token_urlsafe(24)
