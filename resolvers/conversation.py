"""Importing a follower's recent conversation from Zalo into Messages, without duplicates.

Zalo's ``conversation`` endpoint gives at most 10 messages a call, newest first. Each row
becomes a Message (``Direction`` ``in`` for the user's, ``out`` for the OA's, recorded as
history: ``received`` / ``sent``, never queued); a row whose Zalo message id the OA already
has (a webhook stored it, the sender sent it, an earlier import took it) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import _crud
from resolvers.caller import Caller
from resolvers.errors import BadInput, DomainError
from resolvers.oa_token import Account, TokenKeeper
from resolvers.resources import FOLLOWERS, MESSAGES
from zalo.client import ZaloClient
from zalo.types import ChatMessage

PAGE = 10  # Zalo's maximum per call
MAX_LIMIT = 500
# Zalo's conversation row types, as Message types (SPEC §3).
TYPES = {"photo": "image", "voice": "audio", "nosupport": "unsupported"}


@dataclass
class Imported:
    imported: int
    skipped: int
    rows: list[Row[Any]]


async def follower_row(session: AsyncSession, code: str) -> Row[Any]:
    row = (await _crud.fetch_by_keys(session, FOLLOWERS, "code", [code])).get(code)
    if row is None:
        raise BadInput(f"no follower {code!r}", "followerCode")
    if not row.zalo or not row.zalo_oa:
        raise BadInput(f"follower {code} has no Zalo user id or OA", "followerCode")
    return row


async def fetch(
    zalo: ZaloClient, tokens: TokenKeeper, oa: str, user_id: str, limit: int
) -> list[ChatMessage]:
    """Up to ``limit`` of the newest messages with the user, ``PAGE`` per call."""
    if not 0 < limit <= MAX_LIMIT:
        raise BadInput(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    rows: list[ChatMessage] = []
    while len(rows) < limit:
        offset, count = len(rows), min(PAGE, limit - len(rows))

        async def work(a: Account, offset: int = offset, count: int = count) -> list[ChatMessage]:
            return await zalo.conversation(
                a.access_token or "", user_id, offset, count, app_id=a.app_id, api_url=a.api_url
            )

        page = await tokens.call(oa, work)
        rows += page
        if len(page) < count:
            break
    return rows


async def store(
    session: AsyncSession, caller: Caller, follower: Row[Any], chats: list[ChatMessage]
) -> Imported:
    """Record the rows not yet known, oldest first (so ids follow the conversation)."""
    table = MESSAGES.table
    ids = list(dict.fromkeys(c.message_id for c in chats))
    known: set[str] = set()
    if ids:
        stmt = sa.select(table.c.zalo_message_id).where(
            table.c.zalo_oa == follower.zalo_oa, table.c.zalo_message_id.in_(ids)
        )
        known = {i for i in (await session.execute(stmt)).scalars() if i}
    items: list[dict[str, Any]] = []
    seen = set(known)
    for chat in sorted(chats, key=lambda c: c.time):
        if chat.message_id in seen:
            continue
        seen.add(chat.message_id)
        items.append(_values(follower, chat))
    rows: list[Row[Any]] = []
    if items:
        result = await _crud.create_many(session, MESSAGES, items, caller)
        if not result.ok:
            raise DomainError(f"conversation import refused: {result.problems[0].message}")
        rows = result.rows
    return Imported(len(items), len(chats) - len(items), rows)


def _values(follower: Row[Any], chat: ChatMessage) -> dict[str, Any]:
    moment = datetime.fromtimestamp(chat.time / 1000, UTC)
    inbound = chat.from_user
    attachments = None
    if chat.url or chat.thumb:
        attachments = [
            {
                "type": TYPES.get(chat.type, chat.type),
                "payload": {"url": chat.url, "thumbnail": chat.thumb},
            }
        ]
    return {
        "zalo_oa": follower.zalo_oa,
        "follower": follower.code,
        "zalo_user_id": follower.zalo,
        "direction": "in" if inbound else "out",
        "channel": "oa",
        "type": TYPES.get(chat.type, chat.type),
        "text": chat.message or chat.description or None,
        "attachments": attachments,
        "zalo_message_id": chat.message_id,
        "status": "received" if inbound else "sent",
        "attempts": 0,
        "sent_at": moment.replace(microsecond=moment.microsecond // 1000 * 1000),
    }
