"""Resource declarations: what each of the six resources exposes, in one place.

A `Resource` is read by the query compiler, the CRUD base, the GraphQL type factory and the
REST shim. Per-resource modules declare it; nothing else is written per resource.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from models._types import DecimalNumber, EncryptedText, JSONText, UTCDateTime


class Kind(StrEnum):
    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATETIME = "datetime"
    JSON = "json"


def pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


# Fields the module manages itself: ignored on input, so a GET result can be PUT back.
SERVER_MANAGED = frozenset(
    {
        "id",
        "created",
        "creator",
        "creator_name",
        "modified",
        "deleted",
        "delete_by",
        "delete_by_name",
    }
)


@dataclass(frozen=True)
class FieldSpec:
    name: str  # Python attribute and SQL column (snake_case)
    kind: Kind
    rest: str  # REST name (PascalCase)
    gql: str  # GraphQL name (camelCase; references end in "Code")
    secret: bool = False
    writable: bool = True
    reference: str | None = None  # name of the to-one relation this column keys

    @property
    def filterable(self) -> bool:
        return not self.secret

    @property
    def orderable(self) -> bool:
        return not self.secret and self.kind is not Kind.JSON


@dataclass(frozen=True)
class Relation:
    name: str  # Python name; GraphQL name is camel(name)
    target: str  # key of the target resource
    local: str  # column on this table
    remote: str  # column on the target table
    many: bool


def _kind_of(column: sa.Column[Any]) -> Kind:
    t = column.type
    if isinstance(t, UTCDateTime):
        return Kind.DATETIME
    if isinstance(t, DecimalNumber):
        return Kind.DECIMAL
    if isinstance(t, JSONText):
        return Kind.JSON
    if isinstance(t, EncryptedText):
        return Kind.STRING
    if isinstance(t, sa.Boolean):
        return Kind.BOOL
    if isinstance(t, sa.Integer):
        return Kind.INT
    return Kind.STRING


@dataclass(eq=False)  # compared and hashed by identity: statement caches key on it
class Resource:
    key: str  # "followers"
    model: type[SQLModel]
    type_name: str  # GraphQL type: "Follower"
    single: str  # GraphQL root field for one item: "follower"
    plural: str  # GraphQL root field for a page: "followers"
    rest_path: str  # "/v4/zalo-oa/followers"
    relations: list[Relation] = field(default_factory=list)
    read_only: frozenset[str] = frozenset()  # beyond SERVER_MANAGED
    hidden: frozenset[str] = frozenset()  # internal columns, not part of any API
    search_sources: tuple[str, ...] = ()  # columns folded into `keyword` for `search`
    # Columns filled on create with the calling module's name (read-only through the API).
    caller_fields: tuple[str, ...] = ("creator", "creator_name")
    soft_delete: bool = False
    conflict_targets: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"CODE": ("code",)}
    )
    # Per-resource rules the CRUD base applies on create/update (defaults, invariants).
    on_write: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        table: sa.Table = self.model.__table__  # type: ignore[attr-defined]
        self.table = table
        references = {r.local: r.name for r in self.relations if not r.many}
        specs: list[FieldSpec] = []
        for column in table.columns:
            if column.key in self.hidden:
                continue
            ref = references.get(column.key)
            specs.append(
                FieldSpec(
                    name=column.key,
                    kind=_kind_of(column),
                    rest=pascal(column.key),
                    gql=camel(column.key) + ("Code" if ref else ""),
                    secret=isinstance(column.type, EncryptedText),
                    writable=column.key
                    not in SERVER_MANAGED | self.read_only | set(self.caller_fields),
                    reference=ref,
                )
            )
        self.fields: list[FieldSpec] = specs
        self.by_name = {f.name: f for f in specs}
        self.by_rest = {f.rest: f for f in specs}
        self.by_gql = {f.gql: f for f in specs}
        self.relation_by_name = {r.name: r for r in self.relations}

    @property
    def searchable(self) -> bool:
        return bool(self.search_sources)

    def column(self, name: str) -> sa.Column[Any]:
        return self.table.c[name]


_registry: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    _registry[resource.key] = resource
    return resource


def get(key: str) -> Resource:
    return _registry[key]


def all_resources() -> list[Resource]:
    return list(_registry.values())
