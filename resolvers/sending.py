"""``sendMessage`` and ``sendZns``: check a message and commit it ``queued`` (SPEC §4).

Both build a Messages item and write it through the generic create with the Messages
``prepare_create`` hook, so they apply exactly the checks ``createMessages`` (and REST
``POST /v4/zalo-oa/messages``) applies. The sender (``resolvers.sender``) delivers it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers import _crud, message, official_account
from resolvers.caller import Caller
from resolvers.errors import BadInput, Problem
from resolvers.resources import MESSAGES, TEMPLATES

FINAL = ("sent", "failed", "delivered", "seen")
WAIT_SECONDS = 10.0


@dataclass
class OaMessage:
    """The fields of ``SendMessageInput``."""

    oa_code: str | None = None
    follower_code: str | None = None
    zalo_user_id: str | None = None
    type: str = "text"
    text: str | None = None
    image_url: str | None = None
    attachment_id: str | None = None
    file_token: str | None = None
    quote_message_id: str | None = None
    code: str | None = None


@dataclass
class ZnsMessage:
    """The fields of ``SendZnsInput``."""

    oa_code: str | None = None
    template_code: str | None = None
    template_id: str | None = None
    phone: str | None = None
    template_data: Any = None
    tracking_id: str | None = None
    development: bool = False
    code: str | None = None


# Message fields named differently in the send inputs, for error fields.
_INPUT_NAMES = {"zaloOaCode": "oaCode"}


async def existing(session: AsyncSession, code: str | None) -> Row[Any] | None:
    """The message a repeated idempotency ``code`` already made, if any."""
    if not code:
        return None
    return (await _crud.fetch_by_keys(session, MESSAGES, "code", [code])).get(code)


async def _queue(
    session: AsyncSession, caller: Caller, values: dict[str, Any], rename: dict[str, str]
) -> Row[Any]:
    found = await existing(session, values.get("code"))
    if found is not None:
        return found
    values = {k: v for k, v in values.items() if v is not None}
    result = await _crud.create_many(
        session, MESSAGES, [values], caller, prepare=message.prepare_create
    )
    if not result.ok:
        problems = [
            Problem(p.message, _rename(p.field, rename), None, p.code) for p in result.problems
        ]
        raise BadInput(problems[0].message, problems=problems)
    return result.rows[0]


def _rename(field: str | None, rename: dict[str, str]) -> str | None:
    if field is None:
        return None
    head, dot, rest = field.partition(".")
    return rename.get(head, head) + dot + rest


async def queue_oa(session: AsyncSession, caller: Caller, send: OaMessage) -> Row[Any]:
    """Check an OA message (text, image, file, quote) and record it ``queued``."""
    if send.follower_code and send.zalo_user_id:
        raise BadInput("give followerCode or zaloUserId, not both", "zaloUserId")
    attachments = None
    if send.type == "image":
        payload = {"url": send.image_url} if send.image_url else {}
        if send.attachment_id:
            payload["attachment_id"] = send.attachment_id
        attachments = [{"type": "image", "payload": payload}]
    elif send.type == "file":
        attachments = [{"type": "file", "payload": {"token": send.file_token}}]
    values = {
        "code": send.code,
        "zalo_oa": send.oa_code,
        "follower": send.follower_code,
        "zalo_user_id": send.zalo_user_id,
        "direction": "out",
        "channel": "oa",
        "type": send.type,
        "text": send.text,
        "attachments": attachments,
        "quote_message_id": send.quote_message_id,
    }
    what = "imageUrl" if send.type == "image" else "fileToken"
    return await _queue(session, caller, values, {**_INPUT_NAMES, "attachments": what})


async def queue_zns(session: AsyncSession, caller: Caller, send: ZnsMessage) -> Row[Any]:
    """Check a ZNS message against its template and record it ``queued``."""
    template = send.template_code
    if send.template_id and template:
        raise BadInput("give templateCode or templateId, not both", "templateId")
    if send.template_id and await existing(session, send.code) is None:
        oa = send.oa_code or await official_account.default_code(session)
        table = TEMPLATES.table
        template = (
            await session.execute(
                sa.select(table.c.code)
                .where(table.c.zalo_oa == oa, table.c.template_id == str(send.template_id))
                .order_by(table.c.id)
            )
        ).scalar()
        if template is None:
            raise BadInput(
                f"{oa or 'the default OA'} has no ZNS template with id {send.template_id!r} "
                "(run syncTemplates?)",
                "templateId",
            )
    values = {
        "code": send.code,
        "zalo_oa": send.oa_code,
        "direction": "out",
        "channel": "zns",
        "template": template,
        "template_data": send.template_data,
        "phone": send.phone,
        "tracking_id": send.tracking_id,
        "attachments": message.DEVELOPMENT if send.development else None,
    }
    return await _queue(session, caller, values, _INPUT_NAMES)


async def wait_final(
    sessions: async_sessionmaker[AsyncSession], code: str, within: float = WAIT_SECONDS
) -> Row[Any]:
    """The message once it is sent or failed, or as it stands after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pause = 0.02
    while True:
        async with sessions() as session:
            row = (await _crud.fetch_by_keys(session, MESSAGES, "code", [code]))[code]
        if row.status in FINAL or loop.time() >= deadline:
            return row
        await asyncio.sleep(min(pause, max(deadline - loop.time(), 0)))
        pause = min(pause * 2, 0.25)
