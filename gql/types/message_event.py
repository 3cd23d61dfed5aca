"""The ``messageEvents`` subscription: messages received, sent and changing status, live."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from enum import Enum
from functools import partial
from typing import Any

import strawberry

from gql.context import Context
from gql.factory import lazy
from resolvers import _crud, events, official_account
from resolvers.caller import Scope
from resolvers.errors import BadInput, NotFound
from resolvers.resources import MESSAGES, OFFICIAL_ACCOUNTS
from zalo_oa.db import Database

log = logging.getLogger("zalo_oa.live")
MessageRef = lazy("Message")


@strawberry.enum(description="What happened to the message.")
class MessageEventKind(Enum):
    RECEIVED = "RECEIVED"
    SENT = "SENT"
    STATUS_CHANGED = "STATUS_CHANGED"


KINDS = {
    events.MESSAGE_RECEIVED: MessageEventKind.RECEIVED,
    "message.sent": MessageEventKind.SENT,
    "message.failed": MessageEventKind.STATUS_CHANGED,
    "message.delivered": MessageEventKind.STATUS_CHANGED,
    "message.seen": MessageEventKind.STATUS_CHANGED,
}


@strawberry.type(description="One change to a message; `message` is the message as it is now.")
class MessageEvent:
    kind: MessageEventKind
    message: MessageRef  # type: ignore[valid-type]


async def _load(database: Database, event_id: int) -> tuple[str | None, str, Any] | None:
    """(OA code, event kind, message row) of a message event; ``None`` for other events."""
    async with database.sessions() as session:
        row = await events.load(session, event_id)
        if row is None or row.kind not in KINDS or not isinstance(row.payload, dict):
            return None
        code = row.payload.get("Code")
        found = await _crud.fetch_by_keys(session, MESSAGES, "code", [code]) if code else {}
    message = found.get(code)
    return None if message is None else (row.oa_code, row.kind, message)


async def _oa_code(ctx: Context, oa: str | None) -> str:
    async with ctx.database.sessions() as session:
        if oa is None:
            default = await official_account.default_code(session)
            if default is None:
                raise BadInput("no default official account: give oa", "oa")
            return default
        found = await _crud.fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", [oa], ["code"])
    if oa not in found:
        raise NotFound(f"no OfficialAccount with code {oa!r}", "oa")
    return oa


@strawberry.type
class MessageSubscription:
    @strawberry.subscription(
        description="Messages of an OA (default: the default OA) as they are received, sent "
        "and change status (delivered, seen, failed), from every instance of the module."
    )
    async def message_events(
        self, info: strawberry.Info[Context], oa: str | None = None
    ) -> AsyncGenerator[MessageEvent, None]:
        ctx = info.context
        ctx.caller.require(Scope.READ, "subscribing to messageEvents")
        oa_code = await _oa_code(ctx, oa)
        bus = ctx.zalo.bus
        async with bus.subscribe() as queue:
            while True:
                event_id = await queue.get()
                try:
                    found = await bus.shared(
                        ("message-event", event_id), partial(_load, ctx.database, event_id)
                    )
                except Exception:  # a live feed skips what it cannot read; the rows stay
                    log.exception("loading event %s for messageEvents failed", event_id)
                    continue
                if found is None or found[0] != oa_code:
                    continue
                yield MessageEvent(kind=KINDS[found[1]], message=found[2])
                # The previous event is resolved by now: free its session and loaders, so
                # an idle subscription holds no connection and the next one reads fresh rows.
                ctx.clear_loaders()
                await ctx.finish(commit=False)
