"""The fake's sending endpoints: consultation messages, UID templates and the retired v2 send.

Every accepted send is recorded (``World.sent_oa``) and never deduplicated, so tests can see
a message that went out twice.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from zalo.sandbox import webhook, zns
from zalo.sandbox.state import (
    INTERACTION_WINDOW_MS,
    ChatRow,
    Oa,
    SentOa,
    User,
    new_message_id,
)
from zalo.sandbox.wire import Caller, Fail, guarded, json_body

MAX_TEXT = 2000
_MEDIA_TYPES = {"image": "photo", "gif": "gif", "sticker": "sticker"}


def _text(value: Any, name: str = "text") -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise Fail(-201, f"{name} is invalid")
    return value


def _attachment(oa: Oa, attachment: Any) -> tuple[str, dict[str, Any]]:
    """Validate a cs attachment; answer the conversation row type and its extra fields."""
    if not isinstance(attachment, dict):
        raise Fail(-201, "attachment is invalid")
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        raise Fail(-201, "attachment.payload is invalid")
    if attachment.get("type") == "file":
        if oa.uploads.get(str(payload.get("token"))) != "file":
            raise Fail(-201, "token is invalid")
        return "file", {}
    if attachment.get("type") != "template":
        raise Fail(-201, "attachment.type is invalid")
    elements = payload.get("elements")
    if not isinstance(elements, list) or not elements or not isinstance(elements[0], dict):
        raise Fail(-201, "elements is invalid")
    element = elements[0]
    template_type = payload.get("template_type")
    if template_type == "request_user_info":
        for name in ("title", "subtitle", "image_url"):
            if not isinstance(element.get(name), str) or not element[name]:
                raise Fail(-201, f"{name} is invalid")
        return "request_user_info", {"description": element["subtitle"]}
    if template_type != "media" or element.get("media_type") not in _MEDIA_TYPES:
        raise Fail(-201, "template_type is invalid")
    media_type = element["media_type"]
    if media_type == "gif" and not (element.get("width") and element.get("height")):
        raise Fail(-201, "width and height are required for gif")
    if "attachment_id" in element:
        if media_type != "sticker" and oa.uploads.get(str(element["attachment_id"])) not in (
            "image",
            "gif",
        ):
            raise Fail(-201, "attachment_id is invalid")
        return _MEDIA_TYPES[media_type], {"thumb": "", "url": ""}
    url = element.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise Fail(-201, "url is invalid")
    return _MEDIA_TYPES[media_type], {"url": url, "thumb": url}


def _record(
    caller: Caller, user: User, kind: str, text: str | None, message: dict[str, Any], extra: Any
) -> SentOa:
    world, oa = caller.world, caller.oa
    sent = SentOa(
        new_message_id(), oa.oa_id, user.user_id, kind, text, message, world.clock.now_ms()
    )
    world.sent_oa.append(sent)
    oa.chats.append(ChatRow(sent.message_id, user.user_id, 0, sent.sent_ms, kind, text, extra))
    if world.knobs.echo_webhooks:
        caller.background.add_task(webhook.echo, world, caller.app, oa, sent)
    return sent


@guarded("openapi", send=True)
async def send_cs(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    recipient, message = body.get("recipient"), body.get("message")
    if not isinstance(recipient, dict) or not recipient.get("user_id"):
        raise Fail(-201, "recipient.user_id is invalid")
    if not isinstance(message, dict) or not ("text" in message or "attachment" in message):
        raise Fail(-201, "message is invalid")
    user = caller.oa.users.get(str(recipient["user_id"]))
    if user is None:
        raise Fail(-201, "user_id is invalid")
    text = _text(message["text"]) if "text" in message else None
    if "attachment" in message:
        kind, extra = _attachment(caller.oa, message["attachment"])
    else:
        kind, extra = "text", {}
    quoted = message.get("quote_message_id")
    if quoted is not None and not any(row.message_id == quoted for row in caller.oa.chats):
        raise Fail(-201, "quote_message_id is invalid")
    now_ms = caller.world.clock.now_ms()
    if now_ms - user.last_interaction_ms > INTERACTION_WINDOW_MS:
        raise Fail(-230, "User has not interacted with the OA in the past 7 days")
    sent = _record(caller, user, kind, text, message, extra)
    return {
        "message_id": sent.message_id,
        "user_id": user.user_id,
        "sent_time": str(sent.sent_ms),
        "quota": {"quota_type": "reply", "remain": "8", "total": "8"},
    }


@guarded("openapi", send=True)
async def send_uid_template(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    recipient = body.get("recipient")
    user_id = body.get("user_id") or (
        recipient.get("user_id") if isinstance(recipient, dict) else None
    )
    user = caller.oa.users.get(str(user_id))
    if user is None:
        raise Fail(-201, "user_id is invalid")
    template = caller.oa.templates.get(str(body.get("template_id")))
    if template is None:
        raise Fail(-201, "template_id is invalid")
    data = zns.checked_data(template, body.get("template_data"))
    message = {"template_id": template.template_id, "template_data": data}
    sent = _record(caller, user, "template", None, message, {})
    return {"message_id": sent.message_id, "user_id": user.user_id, "sent_time": str(sent.sent_ms)}


@guarded("openapi")
async def send_v2(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    if "message" in body:
        raise Fail(-240, "MessageV2 API has been shut down")
    action = body.get("sender_action")
    if not isinstance(action, dict) or not action.get("react_message_id"):
        raise Fail(-201, "sender_action is invalid")
    return {"message_id": str(action["react_message_id"])}
