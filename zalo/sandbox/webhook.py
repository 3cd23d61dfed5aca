"""The fake's webhook emitter: Zalo-shaped events, signed over the exact bytes it POSTs.

Event ``timestamp`` values are wall-clock time, not the fake clock, because receivers
compare them with their own clock; state changes (last interaction, conversation rows) use
the fake clock like everything else in the sandbox.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from zalo.sandbox.state import (
    KEEP_RECORDS,
    App,
    ChatRow,
    Oa,
    SentOa,
    SentZns,
    User,
    World,
    new_message_id,
)
from zalo.signature import webhook_signature

ANSWER_WITHIN_SECONDS = 2.0
STALE_BY_MS = 3_600_000
# Shorthand fields of an emit request; everything else is copied into the payload as given.
_SHORTHANDS = {
    "event_name",
    "oa_id",
    "user_id",
    "app_id",
    "text",
    "attachments",
    "msg_id",
    "msg_ids",
    "display_name",
    "phone",
    "tracking_id",
    "zns",
    "delivery",
    "hold",
}
_ZNS_EVENTS = {"change_template_status", "change_oa_daily_quota", "change_oa_template_tags"}
_ROW_TYPES = {"text": "text", "image": "photo", "gif": "gif", "sticker": "sticker", "file": "file"}
_ECHO_EVENTS = {
    "text": "oa_send_text",
    "photo": "oa_send_image",
    "gif": "oa_send_gif",
    "sticker": "oa_send_sticker",
    "file": "oa_send_file",
}


@dataclass
class Event:
    app: App
    payload: dict[str, Any]
    zns: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _user(world: World, oa: Oa, user_id: str, display_name: str | None) -> User:
    """The user an event is about; people Zalo knows but the OA never saw are created."""
    user = oa.users.get(user_id)
    if user is None:
        name = display_name or f"Người dùng {user_id[-4:]}"
        user = User(user_id, name, is_follower=False, last_interaction_ms=world.clock.now_ms())
        oa.users[user_id] = user
    return user


def _merge(payload: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(payload.get(key), dict):
            payload[key] = {**payload[key], **value}
        else:
            payload[key] = value


def build(world: World, spec: dict[str, Any]) -> Event:
    """Turn an emit request into an event and apply what it means to the fake's state."""
    name = spec.get("event_name")
    if not isinstance(name, str) or not name:
        raise ValueError("event_name is required")
    if "oa_id" in spec:
        oa = world.oas[str(spec["oa_id"])]
        app = world.app_for_oa(oa.oa_id, spec.get("app_id"))
    elif "app_id" in spec:
        app = world.apps[str(spec["app_id"])]
        oa = world.oas[app.oa_id]
    else:
        raise ValueError("oa_id or app_id is required")
    user_id = str(spec.get("user_id", ""))
    payload: dict[str, Any] = {"app_id": app.app_id, "event_name": name, "timestamp": ""}
    msg_id = str(spec.get("msg_id") or new_message_id())
    zns = bool(spec.get("zns")) or name in _ZNS_EVENTS
    now_ms = world.clock.now_ms()

    if zns and name == "user_received_message":
        sent = next((m for m in world.sent_zns if m.msg_id == msg_id), None)
        phone = sent.phone if sent else str(spec.get("phone", ""))
        tracking = sent.tracking_id if sent else str(spec.get("tracking_id", ""))
        if sent:
            sent.status, sent.delivery_ms = 1, sent.delivery_ms or now_ms
        payload["sender"] = {"id": oa.oa_id}
        payload["recipient"] = {"id": phone}
        payload["message"] = {
            "delivery_time": str(sent.delivery_ms if sent else now_ms),
            "msg_id": msg_id,
            "tracking_id": tracking,
        }
    elif zns:
        payload["oa_id"] = oa.oa_id
        new_status = (spec.get("status") or {}).get("new_status")
        template = oa.templates.get(str(spec.get("template_id", "")))
        if name == "change_template_status" and template and isinstance(new_status, str):
            template.status = new_status
    elif name in ("follow", "unfollow"):
        user = _user(world, oa, user_id, spec.get("display_name"))
        user.is_follower = name == "follow"
        if user.is_follower:
            user.last_interaction_ms = now_ms
        payload.update(
            oa_id=oa.oa_id,
            follower={"id": user_id},
            user_id_by_app=user.user_id_by_app,
            source="oa_profile",
        )
    elif name.startswith(("user_send_", "anonymous_send_", "user_submit_info")):
        user = _user(world, oa, user_id, spec.get("display_name"))
        user.last_interaction_ms = now_ms
        payload.update(sender={"id": user_id}, recipient={"id": oa.oa_id})
        payload["user_id_by_app"] = user.user_id_by_app
        if name == "user_submit_info":
            info = spec.get("info")
            user.shared_info = info if isinstance(info, dict) else user.shared_info
        else:
            message: dict[str, Any] = {"msg_id": msg_id}
            for key in ("text", "attachments"):
                if key in spec:
                    message[key] = spec[key]
            payload["message"] = message
            kind = _ROW_TYPES.get(name.rsplit("_", 1)[-1], name.rsplit("_", 1)[-1])
            text = spec.get("text") if isinstance(spec.get("text"), str) else None
            oa.chats.append(ChatRow(msg_id, user_id, 1, now_ms, kind, text))
    elif name.startswith("oa_send_") or name in ("user_received_message", "user_seen_message"):
        known = oa.users.get(user_id)
        payload.update(sender={"id": oa.oa_id}, recipient={"id": user_id})
        if known:
            payload["user_id_by_app"] = known.user_id_by_app
        if name == "user_seen_message":
            payload["message"] = {"msg_ids": spec.get("msg_ids") or [msg_id]}
        else:
            payload["message"] = {"msg_id": msg_id}
            if "text" in spec:
                payload["message"]["text"] = spec["text"]
    else:
        payload["oa_id"] = oa.oa_id
        if user_id:
            payload["user_id"] = user_id

    _merge(payload, {k: v for k, v in spec.items() if k not in _SHORTHANDS})
    delivery = spec.get("delivery")
    return Event(app, payload, zns, delivery if isinstance(delivery, dict) else {})


