"""Errors raised by the Zalo client.

    ZaloError                  code, message, endpoint, http_status, transient, zalo_error
     ├── ZaloAuthError         -216, -220, -124 (and 216, 401, -401): refresh the token once
     ├── ZaloRateLimited       -32 or HTTP 429; transient
     ├── ZaloTransientError    network error, timeout, HTTP 5xx, -100; transient
     ├── ZaloRequestError      any other Zalo code (-201, -210, -230, -108, ...): do not retry
     └── ZaloTokenError        the token endpoint refused, or answered nothing usable

``code`` (alias ``zalo_error``) is Zalo's own error number, or 0 when the failure carried
none (network errors, bare HTTP statuses, unreadable bodies).
"""

from __future__ import annotations

AUTH_CODES = frozenset({-216, -220, -124, 216, 401, -401})
RATE_LIMIT_CODES = frozenset({-32})
TRANSIENT_CODES = frozenset({-100})


class ZaloError(Exception):
    """A call to Zalo failed; ``transient`` says whether the same call may succeed later."""

    transient = False

    def __init__(
        self, code: int, message: str, endpoint: str, *, http_status: int | None = None
    ) -> None:
        super().__init__(f"{endpoint}: Zalo error {code}: {message}")
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status

    @property
    def zalo_error(self) -> int:
        return self.code


class ZaloAuthError(ZaloError):
    """The access token is invalid, expired or revoked."""


class ZaloRateLimited(ZaloError):
    """The app or OA went over its per-minute call limit."""

    transient = True


class ZaloTransientError(ZaloError):
    """Zalo could not be reached or failed on its side; the call may succeed later."""

    transient = True


class ZaloRequestError(ZaloError):
    """Zalo rejected the request itself; repeating it will fail the same way."""


class ZaloTokenError(ZaloError):
    """The OAuth token endpoint gave no usable token pair."""

    def __init__(
        self,
        code: int,
        message: str,
        endpoint: str,
        *,
        http_status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(code, message, endpoint, http_status=http_status)
        self.transient = transient


def error_for_code(
    code: int, message: str, endpoint: str, *, http_status: int | None = None
) -> ZaloError:
    """The exception matching a non-zero error code of Zalo's OA or ZNS envelope."""
    cls: type[ZaloError]
    if code in AUTH_CODES:
        cls = ZaloAuthError
    elif code in RATE_LIMIT_CODES:
        cls = ZaloRateLimited
    elif code in TRANSIENT_CODES:
        cls = ZaloTransientError
    else:
        cls = ZaloRequestError
    return cls(code, message, endpoint, http_status=http_status)
