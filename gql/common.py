"""GraphQL types every resource shares: operator inputs, ordering, bulk results, paging."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry import Maybe

from gql.scalars import DateTime, DecimalNumber


@strawberry.input(
    description="Text operators; contains/startsWith/endsWith ignore case "
    "and match % and _ literally."
)
class StringFilter:
    eq: Maybe[str | None]
    ne: Maybe[str | None]
    lt: Maybe[str | None]
    le: Maybe[str | None]
    gt: Maybe[str | None]
    ge: Maybe[str | None]
    in_: Maybe[list[str] | None] = strawberry.field(name="in")
    not_in: Maybe[list[str] | None]
    is_null: Maybe[bool | None]
    contains: Maybe[str | None]
    starts_with: Maybe[str | None]
    ends_with: Maybe[str | None]


@strawberry.input(description="Integer operators.")
class IntFilter:
    eq: Maybe[int | None]
    ne: Maybe[int | None]
    lt: Maybe[int | None]
    le: Maybe[int | None]
    gt: Maybe[int | None]
    ge: Maybe[int | None]
    in_: Maybe[list[int] | None] = strawberry.field(name="in")
    not_in: Maybe[list[int] | None]
    is_null: Maybe[bool | None]


@strawberry.input(description="Decimal operators (numeric comparison).")
class DecimalFilter:
    eq: Maybe[DecimalNumber | None]
    ne: Maybe[DecimalNumber | None]
    lt: Maybe[DecimalNumber | None]
    le: Maybe[DecimalNumber | None]
    gt: Maybe[DecimalNumber | None]
    ge: Maybe[DecimalNumber | None]
    in_: Maybe[list[DecimalNumber] | None] = strawberry.field(name="in")
    not_in: Maybe[list[DecimalNumber] | None]
    is_null: Maybe[bool | None]


@strawberry.input(description="Date-time operators (chronological comparison).")
class DateTimeFilter:
    eq: Maybe[DateTime | None]
    ne: Maybe[DateTime | None]
    lt: Maybe[DateTime | None]
    le: Maybe[DateTime | None]
    gt: Maybe[DateTime | None]
    ge: Maybe[DateTime | None]
    in_: Maybe[list[DateTime] | None] = strawberry.field(name="in")
    not_in: Maybe[list[DateTime] | None]
    is_null: Maybe[bool | None]


@strawberry.input(description="Boolean operators.")
class BooleanFilter:
    eq: Maybe[bool | None]
    ne: Maybe[bool | None]
    is_null: Maybe[bool | None]


@strawberry.enum(description="Sort direction; ASC puts nulls last and DESC first unless asked.")
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"
    ASC_NULLS_FIRST = "ASC_NULLS_FIRST"
    ASC_NULLS_LAST = "ASC_NULLS_LAST"
    DESC_NULLS_FIRST = "DESC_NULLS_FIRST"
    DESC_NULLS_LAST = "DESC_NULLS_LAST"


@strawberry.enum(description="What a bulk write does when some items are bad.")
class BulkErrorPolicy(Enum):
    ALL_OR_NOTHING = "ALL_OR_NOTHING"
    SKIP_FAILED = "SKIP_FAILED"


@strawberry.type(description="One problem with a write: the item (0-based) and field it is about.")
class MutationError:
    code: str
    message: str
    field: str | None
    index: int | None


@strawberry.type
class BulkItemResult:
    index: int
    code: str | None
    ok: bool
    errors: list[MutationError]


@strawberry.type
class DeleteResult:
    deleted_count: int
    codes: list[str]


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
