"""The OpenAPI document of the REST shim, generated from the resource declarations.

Every path, query parameter (one per operator and field, typed as the field), body and
envelope below comes from the same `Resource` declarations and tables the parser uses
(`legacy_rest.params`, `legacy_rest.values`), so the document cannot describe a parameter
the shim does not take. Other HTTP routes of the app keep FastAPI's own description;
GraphQL is left out (it describes itself by introspection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from legacy_rest import values
from legacy_rest.errors import STATUS
from legacy_rest.params import OPERATORS, REPEATED
from legacy_rest.routes import PREFIX
from resolvers import _query as q
from resolvers._resource import FieldSpec, Kind, Resource, all_resources, pascal
from zalo_oa.settings import Settings

ID_PARAMS = 10  # id0…id9 are listed; any id<N> is accepted
REF = "#/components"
OPERATOR_TEXT = {
    "eq": "equals (repeat: any of the values)",
    "ne": "differs from (repeat: none of the values)",
    "lt": "is less than",
    "le": "is at most",
    "gt": "is greater than",
    "ge": "is at least",
    "filter": "contains (case-insensitive; % and _ literal)",
    "left": "starts with (case-insensitive; % and _ literal)",
    "right": "ends with (case-insensitive; % and _ literal)",
}
DATETIME_TEXT = "ISO-8601 (with or without offset) or 'YYYY-MM-DD HH:MM:SS' in the configured zone"
ERRORS = {
    400: ("BadRequest", "A bad query parameter, malformed JSON, or a body of the wrong shape."),
    401: ("Unauthenticated", "No valid API token (Authorization: Bearer, or `token`)."),
    403: ("Forbidden", "The token's scope does not allow this."),
    404: ("NotFound", "No item with this code."),
    409: ("Conflict", "A code already taken, or an item others still depend on."),
    413: ("PayloadTooLarge", "The body is over the configured size limit."),
    422: ("InvalidItems", "Well-formed items that are invalid; each named by index and field."),
    500: ("Internal", "An unexpected error; the message carries a request id."),
}
READ_ERRORS = (400, 401, 403, 500)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 422, 500)
DELETE_ERRORS = (400, 401, 403, 404, 409, 500)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# ---------------------------------------------------------------- value schemas


def query_schema(spec: FieldSpec) -> dict[str, Any]:
    """A query-string operand of the field, as `values.from_query` reads it."""
    if spec.kind is Kind.INT:
        return {"type": "integer", "minimum": values.INT_MIN, "maximum": values.INT_MAX}
    if spec.kind is Kind.DECIMAL:
        limit = float(values.DECIMAL_LIMIT)
        return {"type": "number", "exclusiveMinimum": -limit, "exclusiveMaximum": limit}
    if spec.kind is Kind.BOOL:
        return {"type": "string", "enum": ["1", "0", "true", "false"]}
    if spec.kind is Kind.DATETIME:
        return {"type": "string", "format": "date-time", "description": DATETIME_TEXT}
    return {"type": "string"}


def output_schema(spec: FieldSpec) -> dict[str, Any]:
    if spec.kind is Kind.JSON:
        return {"description": "A JSON value (object or array)."}
    base: dict[str, Any] = {
        Kind.STRING: {"type": "string"},
        Kind.INT: {"type": "integer"},
        Kind.DECIMAL: {"type": "number"},
        Kind.BOOL: {"type": "boolean"},
        Kind.DATETIME: {"type": "string", "format": "date-time"},
    }[spec.kind]
    schema = _nullable(base)
    if spec.secret:
        schema["description"] = "Secret: reads give a masked tail such as ****a1b2."
    return schema


def input_schema(spec: FieldSpec) -> dict[str, Any]:
    """A body value of the field, as `values.from_body` reads it."""
    if not spec.writable and spec.name != "code":
        return {"readOnly": True, "description": "Server-managed: ignored on input."}
    if spec.kind is Kind.JSON:
        return {"description": "A JSON value, or a string holding JSON."}
    if spec.kind is Kind.BOOL:
        choices: list[dict[str, Any]] = [
            {"type": "boolean"},
            {"enum": [0, 1, "0", "1", "true", "false"]},
        ]
    elif spec.kind is Kind.DECIMAL:
        choices = [
            query_schema(spec),
            {"type": "string", "pattern": r"^-?[0-9]{1,14}(\.[0-9]+)?$"},
        ]
    elif spec.kind is Kind.DATETIME:
        choices = [
            {"type": "string", "format": "date-time"},
            {
                "type": "string",
                "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
            },
        ]
    else:
        choices = [query_schema(spec)]
    if spec.name == "code":
        choices = [{"type": "string", "maxLength": values.CODE_MAX}]
    schema: dict[str, Any] = {"anyOf": [*choices, {"type": "null"}]}
    if spec.secret:
        schema["description"] = "Secret: write-only; sending back its mask keeps it as it is."
    return schema


# ---------------------------------------------------------------- parameters


def _param(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _names_pattern(names: list[str], signed: bool) -> str:
    one = ("-?" if signed else "") + "(" + "|".join(names) + ")"
    return f"^{one}(,{one})*$"


def filter_params(resource: Resource) -> list[dict[str, Any]]:
    """One parameter per operator that applies to each filterable field."""
    out = []
    for spec in resource.fields:
        if not spec.filterable:
            continue
        for prefix, op in OPERATORS.items():
            if op not in q.OPS_BY_KIND[spec.kind]:
                continue
            text = f"{spec.rest} {OPERATOR_TEXT[prefix]}."
            schema = query_schema(spec)
            if op in REPEATED:
                out.append(
                    _param(
                        f"{prefix}_{spec.rest}",
                        {"type": "array", "items": schema, "minItems": 1},
                        text,
                        style="form",
                        explode=True,
                    )
                )
            else:
                out.append(_param(f"{prefix}_{spec.rest}", schema, text))
    return out


def _common_params(settings: Settings) -> dict[str, dict[str, Any]]:
    params = {
        "token": _param("token", {"type": "string"}, "API token (or Authorization: Bearer)."),
        "offset": _param(
            "offset", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip."
        ),
        "limit": _param(
            "limit",
            {
                "type": "integer",
                "minimum": 0,
                "maximum": settings.max_page_size,
                "default": settings.default_page_size,
            },
            f"Page size (at most {settings.max_page_size}).",
        ),
        "hard": _param(
            "hard",
            {"type": "string", "enum": ["1", "0", "true", "false"]},
            "Erase the row instead of a soft delete (followers; needs an admin token).",
        ),
    }
    for n in range(ID_PARAMS):
        params[f"id{n}"] = _param(
            f"id{n}", {"type": "string", "minLength": 1}, "Only these codes (any id<N> works)."
        )
    return params


def _resource_params(resource: Resource) -> dict[str, dict[str, Any]]:
    name = pascal(resource.key)
    every = [f.rest for f in resource.fields]
    orderable = [f.rest for f in resource.fields if f.orderable]
    return {
        f"{name}.fields": _param(
            "fields",
            {"type": "string", "pattern": _names_pattern(every, signed=False)},
            "Sparse fieldset: only these fields, comma-separated (default: every field).",
        ),
        f"{name}.order_by": _param(
            "order_by",
            {"type": "string", "pattern": _names_pattern(orderable, signed=True)},
            "Sort keys, comma-separated; '-' sorts descending (Id ascending breaks ties).",
        ),
    }


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{REF}/{kind}/{name}"}


# ---------------------------------------------------------------- operations


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(ok: int, description: str, schema: dict[str, Any], errors: tuple[int, ...]) -> Any:
    out: dict[str, Any] = {str(ok): {"description": description, "content": _json(schema)}}
    for status in errors:
        out[str(status)] = _ref("responses", ERRORS[status][0])
    return out


def _operations(resource: Resource) -> dict[str, dict[str, Any]]:
    name = pascal(resource.key)
    item = _ref("schemas", name)
    write = _ref("schemas", f"{name}Input")
    keyed = _ref("schemas", f"{name}Update")
    written = {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {"data": {"type": "array", "items": item}},
    }
    token = _ref("parameters", "token")
    fields = _ref("parameters", f"{name}.fields")
    ids = [_ref("parameters", f"id{n}") for n in range(ID_PARAMS)]
    code = {"name": "Code", "in": "path", "required": True, "schema": {"type": "string"}}
    tags = [name]

    def op(verb: str, summary: str, **rest: Any) -> dict[str, Any]:
        return {
            "tags": tags,
            "operationId": f"{resource.key}_{verb}",
            "summary": summary,
            "security": [{"bearer": []}],
            **rest,
        }

    collection = {
        "get": op(
            "list",
            f"A page of {name}",
            parameters=[
                token,
                _ref("parameters", "offset"),
                _ref("parameters", "limit"),
                *ids,
                fields,
                _ref("parameters", f"{name}.order_by"),
                *filter_params(resource),
            ],
            responses=_responses(
                200,
                "The page; `total` counts every match.",
                {
                    "type": "object",
                    "required": ["data", "total", "offset", "limit"],
                    "additionalProperties": False,
                    "properties": {
                        "data": {"type": "array", "items": item},
                        "total": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "limit": {"type": "integer"},
                    },
                },
                READ_ERRORS,
            ),
        ),
        "post": op(
            "create",
            f"Create {name} (all or none)",
            parameters=[token, fields],
            requestBody={
                "required": True,
                "content": _json({"anyOf": [{"type": "array", "items": write}, write]}),
            },
            responses=_responses(201, "Created, in the order given.", written, WRITE_ERRORS),
        ),
        "put": op(
            "update_many",
            f"Partially update {name} by Code (all or none)",
            parameters=[token, fields],
            requestBody={"required": True, "content": _json({"type": "array", "items": keyed})},
            responses=_responses(200, "Updated, in the order given.", written, WRITE_ERRORS),
        ),
        "delete": op(
            "delete_many",
            f"Delete {name} by id0, id1, …",
            parameters=[token, *ids, _ref("parameters", "hard")],
            responses=_responses(200, "Deleted.", _ref("schemas", "Deleted"), DELETE_ERRORS),
        ),
    }
    one = {
        "parameters": [code],
        "get": op(
            "get",
            f"One of {name} by Code",
            parameters=[token, fields],
            responses=_responses(
                200,
                "The item.",
                {
                    "type": "object",
                    "required": ["data"],
                    "additionalProperties": False,
                    "properties": {"data": item},
                },
                (*READ_ERRORS, 404),
            ),
        ),
        "put": op(
            "update",
            f"Partially update one of {name}",
            parameters=[token, fields],
            requestBody={
                "required": True,
                "content": _json(
                    {
                        "anyOf": [
                            write,
                            {"type": "array", "items": write, "minItems": 1, "maxItems": 1},
                        ]
                    }
                ),
            },
            responses=_responses(200, "Updated.", written, WRITE_ERRORS),
        ),
        "delete": op(
            "delete",
            f"Delete one of {name}"
            + (" (a soft delete unless hard=1)" if resource.soft_delete else ""),
            parameters=[token, _ref("parameters", "hard")],
            responses=_responses(200, "Deleted.", _ref("schemas", "Deleted"), DELETE_ERRORS),
        ),
    }
    base = f"{PREFIX}/{resource.rest_path}"
    return {base: collection, base + "/{Code}": one}


# ---------------------------------------------------------------- components


def _item_schemas(resource: Resource) -> dict[str, Any]:
    name = pascal(resource.key)
    inputs = {f.rest: input_schema(f) for f in resource.fields}
    keyed_inputs = {**inputs, "Code": {"type": "string", "minLength": 1, "maxLength": 64}}
    return {
        name: {
            "type": "object",
            "description": f"One of {name}: every field, null when unset (unless `fields`).",
            "additionalProperties": False,
            "properties": {f.rest: output_schema(f) for f in resource.fields},
        },
        f"{name}Input": {
            "type": "object",
            "description": "Fields to write, by REST name; absent fields are left as they are.",
            "additionalProperties": False,
            "properties": inputs,
        },
        f"{name}Update": {
            "type": "object",
            "additionalProperties": False,
            "required": ["Code"],
            "properties": keyed_inputs,
        },
    }


def _shared_schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string", "enum": sorted(STATUS)},
                        "message": {"type": "string"},
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["index", "field", "message"],
                                "additionalProperties": False,
                                "properties": {
                                    "index": {
                                        **_nullable({"type": "integer", "minimum": 0}),
                                        "description": "The item (0-based), null if none.",
                                    },
                                    "field": {
                                        **_nullable({"type": "string"}),
                                        "description": "REST field or parameter, null if none.",
                                    },
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        },
        "Deleted": {
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {
                "data": {
                    "type": "object",
                    "required": ["deleted", "codes"],
                    "additionalProperties": False,
                    "properties": {
                        "deleted": {"type": "integer", "minimum": 0},
                        "codes": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        },
    }


def rest_document(settings: Settings) -> dict[str, Any]:
    """Paths and components of the REST shim (OpenAPI 3.1)."""
    paths: dict[str, Any] = {}
    schemas = _shared_schemas()
    parameters = _common_params(settings)
    for resource in all_resources():
        paths.update(_operations(resource))
        schemas.update(_item_schemas(resource))
        parameters.update(_resource_params(resource))
    responses = {
        name: {"description": text, "content": _json(_ref("schemas", "Error"))}
        for name, text in ERRORS.values()
    }
    return {
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": parameters,
            "responses": responses,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "tags": [
            {"name": pascal(r.key), "description": f"GraphQL type {r.type_name}"}
            for r in all_resources()
        ],
    }


def generator(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's description of the other routes plus the REST shim."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            paths = document.setdefault("paths", {})
            for path in [p for p in paths if p == "/graphql" or p.startswith("/graphql/")]:
                del paths[path]
            rest = rest_document(app.state.settings)
            paths.update(rest["paths"])
            components = document.setdefault("components", {})
            for key, value in rest["components"].items():
                components.setdefault(key, {}).update(value)
            document["tags"] = [*document.get("tags", []), *rest["tags"]]
            app.openapi_schema = document
        return app.openapi_schema

    return openapi
