"""What each Zalo event does to the module's data (SPEC §7): one small handler per family.

A handler gets an `Inbound` (the event, its OA, a session inside the applier's savepoint)
and returns ``None`` when it is done, or a reason to try again later: a delivery receipt or
an echo can arrive before the sender has recorded the message's ``ZaloMessageId``. Handlers
are safe to run again after such a wait, and tolerate events out of order: message
statuses only move forward, and follow/unfollow compare the event times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import _crud, events, follower
from resolvers.caller import Caller
from resolvers.resources import FOLLOWERS, MESSAGES
from resolvers.rest_form import rest_item
from zalo import phone

Handler = Callable[["Inbound"], Awaitable[str | None]]
_messages = MESSAGES.table
_followers = FOLLOWERS.table

# Outbound statuses only move up this ladder; `failed` is left only for proof of delivery.
RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "seen": 4}
STATUS_EVENTS = {"delivered": "message.delivered", "seen": "message.seen"}
# `user_submit_info` fields → Follower columns.
INFO_FIELDS = {
    "name": "name",
    "phone": "phone",
    "address": "address",
    "city": "province",
    "district": "district",
    "ward": "ward",
    "user_dob": "birthday",
    "gender": "gender",
}


@dataclass
class Inbound:
    session: AsyncSession
    oa_code: str
    name: str
    payload: dict[str, Any]
    at: datetime  # the event's own timestamp (when Zalo says it happened)
    caller: Caller  # the OA's WebhookUser, recorded as creator of what the event writes
    last_try: bool  # no more waiting: do whatever can be done now

    @property
    def message(self) -> dict[str, Any]:
        value = self.payload.get("message")
        return value if isinstance(value, dict) else {}

    def party(self, key: str) -> str | None:
        value = self.payload.get(key)
        found = value.get("id") if isinstance(value, dict) else None
        return None if found in (None, "") else str(found)


def moment(value: Any) -> datetime | None:
    """Zalo's epoch-millisecond strings as UTC datetimes."""
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


# ---------------------------------------------------------------- followers


# What handlers read of a follower (the row is 110 columns wide; updates return it whole).
_FOLLOWER_STATE = (
    _followers.c.id,
    _followers.c.code,
    _followers.c.is_follower,
    _followers.c.followed_at,
    _followers.c.unfollowed_at,
    _followers.c.last_interaction,
)


async def _find_follower(ev: Inbound, user_id: str) -> Any:
    stmt = sa.select(*_FOLLOWER_STATE).where(
        _followers.c.zalo_oa == ev.oa_code, _followers.c.zalo == user_id
    )
    return (await ev.session.execute(stmt)).first()


async def _follower(ev: Inbound, user_id: str, **new: Any) -> tuple[Any, bool]:
    """The OA's follower with this Zalo id, created (with ``new`` values) when unknown."""
    found = await _find_follower(ev, user_id)
    if found is not None:
        return found, False
    values = {"zalo_oa": ev.oa_code, "zalo": user_id, **new}
    problems = await follower.prepare_create(ev.session, [(0, values)])
    if problems:
        raise RuntimeError("; ".join(p.message for found in problems.values() for p in found))
    row = await _crud.insert_one(ev.session, FOLLOWERS, values, ev.caller, _FOLLOWER_STATE)
    return row, True


async def _update_follower(ev: Inbound, row: Any, changes: dict[str, Any]) -> Any:
    """The follower row with ``changes`` applied (one statement)."""
    result = await ev.session.execute(
        sa.update(_followers)
        .where(_followers.c.id == row.id)
        .values(**changes, modified=_crud.utcnow())
        .returning(*_followers.c)
    )
    return result.one()


async def follow(ev: Inbound) -> str | None:
    """``follow``/``unfollow``: IsFollower and its time, unless a later opposite event won."""
    user_id = ev.party("follower") or ev.party("sender")
    if user_id is None:
        return None
    follows = ev.name == "follow"
    row, created = await _follower(ev, user_id, is_follower=1 if follows else 0)
    stamp, other = ("followed_at", "unfollowed_at") if follows else ("unfollowed_at", "followed_at")
    changes: dict[str, Any] = {stamp: _latest(getattr(row, stamp), ev.at)}
    if follows:
        changes["last_interaction"] = _latest(row.last_interaction, ev.at)
    later_opposite = getattr(row, other) is not None and getattr(row, other) > ev.at
    flipped = created or (not later_opposite and row.is_follower != (1 if follows else 0))
    if flipped:
        changes["is_follower"] = 1 if follows else 0
    row = await _update_follower(ev, row, changes)
    if flipped:
        kind = "follower.followed" if follows else "follower.unfollowed"
        await events.emit(ev.session, kind, ev.oa_code, rest_item(FOLLOWERS, row))
    return None


