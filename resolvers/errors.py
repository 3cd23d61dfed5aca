"""Domain errors, framework-free. ``gql`` and ``legacy_rest`` each render them once.

DomainError
├── BadInput          BAD_USER_INPUT (a field, an item, or a parameter is wrong)
├── Unauthenticated   UNAUTHENTICATED
├── Forbidden         FORBIDDEN
├── NotFound          NOT_FOUND
├── Conflict          CONFLICT
└── UpstreamZalo      ZALO_ERROR (with Zalo's error number and message)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One thing wrong with the input: which item (0-based), which field, and why."""

    message: str
    field: str | None = None
    index: int | None = None
    code: str = "BAD_USER_INPUT"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "index": self.index,
        }


@dataclass
class DomainError(Exception):
    message: str
    problems: list[Problem] = field(default_factory=list)
    code: str = "INTERNAL"
    extensions: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class BadInput(DomainError):
    def __init__(
        self,
        message: str,
        field: str | None = None,
        index: int | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        probs = problems if problems is not None else [Problem(message, field, index)]
        super().__init__(message, probs, "BAD_USER_INPUT")


class Unauthenticated(DomainError):
    def __init__(self, message: str = "a valid API token is required") -> None:
        super().__init__(message, [], "UNAUTHENTICATED")


class Forbidden(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], "FORBIDDEN")


class NotFound(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, [Problem(message, field, None, "NOT_FOUND")], "NOT_FOUND")


class Conflict(DomainError):
    def __init__(
        self, message: str, field: str | None = None, problems: list[Problem] | None = None
    ) -> None:
        probs = problems if problems is not None else [Problem(message, field, None, "CONFLICT")]
        super().__init__(message, probs, "CONFLICT")


class UpstreamZalo(DomainError):
    def __init__(self, message: str, zalo_error: int) -> None:
        super().__init__(
            message, [], "ZALO_ERROR", {"zaloError": zalo_error, "zaloMessage": message}
        )
