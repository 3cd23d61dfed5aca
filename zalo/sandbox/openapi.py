"""The fake ``openapi.zalo.me``: OA info, followers, conversations, tags, uploads and quotas.

Sending lives in :mod:`zalo.sandbox.messages`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import Route

from zalo.sandbox import messages
from zalo.sandbox.state import VN_TZ, ChatRow, Clock, Oa, interaction_date
from zalo.sandbox.wire import Caller, Fail, data_param, guarded, int_field, json_body

MAX_FOLLOWER_PAGE = 50
MAX_FOLLOWER_OFFSET = 9951
MAX_CHAT_PAGE = 10
_UPLOADS = {
    # kind: (size cap, accepted file name endings, answer field)
    "image": (1 << 20, (".jpg", ".jpeg", ".png"), "attachment_id"),
    "gif": (5 << 20, (".gif",), "attachment_id"),
    "file": (5 << 20, (".pdf", ".doc", ".docx"), "token"),
}


@guarded("openapi")
async def getoa(request: Request, caller: Caller) -> Any:
    oa = caller.oa
    return {
        "oa_id": oa.oa_id,
        "name": oa.name,
        "description": oa.description,
        "oa_alias": oa.oa_alias,
        "is_verified": oa.is_verified,
        "oa_type": oa.oa_type,
        "cate_name": oa.cate_name,
        "num_follower": sum(user.is_follower for user in oa.users.values()),
        "avatar": oa.avatar,
        "cover": oa.cover,
        "package_name": oa.package_name,
        "package_valid_through_date": "31/12/2099",
        "package_auto_renew_date": "31/12/2099",
        "linked_ZCA": oa.linked_zca,
    }


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, VN_TZ).date()


def _period(value: str, clock: Clock) -> Callable[[int], bool]:
    today = clock.today().date()
    spans = {"TODAY": 0, "L7D": 6, "L30D": 29}
    if value in spans:
        start, end = today - timedelta(days=spans[value]), today
    elif value == "YESTERDAY":
        start = end = today - timedelta(days=1)
    else:
        try:
            first, _, last = value.partition(":")
            start = datetime.strptime(first, "%Y_%m_%d").date()
            end = datetime.strptime(last, "%Y_%m_%d").date()
        except ValueError:
            raise Fail(-201, "last_interaction_period is invalid")
    return lambda ms: start <= _day(ms) <= end


@guarded("openapi")
async def getlist(request: Request, caller: Caller) -> Any:
    params = data_param(request)
    offset = int_field(params, "offset", None)
    count = int_field(params, "count", None)
    if offset < 0 or count < 1:
        raise Fail(-201, "offset or count is invalid")
    if count > MAX_FOLLOWER_PAGE or offset > MAX_FOLLOWER_OFFSET:
        raise Fail(-210, "Parameter exceeds the allowed limit")
    users = list(caller.oa.users.values())
    if "is_follower" in params:
        wanted = str(params["is_follower"]).lower() in ("true", "1")
        users = [user for user in users if user.is_follower == wanted]
    if params.get("tag_name"):
        users = [user for user in users if params["tag_name"] in user.tags]
    if params.get("last_interaction_period"):
        within = _period(str(params["last_interaction_period"]), caller.world.clock)
        users = [user for user in users if within(user.last_interaction_ms)]
    page = users[offset : offset + count]
    return {
        "total": len(users),
        "count": len(page),
        "offset": offset,
        "users": [{"user_id": user.user_id} for user in page],
    }


@guarded("openapi")
async def user_detail(request: Request, caller: Caller) -> Any:
    user = caller.oa.users.get(str(data_param(request).get("user_id", "")))
    if user is None:
        raise Fail(-201, "user_id is invalid")
    return {
        "user_id": user.user_id,
        "user_id_by_app": user.user_id_by_app,
        "user_external_id": "",
        "display_name": user.display_name,
        "user_alias": user.display_name,
        "is_sensitive": False,
        "user_last_interaction_date": interaction_date(user.last_interaction_ms),
        "user_is_follower": user.is_follower,
        "avatar": user.avatar,
        "avatars": {"120": user.avatar, "240": user.avatar},
        "dynamic_param": "",
        "tags_and_notes_info": {"notes": user.notes, "tag_names": user.tags},
        "shared_info": user.shared_info,
    }


def chat_row(oa: Oa, row: ChatRow, id_field: str) -> dict[str, Any]:
    user = oa.users.get(row.user_id)
    user_side = {
        "id": row.user_id,
        "display_name": user.display_name if user else "",
        "avatar": user.avatar if user else "",
    }
    oa_side = {"id": oa.oa_id, "display_name": oa.name, "avatar": oa.avatar}
    sender, receiver = (user_side, oa_side) if row.src == 1 else (oa_side, user_side)
    return {
        id_field: row.message_id,
        "src": row.src,
        "time": row.time_ms,
        "type": row.type,
        "message": row.text or "",
        "from_id": sender["id"],
        "from_display_name": sender["display_name"],
        "from_avatar": sender["avatar"],
        "to_id": receiver["id"],
        "to_display_name": receiver["display_name"],
        "to_avatar": receiver["avatar"],
        **row.extra,
    }


def _chat_page(params: dict[str, Any]) -> tuple[int, int]:
    offset = int_field(params, "offset", 0)
    count = int_field(params, "count", 5)
    if offset < 0 or count < 1:
        raise Fail(-201, "offset or count is invalid")
    if count > MAX_CHAT_PAGE:
        raise Fail(-210, "Parameter exceeds the allowed limit")
    return offset, count


@guarded("openapi")
async def list_recent_chat(request: Request, caller: Caller) -> Any:
    offset, count = _chat_page(data_param(request))
    latest: dict[str, ChatRow] = {}
    for row in reversed(caller.oa.chats):
        latest.setdefault(row.user_id, row)
    rows = list(latest.values())[offset : offset + count]
    id_field = caller.world.knobs.conversation_id_field
    return [chat_row(caller.oa, row, id_field) for row in rows]


@guarded("openapi")
async def conversation(request: Request, caller: Caller) -> Any:
    params = data_param(request)
    offset, count = _chat_page(params)
    user_id = str(params.get("user_id", ""))
    if user_id not in caller.oa.users:
        raise Fail(-201, "user_id is invalid")
    rows = [row for row in reversed(caller.oa.chats) if row.user_id == user_id]
    id_field = caller.world.knobs.conversation_id_field
    return [chat_row(caller.oa, row, id_field) for row in rows[offset : offset + count]]


def _upload(kind: str) -> Callable[..., Any]:
    cap, endings, answer_field = _UPLOADS[kind]

    @guarded("openapi")
    async def upload(request: Request, caller: Caller) -> Any:
        async with request.form() as form:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise Fail(-201, "file is invalid")
            if not file.filename.lower().endswith(endings):
                raise Fail(-201, "file type is invalid")
            content = await file.read()
        if len(content) > cap:
            raise Fail(-210, "File size exceeds the allowed limit")
        upload_id = secrets.token_hex(16)
        caller.oa.uploads[upload_id] = kind
        return {answer_field: upload_id}

    return upload


def _user(caller: Caller, body: dict[str, Any]) -> Any:
    user = caller.oa.users.get(str(body.get("user_id", "")))
    if user is None:
        raise Fail(-201, "user_id is invalid")
    return user


def _tag_name(body: dict[str, Any]) -> str:
    tag = body.get("tag_name")
    if not isinstance(tag, str) or not tag.strip():
        raise Fail(-201, "tag_name is invalid")
    return tag


@guarded("openapi")
async def get_tags(request: Request, caller: Caller) -> Any:
    return list(caller.oa.tags)


@guarded("openapi")
async def tag_follower(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    user, tag = _user(caller, body), _tag_name(body)
    if tag not in caller.oa.tags:
        caller.oa.tags.append(tag)
    if tag not in user.tags:
        user.tags.append(tag)
    return None


@guarded("openapi")
async def untag_follower(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    user, tag = _user(caller, body), _tag_name(body)
    if tag in user.tags:
        user.tags.remove(tag)
    return None


@guarded("openapi")
async def remove_tag(request: Request, caller: Caller) -> Any:
    tag = _tag_name(await json_body(request))
    if tag not in caller.oa.tags:
        raise Fail(-201, "tag_name is invalid")
    caller.oa.tags.remove(tag)
    for user in caller.oa.users.values():
        if tag in user.tags:
            user.tags.remove(tag)
    return None


@guarded("openapi")
async def message_quota(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    if "user_id" in body:
        user = _user(caller, body)
        return {
            "last_interaction": str(user.last_interaction_ms),
            "cs_reply": {"remain": "8", "total": "8"},
            "promotion": {
                "daily_remain": "1",
                "daily_total": "1",
                "monthly_remain": "4",
                "monthly_total": "4",
            },
        }
    if body.get("quota_owner") in ("OA", "APP"):
        return [
            {
                "asset_id": caller.oa.oa_id,
                "product_type": body.get("product_type", "cs"),
                "quota_type": body.get("quota_type", "sub_quota"),
                "valid_through": "31/12/2099",
                "total": "2000",
                "remain": "2000",
            }
        ]
    raise Fail(-201, "user_id or quota_owner is required")


routes = [
    Route("/v2.0/oa/getoa", getoa),
    Route("/v3.0/oa/user/getlist", getlist),
    Route("/v3.0/oa/user/detail", user_detail),
    Route("/v2.0/oa/listrecentchat", list_recent_chat),
    Route("/v2.0/oa/conversation", conversation),
    Route("/v3.0/oa/message/cs", messages.send_cs, methods=["POST"]),
    Route("/v3.0/oa/message/template", messages.send_uid_template, methods=["POST"]),
    Route("/v2.0/oa/message", messages.send_v2, methods=["POST"]),
    Route("/v2.0/oa/upload/image", _upload("image"), methods=["POST"]),
    Route("/v2.0/oa/upload/gif", _upload("gif"), methods=["POST"]),
    Route("/v2.0/oa/upload/file", _upload("file"), methods=["POST"]),
    Route("/v2.0/oa/tag/gettagsofoa", get_tags),
    Route("/v2.0/oa/tag/tagfollower", tag_follower, methods=["POST"]),
    Route("/v2.0/oa/tag/rmfollowerfromtag", untag_follower, methods=["POST"]),
    Route("/v2.0/oa/tag/rmtag", remove_tag, methods=["POST"]),
    Route("/v3.0/oa/quota/message", message_quota, methods=["POST"]),
]