async def submit_info(ev: Inbound) -> str | None:
    """``user_submit_info``: the contact fields the user shared, on their follower row."""
    user_id = ev.party("sender")
    info = ev.payload.get("info")
    if user_id is None or not isinstance(info, dict):
        return None
    changes: dict[str, Any] = {
        column: str(info[key]).strip()
        for key, column in INFO_FIELDS.items()
        if info.get(key) not in (None, "")
    }
    if "phone" in changes:
        try:
            changes["phone"] = phone.normalize(changes["phone"])
        except ValueError:
            pass  # keep what the user typed
    row, _ = await _follower(ev, user_id)
    changes["last_interaction"] = _latest(row.last_interaction, ev.at)
    await _update_follower(ev, row, changes)
    return None


# ---------------------------------------------------------------- messages


# What status handlers read of a message (updates return the whole row).
_MESSAGE_STATE = (
    _messages.c.id,
    _messages.c.zalo_message_id,
    _messages.c.status,
    _messages.c.delivered_at,
    _messages.c.seen_at,
)


def _kind(name: str, prefix: str) -> str:
    return name.removeprefix(prefix) or "text"


async def _by_zalo_id(ev: Inbound, ids: Iterable[str], direction: str) -> list[Any]:
    stmt = sa.select(*_MESSAGE_STATE).where(
        _messages.c.zalo_oa == ev.oa_code,
        _messages.c.direction == direction,
        _messages.c.zalo_message_id.in_(list(ids)),
    )
    return list((await ev.session.execute(stmt)).all())


async def _insert_message(ev: Inbound, values: dict[str, Any]) -> Any:
    # Its OA and follower were just read in this transaction: no checks to repeat.
    return await _crud.insert_one(ev.session, MESSAGES, values, ev.caller)


async def user_message(ev: Inbound) -> str | None:
    """``user_send_*``: an inbound message, and the follower's LastInteraction."""
    user_id = ev.party("sender")
    msg_id = ev.message.get("msg_id")
    if msg_id and await _by_zalo_id(ev, [str(msg_id)], "in"):
        return None  # already recorded (another copy, or imported history)
    follower_code = None
    if user_id is not None:
        row, _ = await _follower(ev, user_id, last_interaction=ev.at)
        if row.last_interaction is None or row.last_interaction < ev.at:
            await ev.session.execute(
                sa.update(_followers)
                .where(_followers.c.id == row.id)
                .values(last_interaction=ev.at, modified=_crud.utcnow())
            )
        follower_code = row.code
    message = ev.message
    row = await _insert_message(
        ev,
        {
            "zalo_oa": ev.oa_code,
            "follower": follower_code,
            "zalo_user_id": user_id,
            "direction": "in",
            "channel": "oa",
            "event": ev.name,
            "type": _kind(ev.name, "user_send_"),
            "text": message.get("text"),
            "attachments": message.get("attachments"),
            "zalo_message_id": None if msg_id is None else str(msg_id),
            "quote_message_id": message.get("quote_msg_id"),
            "status": "received",
            "attempts": 0,
            "sent_at": ev.at,
        },
    )
    await events.emit(ev.session, events.MESSAGE_RECEIVED, ev.oa_code, rest_item(MESSAGES, row))
    return None


async def _sending_to(ev: Inbound, user_id: str, text: Any) -> bool:
    """Whether the sender has this message in flight (its id not recorded yet): one to the
    same user, with the same text when the echo has text."""
    stmt = (
        sa.select(_messages.c.id)
        .where(
            _messages.c.zalo_oa == ev.oa_code,
            _messages.c.zalo_user_id == user_id,
            _messages.c.direction == "out",
            _messages.c.channel == "oa",
            _messages.c.status.in_(("queued", "sending")),
            _messages.c.zalo_message_id.is_(None),
        )
        .limit(1)
    )
    if isinstance(text, str):
        stmt = stmt.where(_messages.c.text == text)
    return (await ev.session.execute(stmt)).first() is not None


async def oa_echo(ev: Inbound) -> str | None:
    """``oa_send_*``: Zalo's copy of a message the OA sent.

    The module's own sends are already recorded (matched by ZaloMessageId, or waited for
    while the sender has one in flight); a message typed in Zalo's OA admin app is recorded
    once, as an outbound message that was sent.
    """
    msg_id = ev.message.get("msg_id")
    user_id = ev.party("recipient")
    if msg_id is None or user_id is None:
        return None
    if await _by_zalo_id(ev, [str(msg_id)], "out"):
        return None
    if not ev.last_try and await _sending_to(ev, user_id, ev.message.get("text")):
        return f"waiting for the sender to record message {msg_id}"
    found = await _find_follower(ev, user_id)
    message = ev.message
    row = await _insert_message(
        ev,
        {
            "zalo_oa": ev.oa_code,
            "follower": None if found is None else found.code,
            "zalo_user_id": user_id,
            "direction": "out",
            "channel": "oa",
            "event": ev.name,
            "type": _kind(ev.name, "oa_send_"),
            "text": message.get("text"),
            "attachments": message.get("attachments"),
            "zalo_message_id": str(msg_id),
            "quote_message_id": message.get("quote_msg_id"),
            "status": "sent",
            "attempts": 0,
            "sent_at": ev.at,
        },
    )
    await events.emit(ev.session, "message.sent", ev.oa_code, rest_item(MESSAGES, row))
    return None


