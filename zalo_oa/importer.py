"""Bulk import of followers from CSV, JSON Lines or a JSON array.

Rows use the REST names (the seed's PascalCase) and go through the same GraphQL mutation as
every other caller, in batches with ``SKIP_FAILED``: the good rows land, and every bad row
is written to a report (row number, field, reason). CSV and JSON Lines are streamed; a JSON
array is read whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gql.context import Context
from gql.schema import create_schema
from legacy_rest import values
from resolvers._resource import Resource
from resolvers.caller import Caller, Scope
from resolvers.resources import FOLLOWERS
from zalo_oa.db import Database
from zalo_oa.settings import Settings

CREATE = """mutation Import($in: [FollowerCreate!]!) {
  createFollowers(input: $in, errorPolicy: SKIP_FAILED) {
    affectedCount
    results { index ok errors { field message } }
  }
}"""
UPSERT = CREATE.replace(
    "errorPolicy: SKIP_FAILED", "onConflict: {target: CODE}, errorPolicy: SKIP_FAILED"
)


class ImportFailed(Exception):
    """The file cannot be imported at all (unreadable, unknown columns, unknown OA)."""


@dataclass
class Bad:
    row: int  # 1-based data row (CSV: the header is row 0)
    field: str | None
    message: str


@dataclass
class Outcome:
    imported: int = 0
    bad: list[Bad] = field(default_factory=list)
    rows: int = 0


def _rows(path: Path) -> Iterator[tuple[dict[str, Any], bool]]:
    """(raw row, is_text) pairs; CSV cells are text, JSON values are typed."""
    suffix = path.suffix.lower()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        if suffix == ".csv":
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            reader = csv.DictReader(text)
            unknown = [n for n in reader.fieldnames or () if n not in FOLLOWERS.by_rest]
            if unknown:
                raise ImportFailed(
                    f"{path}: unknown column(s) {', '.join(unknown)} "
                    "(columns are the REST field names, e.g. Name, Phone)"
                )
            for row in reader:
                yield {k: v for k, v in row.items() if k is not None and v not in ("", None)}, True
        elif suffix in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield orjson.loads(line), False
                    except orjson.JSONDecodeError as exc:
                        yield {"__error__": f"line {number} is not JSON: {exc}"}, False
        elif suffix == ".json":
            try:
                data = orjson.loads(handle.read())
            except orjson.JSONDecodeError as exc:
                raise ImportFailed(f"{path} is not valid JSON: {exc}") from None
            if not isinstance(data, list):
                raise ImportFailed(f"{path} must hold a JSON array of objects")
            for item in data:
                yield item, False
        else:
            raise ImportFailed(f"{path}: use a .csv, .jsonl or .json file")


def _convert(
    resource: Resource, raw: Any, is_text: bool, row: int, oa: str | None
) -> tuple[dict[str, Any] | None, list[Bad]]:
    if not isinstance(raw, dict):
        return None, [Bad(row, None, "a row must be an object")]
    if "__error__" in raw:
        return None, [Bad(row, None, raw["__error__"])]
    item: dict[str, Any] = {}
    problems: list[Bad] = []
    for name, value in raw.items():
        spec = resource.by_rest.get(name)
        if spec is None:
            problems.append(Bad(row, name, "unknown field"))
            continue
        if not spec.writable and spec.name != "code":
            continue
        try:
            item[spec.gql] = (
                values.from_query(spec, value) if is_text else values.from_body(spec, value)
            )
        except values.BadValue as exc:
            problems.append(Bad(row, name, str(exc)))
    if oa and "zaloOaCode" not in item:
        item["zaloOaCode"] = oa
    return (None if problems else item), problems


async def run(
    settings: Settings,
    database: Database,
    path: Path,
    *,
    oa: str | None,
    upsert: bool,
    batch: int = 500,
    progress: Any = None,
) -> Outcome:
    schema = create_schema(settings)
    caller = Caller("import", Scope.WRITE)
    if oa is not None:
        context = Context(database=database, settings=settings, caller_=caller)
        found = await schema.execute(
            "query($c: String!) { officialAccount(code: $c) { code } }",
            {"c": oa},
            context_value=context,
        )
        if not (found.data or {}).get("officialAccount"):
            raise ImportFailed(f"no official account with code {oa!r}")
    outcome = Outcome()
    pending: list[tuple[int, dict[str, Any]]] = []

    async def flush() -> None:
        if not pending:
            return
        context = Context(database=database, settings=settings, caller_=caller)
        result = await schema.execute(
            UPSERT if upsert else CREATE,
            {"in": [item for _, item in pending]},
            context_value=context,
        )
        if result.errors:
            message = result.errors[0].message
            outcome.bad.extend(Bad(row, None, message) for row, _ in pending)
        else:
            payload = (result.data or {})["createFollowers"]
            outcome.imported += payload["affectedCount"]
            for entry in payload["results"]:
                if not entry["ok"]:
                    row = pending[entry["index"]][0]
                    for error in entry["errors"] or [{"field": None, "message": "rejected"}]:
                        outcome.bad.append(Bad(row, _rest(error["field"]), error["message"]))
        if progress is not None:
            progress(outcome.rows)
        pending.clear()

    for number, (raw, is_text) in enumerate(_rows(path), 1):
        outcome.rows = number
        item, problems = _convert(FOLLOWERS, raw, is_text, number, oa)
        outcome.bad.extend(problems)
        if item is not None:
            pending.append((number, item))
        if len(pending) >= batch:
            await flush()
    await flush()
    if progress is not None:
        progress(outcome.rows)
    return outcome


def _rest(gql_name: str | None) -> str | None:
    if gql_name is None:
        return None
    spec = FOLLOWERS.by_gql.get(gql_name)
    return spec.rest if spec else gql_name


def write_report(path: Path, bad: list[Bad]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "field", "message"])
        for item in sorted(bad, key=lambda b: b.row):
            writer.writerow([item.row, item.field or "", item.message])
