"""Sending (SPEC §4): ``sendMessage``, ``sendZns``, and importing a follower's conversation.

A send is its own unit of work: the message is committed ``queued`` (after the same checks
``createMessages`` applies) before the mutation returns or waits, so a later error in the
same request cannot undo a message the sender may already be sending.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import strawberry
from sqlalchemy.exc import IntegrityError

from gql.context import Context
from gql.factory import lazy
from gql.scalars import JSON
from resolvers import conversation, sender, sending
from resolvers.caller import Scope

MessageRef = lazy("Message")


_R = TypeVar("_R")


@strawberry.input(description="An OA message (text, image, file; a text may quote another).")
class SendMessageInput:
    oa_code: str | None = strawberry.field(default=None, description="Default: the default OA.")
    follower_code: str | None = strawberry.field(
        default=None, description="The recipient: give this or zaloUserId."
    )
    zalo_user_id: str | None = None
    type: str = strawberry.field(default="text", description="text, image or file.")
    text: str | None = strawberry.field(
        default=None, description="At most 2000 characters; an image's caption."
    )
    image_url: str | None = None
    attachment_id: str | None = strawberry.field(
        default=None, description="An uploaded image (instead of imageUrl)."
    )
    file_token: str | None = strawberry.field(default=None, description="An uploaded file.")
    quote_message_id: str | None = strawberry.field(
        default=None, description="The Zalo message id a text replies to."
    )
    code: str | None = strawberry.field(
        default=None,
        description="Idempotency key: a repeat returns the first message and sends nothing.",
    )


@strawberry.input(description="A ZNS template message to a phone number.")
class SendZnsInput:
    oa_code: str | None = strawberry.field(default=None, description="Default: the default OA.")
    template_code: str | None = strawberry.field(
        default=None, description="Give this or templateId (Zalo's id of a synced template)."
    )
    template_id: str | None = None
    phone: str | None = strawberry.field(
        default=None, description="Vietnamese number, normalised to 84…."
    )
    template_data: JSON | None = strawberry.field(
        default=None, description="Param values, checked against the template's params."
    )
    tracking_id: str | None = strawberry.field(
        default=None, description="At most 48 characters; default: the message code."
    )
    development: bool = strawberry.field(
        default=False, description="Zalo's development mode: delivered only to admins."
    )
    code: str | None = strawberry.field(
        default=None,
        description="Idempotency key: a repeat returns the first message and sends nothing.",
    )


@strawberry.type(description="What importConversation brought in.")
class ConversationImport:
    imported: int
    skipped: int = strawberry.field(description="Rows the OA already had (same Zalo id).")
    messages: list[MessageRef]  # type: ignore[valid-type]


async def _send(info: strawberry.Info[Context], queue: Any, code: str | None, wait: bool) -> Any:
    ctx = info.context
    ctx.caller.require(Scope.WRITE, "sending")
    sessions = ctx.zalo.database.sessions
    try:
        async with sessions() as session:
            row = await queue(session)
            await session.commit()
    except IntegrityError:  # the same idempotency code, committed meanwhile by another call
        async with sessions() as session:
            row = await sending.existing(session, code)
        if row is None:
            raise
    sender.ring()
    if wait and row.status not in sending.FINAL:
        row = await sending.wait_final(sessions, row.code)
    return row


def _request(kind: type[_R], given: Any) -> _R:
    """The service's request from the GraphQL input of the same field names."""
    return kind(**{f.name: getattr(given, f.name) for f in dataclasses.fields(kind)})  # type: ignore[arg-type]


@strawberry.type
class SendingMutation:
    @strawberry.mutation(
        description="Queue an OA message to a follower (by code or Zalo user id); with wait, "
        "return once it is sent or failed (at most ~10 s, then as it stands)."
    )
    async def send_message(
        self, info: strawberry.Info[Context], input: SendMessageInput, wait: bool = False
    ) -> MessageRef:  # type: ignore[valid-type]
        ctx = info.context
        request = _request(sending.OaMessage, input)
        return await _send(
            info, lambda s: sending.queue_oa(s, ctx.caller, request), input.code, wait
        )

    @strawberry.mutation(
        description="Queue a ZNS message (template checked before any quota is spent); with "
        "wait, return once it is sent or failed."
    )
    async def send_zns(
        self, info: strawberry.Info[Context], input: SendZnsInput, wait: bool = False
    ) -> MessageRef:  # type: ignore[valid-type]
        ctx = info.context
        request = _request(sending.ZnsMessage, input)
        return await _send(
            info, lambda s: sending.queue_zns(s, ctx.caller, request), input.code, wait
        )

    @strawberry.mutation(
        description="Pull a follower's recent conversation from Zalo (newest `limit` "
        "messages, 10 a call) into messages; rows already stored are skipped."
    )
    async def import_conversation(
        self, info: strawberry.Info[Context], follower_code: str, limit: int = 50
    ) -> ConversationImport:
        ctx = info.context
        ctx.caller.require(Scope.WRITE, "importing a conversation")
        async with ctx.db() as session:
            follower = await conversation.follower_row(session, follower_code)
        chats = await conversation.fetch(
            ctx.zalo.zalo, ctx.zalo.tokens, follower.zalo_oa, follower.zalo, limit
        )
        async with ctx.db() as session:
            result = await conversation.store(session, ctx.caller, follower, chats)
        ctx.clear_loaders()
        return ConversationImport(
            imported=result.imported, skipped=result.skipped, messages=result.rows
        )