def _moves(current: str | None, new: str) -> bool:
    if current == "failed":
        return True  # a receipt proves the message arrived after all
    return current is None or (current in RANK and RANK[new] > RANK[current])


async def _advance(ev: Inbound, row: Any, status: str, at: datetime) -> None:
    """Move an outbound message to ``status`` (never backwards) and keep the earliest times."""
    changes: dict[str, Any] = {}
    if _moves(row.status, status):
        changes["status"] = status
        changes["error"] = None
    delivered = _earliest(row.delivered_at, at)
    if delivered != row.delivered_at:
        changes["delivered_at"] = delivered
    if status == "seen" and _earliest(row.seen_at, at) != row.seen_at:
        changes["seen_at"] = _earliest(row.seen_at, at)
    if not changes:
        return
    updated = (
        await ev.session.execute(
            sa.update(_messages)
            .where(_messages.c.id == row.id)
            .values(**changes)
            .returning(*_messages.c)
        )
    ).one()
    if "status" in changes:
        await events.emit(
            ev.session, STATUS_EVENTS[status], ev.oa_code, rest_item(MESSAGES, updated)
        )


async def _receipts(ev: Inbound, ids: list[str], status: str) -> str | None:
    rows = await _by_zalo_id(ev, ids, "out")
    for row in rows:
        await _advance(ev, row, status, ev.at)
    missing = sorted(set(ids) - {r.zalo_message_id for r in rows})
    if missing and not ev.last_try:
        return f"no outbound message with ZaloMessageId {', '.join(missing[:3])} yet"
    return None


async def received(ev: Inbound) -> str | None:
    """``user_received_message``: an OA message (or, with a ``tracking_id``, a ZNS) arrived."""
    message = ev.message
    if "tracking_id" in message or "delivery_time" in message:
        return await zns_delivered(ev)
    msg_id = message.get("msg_id")
    return None if msg_id is None else await _receipts(ev, [str(msg_id)], "delivered")


async def seen(ev: Inbound) -> str | None:
    """``user_seen_message``: every message in ``msg_ids`` was read."""
    ids = ev.message.get("msg_ids") or ([ev.message["msg_id"]] if ev.message.get("msg_id") else [])
    return await _receipts(ev, [str(i) for i in ids], "seen")


async def zns_delivered(ev: Inbound) -> str | None:
    """ZNS ``user_received_message``: found by ``tracking_id`` (or Zalo's ``msg_id``)."""
    message = ev.message
    msg_id = None if message.get("msg_id") is None else str(message["msg_id"])
    tracking = message.get("tracking_id") or None
    conditions = []
    if msg_id is not None:
        conditions.append(_messages.c.zalo_message_id == msg_id)
    if tracking is not None:
        conditions.append(_messages.c.tracking_id == str(tracking))
    if not conditions:
        return None
    stmt = (
        sa.select(*_MESSAGE_STATE)
        .where(
            _messages.c.zalo_oa == ev.oa_code,
            _messages.c.channel == "zns",
            _messages.c.direction == "out",
            sa.or_(*conditions),
        )
        .order_by(_messages.c.id.desc())
    )
    rows = (await ev.session.execute(stmt)).all()
    exact = [r for r in rows if msg_id is not None and r.zalo_message_id == msg_id]
    # A reused tracking id names another send once that send has a different Zalo id.
    by_tracking = [r for r in rows if r.zalo_message_id in (None, msg_id)]
    candidates = exact or by_tracking
    if not candidates:
        return None if ev.last_try else f"no ZNS message with tracking_id {tracking} yet"
    await _advance(ev, candidates[0], "delivered", moment(message.get("delivery_time")) or ev.at)
    return None


EXACT: dict[str, Handler] = {
    "follow": follow,
    "unfollow": follow,
    "user_submit_info": submit_info,
    "user_received_message": received,
    "user_seen_message": seen,
}
PREFIXES: tuple[tuple[str, Handler], ...] = (
    ("user_send_", user_message),
    ("oa_send_", oa_echo),
)


def handler_for(name: str) -> Handler | None:
    """The handler of an event name; ``None`` for events that change nothing here."""
    found = EXACT.get(name)
    if found is not None:
        return found
    return next((handler for prefix, handler in PREFIXES if name.startswith(prefix)), None)
