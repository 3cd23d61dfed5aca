"""Zalo's webhook signature and the optional ``appsecret_proof`` header."""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = "mac="


def webhook_signature(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """Hex SHA-256 (a plain hash, not an HMAC) of app_id + body + timestamp + OA secret key."""
    digest = hashlib.sha256()
    digest.update(app_id.encode())
    digest.update(raw_body)
    digest.update(timestamp.encode())
    digest.update(oa_secret_key.encode())
    return digest.hexdigest()


def verify_webhook_signature(
    header_value: str | None, app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str
) -> bool:
    """Check an ``X-ZEvent-Signature`` value, with or without its ``mac=`` prefix."""
    if not header_value:
        return False
    given = header_value.strip()
    if given[: len(_PREFIX)].lower() == _PREFIX:
        given = given[len(_PREFIX) :]
    expected = webhook_signature(app_id, raw_body, timestamp, oa_secret_key)
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """Hex HMAC-SHA256 of the access token under the app secret."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
