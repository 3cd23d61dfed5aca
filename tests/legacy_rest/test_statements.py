"""What the shim costs in SQL: a sparse list reads only its columns; documents are reused."""

from __future__ import annotations

import re

from legacy_rest.documents import document
from tests.legacy_rest.conftest import Rest


def _selected(statement: str) -> set[str]:
    head = re.split(r"\s+FROM\s+", statement)[0].removeprefix("SELECT ")
    return {re.sub(r'^.*\.|"', "", c.strip()) for c in head.split(",")}


async def test_sparse_list_selects_only_those_columns(people: Rest) -> None:
    with people.api.statements.counting() as seen:
        reply = await people.get("/followers", {"fields": "Code,Name", "order_by": "Name"})
    assert reply.status == 200 and reply.data[0] == {"Code": "F3", "Name": "100% _real_"}
    pages = [s for s in seen if "count(" not in s.lower()]
    counts = [s for s in seen if "count(" in s.lower()]
    assert len(pages) == 1 and len(counts) == 1, seen
    # code and name, plus the keys the page always carries (id for order, the OA reference)
    assert _selected(pages[0]) == {"id", "code", "name", "zalo_oa"}, pages[0]


async def test_full_list_is_still_one_page_statement(people: Rest) -> None:
    with people.api.statements.counting() as seen:
        reply = await people.get("/followers", {"limit": 5})
    assert len(reply.data) == 5 and len(seen) == 2, seen


async def test_documents_are_generated_once_per_shape(people: Rest) -> None:
    await people.get("/followers", {"fields": "Name,Code"})
    before = document.cache_info()
    await people.get("/followers", {"fields": "Code,Name", "eq_BranchId": "9"})
    await people.get("/followers", {"fields": "Name,Code", "offset": "1"})
    after = document.cache_info()
    assert after.hits - before.hits == 2 and after.misses == before.misses
