"""A row in its REST form (SPEC §5 names and values), for event payloads sent to modules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from models._crypto import mask
from resolvers._resource import Resource


def format_datetime(value: datetime) -> str:
    """UTC ISO-8601 with ``Z`` and milliseconds when there are any (SPEC §3)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat pads the year to four digits (strftime("%Y") does not on glibc) and,
    # for "milliseconds", truncates the microseconds as the SPEC's form does. A UTC
    # value ends in "+00:00", which becomes "Z" (a third faster than a copy without tzinfo).
    if value.microsecond:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.isoformat()[:-6] + "Z"


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def rest_item(resource: Resource, row: Any) -> dict[str, Any]:
    """Every field by its REST name; secrets masked; datetimes in UTC ``Z`` form."""
    item: dict[str, Any] = {}
    for spec in resource.fields:
        value = getattr(row, spec.name, None)
        item[spec.rest] = mask(value) if spec.secret else _value(value)
    return item
