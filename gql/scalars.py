"""Scalars with the wire forms of SPEC §3: UTC ``Z`` datetimes, numeric decimals, JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType
from zoneinfo import ZoneInfo

import orjson
import strawberry

from resolvers.rest_form import format_datetime

_zone = ZoneInfo("Asia/Ho_Chi_Minh")


def set_timezone(name: str) -> None:
    """The zone that reads ``YYYY-MM-DD HH:MM:SS`` inputs (settings ``ZALO_OA_TIMEZONE``)."""
    global _zone
    _zone = ZoneInfo(name)


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date-time (ISO-8601 or YYYY-MM-DD HH:MM:SS)"
            ) from None
    else:
        raise ValueError("a date-time must be a string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone)
    return parsed.astimezone(UTC)


def _serialize_decimal(value: Any) -> int | float:
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def parse_json(value: Any) -> Any:
    """JSON values as they are; legacy callers send JSON inside a string, which is decoded."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


# Python types the schema speaks in; `SCALARS` tells Strawberry their GraphQL form.
DateTime = datetime
DecimalNumber = Decimal
JSON = NewType("JSON", object)

SCALARS: dict[object, Any] = {
    datetime: strawberry.scalar(
        name="DateTime",
        serialize=format_datetime,
        parse_value=parse_datetime,
        description="UTC date-time, ISO-8601 (2026-11-28T07:30:00Z); inputs may carry an "
        "offset or be 'YYYY-MM-DD HH:MM:SS' in the configured zone.",
    ),
    Decimal: strawberry.scalar(
        name="Decimal",
        serialize=_serialize_decimal,
        parse_value=parse_decimal,
        description="A decimal quantity, as a JSON number (a numeric string is accepted).",
    ),
    JSON: strawberry.scalar(
        name="JSON",
        serialize=lambda v: v,
        parse_value=parse_json,
        description="A JSON value; a string holding JSON is decoded on input.",
    ),
}
