"""Rules of Messages beyond the generic CRUD: direction, channel, initial status, and the one
check every outbound message passes before it is queued.

`check_outbound` is shared by ``sendMessage``, ``sendZns`` and ``createMessages`` (so REST
``POST /v4/zalo-oa/messages`` too): an item that fails it is reported by index and field and
nothing of its batch is queued. Problems name GraphQL fields of ``Message``
(``followerCode``, ``templateData.otp``); the send mutations rename the few that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import _crud, official_account
from resolvers.errors import Problem
from resolvers.resources import FOLLOWERS, OFFICIAL_ACCOUNTS, TEMPLATES
from zalo import phone as phones

Items = list[tuple[int, dict[str, Any]]]
DIRECTIONS = ("in", "out")
CHANNELS = ("oa", "zns")
OA_TYPES = ("text", "image", "file")
MAX_TEXT = 2000
MAX_TRACKING_ID = 48
# Zalo accepts consultation messages within 7 days of the user's last interaction; its
# user/detail gives that day as a Vietnamese calendar date, so the check counts days there.
INTERACTION_WINDOW = timedelta(days=7)
ZALO_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DEVELOPMENT = {"mode": "development"}  # ZNS send options, kept in Attachments
NOT_AUTHORIZED, DISABLED_BY_ZALO = 0, 3


async def prepare_create(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    """Outbound items are checked and queued for the sender; inbound ones are history."""
    problems: dict[int, list[Problem]] = {}
    outbound: Items = []
    for index, values in items:
        direction = values.setdefault("direction", "out")
        if direction not in DIRECTIONS:
            _add(problems, index, "direction must be 'in' or 'out'", "direction")
        channel = values.setdefault("channel", "zns" if values.get("template") else "oa")
        if channel not in CHANNELS:
            _add(problems, index, "channel must be 'oa' or 'zns'", "channel")
        if direction == "out" and channel in CHANNELS and index not in problems:
            outbound.append((index, values))
        else:
            values.setdefault("type", "zns" if channel == "zns" else "text")
            values.setdefault("status", "received" if direction == "in" else "queued")
            values.setdefault("attempts", 0)
    for index, found in (await check_outbound(session, outbound)).items():
        problems.setdefault(index, []).extend(found)
    return problems


def _add(problems: dict[int, list[Problem]], index: int, message: str, field: str) -> None:
    problems.setdefault(index, []).append(Problem(message, field, index))


@dataclass
class _Known:
    """The rows an outbound batch refers to, loaded with one statement per table."""

    accounts: dict[Any, Row[Any]]
    followers: dict[Any, Row[Any]]
    by_zalo: dict[tuple[str, str], Row[Any]]
    templates: dict[Any, Row[Any]]


async def _load(session: AsyncSession, items: Items) -> _Known:
    followers = await _crud.fetch_by_keys(
        session, FOLLOWERS, "code", [v["follower"] for _, v in items if v.get("follower")]
    )
    # An OA comes from the item, else from its follower, else it is the default OA.
    default: str | None = None
    for _, values in items:
        if values.get("zalo_oa") is None:
            follower = followers.get(values.get("follower"))
            if follower is not None and follower.zalo_oa:
                values["zalo_oa"] = follower.zalo_oa
            else:
                if default is None:
                    default = await official_account.default_code(session)
                values["zalo_oa"] = default
    accounts = await _crud.fetch_by_keys(
        session, OFFICIAL_ACCOUNTS, "code", [v["zalo_oa"] for _, v in items if v.get("zalo_oa")]
    )
    pairs = [
        (v["zalo_oa"], str(v["zalo_user_id"]))
        for _, v in items
        if v.get("zalo_user_id") and not v.get("follower") and v.get("zalo_oa")
    ]
    by_zalo: dict[tuple[str, str], Row[Any]] = {}
    if pairs:
        table = FOLLOWERS.table
        rows = await session.execute(
            sa.select(table).where(sa.tuple_(table.c.zalo_oa, table.c.zalo).in_(pairs))
        )
        by_zalo = {(r.zalo_oa, r.zalo): r for r in rows.all()}
    templates = await _crud.fetch_by_keys(
        session, TEMPLATES, "code", [v["template"] for _, v in items if v.get("template")]
    )
    return _Known(accounts, followers, by_zalo, templates)


async def check_outbound(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    """Check outbound items and complete them (OA, recipient, normalised phone, status).

    Unknown codes of an OA, follower or template are left to the generic reference check,
    which names them; everything else that would make Zalo refuse the message, or make it
    impossible to send, is a problem here.
    """
    problems: dict[int, list[Problem]] = {}
    if not items:
        return problems
    known = await _load(session, items)
    now = _crud.utcnow()
    for index, values in items:
        found: list[Problem] = []
        account = known.accounts.get(values.get("zalo_oa"))
        if values.get("zalo_oa") is None:
            found.append(Problem("no default official account: give zaloOaCode", "zaloOaCode"))
        elif account is not None:
            found.extend(_account_problems(account))
            if values["channel"] == "oa":
                found.extend(_oa_problems(values, account, known, now))
            else:
                found.extend(_zns_problems(values, account, known))
        for problem in found:
            problem.index = index
        if found:
            problems[index] = found
        values["status"] = "queued"
        values["attempts"] = 0
    return problems


def _account_problems(account: Row[Any]) -> list[Problem]:
    if account.is_enabled is False or account.status == DISABLED_BY_ZALO:
        return [Problem(f"official account {account.code} is disabled", "zaloOaCode")]
    if account.status in (None, NOT_AUTHORIZED):
        return [
            Problem(
                f"official account {account.code} is not authorized yet "
                "(authorizeOfficialAccount first)",
                "zaloOaCode",
            )
        ]
    return []


def _recipient(
    values: dict[str, Any], account: Row[Any], known: _Known
) -> tuple[Row[Any] | None, list[Problem]]:
    """The follower an OA message goes to; fills in ``follower`` and ``zalo_user_id``."""
    code, user_id = values.get("follower"), values.get("zalo_user_id")
    if not code and not user_id:
        return None, [Problem("give followerCode or zaloUserId", "followerCode")]
    if not code:
        follower = known.by_zalo.get((account.code, str(user_id)))
        if follower is None:
            return None, [
                Problem(
                    f"no follower of {account.code} has Zalo user id {user_id!r} "
                    "(sync followers first?)",
                    "zaloUserId",
                )
            ]
        values["follower"] = follower.code
        return follower, []
    follower = known.followers.get(code)
    if follower is None:
        return None, []  # the reference check names the unknown code
    if follower.zalo_oa != account.code:
        return None, [
            Problem(
                f"follower {code} follows {follower.zalo_oa}, not {account.code}", "followerCode"
            )
        ]
    if not follower.zalo:
        return None, [Problem(f"follower {code} has no Zalo user id", "followerCode")]
    if user_id and str(user_id) != follower.zalo:
        return None, [
            Problem(f"zaloUserId {user_id!r} is not follower {code}'s Zalo user id", "zaloUserId")
        ]
    values["zalo_user_id"] = follower.zalo
    return follower, []


def _oa_problems(
    values: dict[str, Any], account: Row[Any], known: _Known, now: datetime
) -> list[Problem]:
    named_by = "followerCode" if values.get("follower") else "zaloUserId"
    follower, found = _recipient(values, account, known)
    kind = values.setdefault("type", "text")
    text = values.get("text")
    if kind not in OA_TYPES:
        found.append(Problem(f"type must be one of {', '.join(OA_TYPES)}", "type"))
    elif kind == "text" and (not isinstance(text, str) or not text.strip()):
        found.append(Problem("a text message needs text", "text"))
    if isinstance(text, str) and len(text) > MAX_TEXT:
        found.append(Problem(f"text is longer than {MAX_TEXT} characters", "text"))
    if kind in ("image", "file"):
        found.extend(_attachment_problems(kind, values.get("attachments")))
    if values.get("quote_message_id") and kind != "text":
        found.append(Problem("only a text message can quote another", "quoteMessageId"))
    if follower is not None and follower.last_interaction is not None:
        last = follower.last_interaction.astimezone(ZALO_ZONE).date()
        if last < (now - INTERACTION_WINDOW).astimezone(ZALO_ZONE).date():
            found.append(
                Problem(
                    f"follower {follower.code} last interacted with the OA on {last.isoformat()}, "
                    "more than 7 days ago: Zalo refuses consultation messages then "
                    "(send a ZNS instead)",
                    named_by,
                )
            )
    return found


def _attachment_problems(kind: str, attachments: Any) -> list[Problem]:
    """An image is ``[{"type": "image", "payload": {"url" | "attachment_id"}}]``, a file
    ``[{"type": "file", "payload": {"token"}}]`` (the shape of Zalo's inbound events)."""
    first = attachments[0] if isinstance(attachments, list) and len(attachments) == 1 else None
    payload = first.get("payload") if isinstance(first, dict) else None
    if not isinstance(payload, dict) or first.get("type") != kind:  # type: ignore[union-attr]
        return [Problem(f"a {kind} message needs one {kind} attachment", "attachments")]
    if kind == "file":
        if not isinstance(payload.get("token"), str) or not payload["token"]:
            return [Problem("a file message needs the upload token", "attachments")]
        return []
    url, attachment_id = payload.get("url"), payload.get("attachment_id")
    if (url is None) == (attachment_id is None):
        return [Problem("an image needs a url or an attachment id (one of them)", "attachments")]
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        return [Problem("the image url must be http(s)", "attachments")]
    return []


def _zns_problems(values: dict[str, Any], account: Row[Any], known: _Known) -> list[Problem]:
    found: list[Problem] = []
    values["type"] = "zns"
    follower = known.followers.get(values.get("follower"))
    if follower is not None and follower.zalo_oa != account.code:
        found.append(
            Problem(
                f"follower {follower.code} follows {follower.zalo_oa}, not {account.code}",
                "followerCode",
            )
        )
    if not values.get("phone") and follower is not None and follower.phone:
        values["phone"] = follower.phone
    if not values.get("phone"):
        found.append(Problem("a ZNS message needs a phone number", "phone"))
    else:
        try:
            values["phone"] = phones.normalize(str(values["phone"]))
        except ValueError:
            found.append(Problem(f"{values['phone']!r} is not a Vietnamese phone number", "phone"))
    tracking = values.get("tracking_id")
    if tracking is None:
        values["tracking_id"] = values["code"]  # the key the ZNS delivery event carries back
    elif len(str(tracking)) > MAX_TRACKING_ID:
        found.append(
            Problem(f"trackingId is longer than {MAX_TRACKING_ID} characters", "trackingId")
        )
    if values.get("attachments") not in (None, DEVELOPMENT):
        found.append(
            Problem('a ZNS message takes no attachments but {"mode": "development"}', "attachments")
        )
    code = values.get("template")
    if not code:
        found.append(Problem("a ZNS message needs a template", "templateCode"))
        return found
    template = known.templates.get(code)
    if template is None:
        return found  # the reference check names the unknown code
    if template.zalo_oa != account.code:
        found.append(
            Problem(
                f"template {code} belongs to {template.zalo_oa}, not {account.code}", "templateCode"
            )
        )
    elif not template.template_id:
        found.append(Problem(f"template {code} has no Zalo template id", "templateCode"))
    elif template.status != "ENABLE":
        found.append(
            Problem(
                f"template {code} is {template.status or 'not synced'}: only ENABLE templates "
                "can be sent",
                "templateCode",
            )
        )
    found.extend(template_data_problems(template.params, values.get("template_data")))
    return found


def template_data_problems(params: Any, data: Any) -> list[Problem]:
    """``template_data`` against the template's ``Params`` (required, max/min length), so a
    message Zalo would refuse never spends quota. Without synced params nothing is checked."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return [Problem("templateData must be an object of param values", "templateData")]
    if not isinstance(params, list):
        return []
    found: list[Problem] = []
    names = set()
    for param in params:
        if not isinstance(param, dict) or not param.get("name"):
            continue
        name = str(param["name"])
        names.add(name)
        field = f"templateData.{name}"
        value = data.get(name)
        if value is None or value == "":
            if param.get("required", True) and not param.get("acceptNull", False):
                found.append(Problem(f"{field} is required by the template", field))
            continue
        if isinstance(value, dict | list | bool):
            found.append(Problem(f"{field} must be a string or a number", field))
            continue
        length = len(str(value))
        longest, shortest = _int(param.get("maxLength")), _int(param.get("minLength"))
        if longest is not None and length > longest:
            found.append(Problem(f"{field} is longer than {longest} characters", field))
        elif shortest and length < shortest:
            found.append(Problem(f"{field} is shorter than {shortest} characters", field))
    for name in data:
        if name not in names:
            found.append(
                Problem(
                    f"templateData.{name} is not a param of the template", f"templateData.{name}"
                )
            )
    return found


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None