async def deliver(world: World, event: Event) -> dict[str, Any]:
    """Sign and POST one event (twice if asked), retrying as Zalo does; report every try.

    With no target set the event is only signed and recorded, as if nobody listened.
    """
    knobs = world.knobs
    options = {
        "signature": knobs.webhook_signature,
        "stale": knobs.webhook_stale,
        "duplicate": knobs.webhook_duplicate,
        "retries": knobs.webhook_retries,
        **event.options,
    }
    url = event.app.webhook_url or world.webhook_url
    payload = dict(event.payload)
    payload["timestamp"] = str(_wall_ms() - (STALE_BY_MS if options["stale"] else 0))
    body = orjson.dumps(payload)
    secret = event.app.oa_secret_key
    if options["signature"] == "wrong_secret":
        secret = "not-" + secret
    mac = webhook_signature(event.app.app_id, body, payload["timestamp"], secret)
    headers = {"Content-Type": "application/json", "User-Agent": "Zalo-Webhook (sandbox)"}
    if options["signature"] != "none":
        headers["X-ZEvent-Signature"] = mac if options["signature"] == "bare" else f"mac={mac}"
    if event.zns:
        headers["X-ZEvent-Server"] = "ZNS"
    attempts: list[dict[str, Any]] = []
    copies = 0 if url is None else 2 if options["duplicate"] else 1
    async with httpx.AsyncClient(timeout=ANSWER_WITHIN_SECONDS) as http:
        for copy in range(copies):
            for retry in range(int(options["retries"]) + 1):
                sent_headers = {**headers, **({"num_retry": str(retry)} if retry else {})}
                outcome: dict[str, Any] = {"copy": copy + 1, "attempt": retry + 1}
                try:
                    response = await http.post(str(url), content=body, headers=sent_headers)
                    outcome["status"] = response.status_code
                except httpx.HTTPError as exc:
                    outcome["status"], outcome["error"] = None, type(exc).__name__
                attempts.append(outcome)
                if outcome["status"] == 200:
                    break
    record = {
        "event_name": payload["event_name"],
        "url": url,
        "body": body.decode(),
        "signature": headers.get("X-ZEvent-Signature"),
        "deliveries": attempts,
    }
    world.deliveries.append(record)
    del world.deliveries[:-KEEP_RECORDS]
    return {**record, "payload": payload}


async def echo(world: World, app: App, oa: Oa, sent: SentOa) -> None:
    """The ``oa_send_*`` event Zalo fires for a message the OA sent through the API."""
    name = _ECHO_EVENTS.get(sent.type)
    if name is None:
        return
    message: dict[str, Any] = {"msg_id": sent.message_id}
    if sent.text is not None:
        message["text"] = sent.text
    user = oa.users.get(sent.user_id)
    payload = {
        "app_id": app.app_id,
        "event_name": name,
        "sender": {"id": oa.oa_id},
        "recipient": {"id": sent.user_id},
        "message": message,
        "user_id_by_app": user.user_id_by_app if user else "",
        "timestamp": "",
    }
    await deliver(world, Event(app, payload))


async def zns_delivered(world: World, app: App, sent: SentZns) -> None:
    """The ZNS ``user_received_message`` event for a sent template message."""
    await asyncio.sleep(world.knobs.zns_delivery_delay_seconds)
    event = build(
        world,
        {
            "event_name": "user_received_message",
            "zns": True,
            "app_id": app.app_id,
            "oa_id": sent.oa_id,
            "msg_id": sent.msg_id,
        },
    )
    await deliver(world, event)
