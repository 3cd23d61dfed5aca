"""REST values → the GraphQL variable values of a field's type (SPEC §3 types).

Query strings carry text only; JSON bodies carry typed values, plus the legacy forms
(booleans as 1/0/"true"/"false", JSON as a string of JSON). Both are checked here, before
GraphQL sees them, so a bad value is reported with its REST parameter or field name.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from gql.scalars import parse_datetime, parse_decimal
from resolvers._resource import FieldSpec, Kind

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # GraphQL Int, and INTEGER on PostgreSQL
DECIMAL_LIMIT = Decimal(10) ** 14  # NUMERIC(18, 4) on PostgreSQL
CODE_MAX = 64  # VARCHAR(64) on PostgreSQL
DIGITS = re.compile(r"[+-]?[0-9]+")
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
TRUE = frozenset({"1", "true"})
FALSE = frozenset({"0", "false"})


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


class BadValue(ValueError):
    """A value that does not fit its field; the message says why, without the name."""


def text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps both databases alike.
    if "\x00" in value:
        raise BadValue("text cannot contain NUL characters")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise BadValue("an integer is required, not a boolean")
    if isinstance(value, str):
        # int() would also take "1_000" and non-ASCII digits; a legacy integer is plain digits.
        digits = value.strip()
        if not DIGITS.fullmatch(digits):
            raise BadValue(f"{_show(value)} is not an integer")
        if len(digits) > 12:  # out of range anyway; int() refuses very long strings
            raise BadValue(f"{_show(value)} is out of range ({INT_MIN}..{INT_MAX})")
        value = int(digits)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise BadValue("an integer is required")
    if not INT_MIN <= value <= INT_MAX:
        raise BadValue(f"{value} is out of range ({INT_MIN}..{INT_MAX})")
    return value


def decimal(value: Any) -> str:
    if not isinstance(value, int | float | str):
        raise BadValue("a number is required")
    if isinstance(value, str) and not NUMBER.fullmatch(value.strip()):
        raise BadValue(f"{_show(value)} is not a number")
    try:
        number = parse_decimal(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    if abs(number) >= DECIMAL_LIMIT:
        raise BadValue(f"{_show(value)} is out of range (below 10^14 in size)")
    # A string keeps every digit; the GraphQL Decimal scalar reads numeric strings.
    return str(number)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in TRUE:
            return True
        if folded in FALSE:
            return False
    raise BadValue(f"{_show(value)} is not a boolean (1/0/true/false)")


def moment(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("a date-time string is required")
    try:
        # Upper case: RFC 3339 allows a lower-case "t" and "z", fromisoformat does not.
        parsed = parse_datetime(text(value).strip().upper())
    except (ValueError, OverflowError) as exc:
        raise BadValue(str(exc)) from None
    # isoformat pads the year to four digits, so the DateTime scalar reads every year back.
    return parsed.isoformat()


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("a string is required")
    return text(value)


def _json(value: Any) -> Any:
    # Stored as serialized JSON (NUL escaped), so any value is safe; the GraphQL JSON scalar
    # decodes a string holding JSON.
    return value


_QUERY = {
    Kind.STRING: text,
    Kind.JSON: text,
    Kind.INT: integer,
    Kind.DECIMAL: decimal,
    Kind.BOOL: boolean,
    Kind.DATETIME: moment,
}
_BODY = {
    Kind.STRING: _string,
    Kind.JSON: _json,
    Kind.INT: integer,
    Kind.DECIMAL: decimal,
    Kind.BOOL: boolean,
    Kind.DATETIME: moment,
}


def from_query(spec: FieldSpec, raw: str) -> Any:
    """A query-string operand, typed as the field (raises `BadValue`)."""
    return _QUERY[spec.kind](raw)


def from_body(spec: FieldSpec, value: Any) -> Any:
    """A body value, typed as the field; null stays null (raises `BadValue`)."""
    if value is None:
        return None
    typed = _BODY[spec.kind](value)
    if spec.name == "code" and len(typed) > CODE_MAX:
        raise BadValue(f"a code has at most {CODE_MAX} characters")
    return typed
