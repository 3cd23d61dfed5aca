"""`gql.inputs.fast_input`: a generated input converts to what Strawberry's own conversion
builds (equal field for field: `Some` for a given `Maybe`, ``None`` for an absent one,
nested inputs converted), while the instance holds only the fields given."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from strawberry import Some
from strawberry.types.arguments import convert_argument

from gql.schema import create_schema
from zalo_oa.settings import Settings

SCHEMA: Any = create_schema(Settings())

# (input type, a value as graphql-core hands it over after coercion)
CASES: list[tuple[str, dict[str, Any]]] = [
    ("FollowerCreate", {"code": "F1", "name": "Nguyễn Văn An", "rewardPoints": Decimal("12.5")}),
    ("FollowerCreate", {"name": None, "zaloOaCode": "OA1"}),
    ("FollowerCreate", {}),
    ("FollowerUpdate", {"code": "F1", "phone": None, "email": "an@example.vn"}),
    ("FollowerFilter", {"name": {"contains": "an"}, "OR": [{"code": {"eq": "F1"}}]}),
    ("StringFilter", {"eq": "x", "in": ["a", "b"]}),
    ("FollowerOrderBy", {"name": "ASC"}),
]


def _strawberry(cls: Any, value: dict[str, Any]) -> Any:
    """``value`` converted by Strawberry's own code (this type's hook set aside)."""
    definition = cls.__strawberry_definition__
    hook, definition.from_input = definition.from_input, None
    try:
        return convert_argument(value, cls, SCHEMA.schema_converter.scalar_registry, SCHEMA.config)
    finally:
        definition.from_input = hook


def _ours(cls: Any, value: dict[str, Any]) -> Any:
    return convert_argument(value, cls, SCHEMA.schema_converter.scalar_registry, SCHEMA.config)


@pytest.mark.parametrize(("name", "value"), CASES)
def test_a_generated_input_converts_as_strawberry_does(name: str, value: dict[str, Any]) -> None:
    cls = SCHEMA.get_type_by_name(name).origin
    ours, theirs = _ours(cls, value), _strawberry(cls, value)
    assert type(ours) is cls
    assert ours == theirs
    for field in cls.__strawberry_definition__.fields:
        assert getattr(ours, field.python_name) == getattr(theirs, field.python_name)


def test_the_instance_holds_only_the_fields_given() -> None:
    cls = SCHEMA.get_type_by_name("FollowerCreate").origin
    ours = _ours(cls, {"name": "An", "zaloOaCode": "OA1"})
    assert vars(ours) == {"name": Some("An"), "zalo_oa": Some("OA1")}
    assert ours.phone is None  # absent: the class-level default
    full = _strawberry(cls, {"name": "An", "zaloOaCode": "OA1"})
    assert len(vars(full)) > 100  # Strawberry's own sets every field
