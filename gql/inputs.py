"""Input objects built from a plan made once per type, through Strawberry's `from_input` hook.

Strawberry converts an input value field by field, resolving each field's type on every
call. The module's inputs are wide (a follower create has over a hundred fields) and come by
the thousand (bulk writes) or once per parent row (a relation's ``orderBy``), which made that
conversion most of the CPU of a bulk create. `fast_input` gives a type a converter planned
from its definition on first use: the same result (`Some` for a given `Maybe` field, ``None``
for an absent one, defaults for fields that have one), without the per-call type resolution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from strawberry import Some
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext, convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any, InputContext], Any]


def _identity(value: Any, _ctx: InputContext) -> Any:
    return value


def _some(value: Any, _ctx: InputContext) -> Any:
    """A given `Maybe` field of a leaf (null included): ``Some(value)``."""
    return Some(value)


def _is_leaf(type_: Any, ctx: InputContext) -> bool:
    """Scalars and enums: graphql-core has already parsed them into their Python values."""
    return (
        is_scalar(type_, ctx.scalar_registry)
        or isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
    )


def _converter(type_: Any, ctx: InputContext) -> Convert:
    if isinstance(type_, StrawberryMaybe):
        inner = _converter(type_.of_type, ctx)
        if isinstance(type_.of_type, StrawberryOptional):
            if inner is _identity:
                return _some
            return lambda v, c: Some(inner(v, c))

        def strict(v: Any, c: InputContext) -> Any:
            if v is None:
                raise StrawberryInputCoercionError("this field cannot be null")
            return Some(inner(v, c))

        return strict
    if isinstance(type_, StrawberryOptional):
        inner = _converter(type_.of_type, ctx)
        if inner is _identity:
            return _identity
        return lambda v, c: v if v is None or v is UNSET else inner(v, c)
    if isinstance(type_, StrawberryList):
        inner = _converter(type_.of_type, ctx)
        if inner is _identity:
            return lambda v, c: v if v is None or v is UNSET else list(v)
        return lambda v, c: v if v is None or v is UNSET else [inner(x, c) for x in v]
    if isinstance(type_, LazyType):
        return _converter(type_.resolve_type(), ctx)
    if has_object_definition(type_) and type_.__strawberry_definition__.from_input is not None:
        build = type_.__strawberry_definition__.from_input
        return lambda v, c: v if v is None or v is UNSET else build(type_, v, c)
    if _is_leaf(type_, ctx):
        return _identity

    def general(v: Any, c: InputContext) -> Any:  # anything else: Strawberry's own way
        return convert_argument(v, type_, c.scalar_registry, c.config, c.info, path=c.path)

    return general


def fast_input(cls: Any) -> Any:
    """Give the Strawberry input type ``cls`` a planned `from_input`; returns ``cls``.

    The instance holds only the fields given and those without a class-level default: an
    absent field with a plain default reads it from the class, as a dataclass leaves it
    there. A follower create has over a hundred fields and a bulk write a thousand items,
    so an instance dict of every field was a third of a bulk create's memory
    (docs/performance.md, eighth round). A type with ``__post_init__`` or slots is built
    through its ``__init__``."""
    definition = cls.__strawberry_definition__
    plan: dict[str, tuple[str, Convert | None]] = {}  # GraphQL name -> (python name, convert)
    absent: dict[str, Any] = {}  # no class-level default: None, as Strawberry passes
    factories: list[tuple[str, Callable[[], Any]]] = []
    lean = not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")

    def from_input(target: type, value: Mapping[str, Any], ctx: InputContext) -> Any:
        if not plan and definition.fields:
            for field in definition.fields:
                name = ctx.config.name_converter.from_field(field)
                resolved = field.resolve_type(type_definition=definition)
                convert: Convert | None = _converter(resolved, ctx)
                if convert is _some:
                    convert = None  # the common case, inlined below
                plan[name] = (field.python_name, convert)
                if field.default_factory is not dataclasses.MISSING:
                    factories.append((field.python_name, field.default_factory))
                elif field.default is dataclasses.MISSING or not hasattr(target, field.python_name):
                    absent[field.python_name] = None
        kwargs = dict(absent)
        # the fields given, not every field of the type: graphql-core has already refused
        # any name the type does not have
        for name, given in value.items():
            entry = plan.get(name)
            if entry is not None:
                python_name, convert = entry
                kwargs[python_name] = Some(given) if convert is None else convert(given, ctx)
        if not lean or target is not cls:
            return target(**kwargs)
        for python_name, factory in factories:
            if python_name not in kwargs:
                kwargs[python_name] = factory()
        built = object.__new__(target)
        built.__dict__.update(kwargs)
        return built

    definition.from_input = from_input
    return cls
