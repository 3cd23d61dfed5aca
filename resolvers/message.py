"""Rules of Messages beyond the generic CRUD: direction, channel and initial status."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.errors import Problem

Items = list[tuple[int, dict[str, Any]]]
DIRECTIONS = ("in", "out")
CHANNELS = ("oa", "zns")
MAX_TEXT = 2000


async def prepare_create(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    """Outbound items are queued for the sender; inbound ones are imported history."""
    problems: dict[int, list[Problem]] = {}
    for index, values in items:
        direction = values.setdefault("direction", "out")
        if direction not in DIRECTIONS:
            problems.setdefault(index, []).append(
                Problem("direction must be 'in' or 'out'", "direction", index)
            )
        channel = values.setdefault("channel", "zns" if values.get("template") else "oa")
        if channel not in CHANNELS:
            problems.setdefault(index, []).append(
                Problem("channel must be 'oa' or 'zns'", "channel", index)
            )
        text = values.get("text")
        if direction == "out" and text is not None and len(text) > MAX_TEXT:
            problems.setdefault(index, []).append(
                Problem(f"text is longer than {MAX_TEXT} characters", "text", index)
            )
        values.setdefault("type", "zns" if channel == "zns" else "text")
        values.setdefault("status", "queued" if direction == "out" else "received")
        values.setdefault("attempts", 0)
    return problems
