"""The fake ``business.openapi.zalo.me``: ZNS templates, sending, quota and delivery status.

-132 (bad list parameter) and -201 on ``/message/status`` are invented codes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from zalo.phone import ZNS_PHONE
from zalo.sandbox import webhook
from zalo.sandbox.state import SentZns, Template, new_message_id
from zalo.sandbox.wire import Caller, Fail, Reply, guarded, json_body

MAX_TEMPLATE_PAGE = 100
STATUSES = {1: "ENABLE", 2: "PENDING_REVIEW", 3: "REJECT", 4: "DISABLE", 5: "DELETE"}


def checked_data(template: Template, data: Any) -> dict[str, Any]:
    """Check ``template_data`` against the template's params (-1122 missing, -1121 too long)."""
    if not isinstance(data, dict):
        raise Fail(-1122, "template_data is missing")
    for param in template.params:
        name = param["name"]
        value = data.get(name)
        if value is None or value == "":
            if param.get("require", True) and not param.get("acceptNull", False):
                raise Fail(-1122, f"Missing param: {name}")
            continue
        max_length = param.get("maxLength")
        if max_length not in (None, "") and len(str(value)) > int(max_length):
            raise Fail(-1121, f"Param {name} is longer than {max_length} characters")
    return data


def _query_int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Fail(-132, f"Param {name} is invalid")


@guarded("zns")
async def templates(request: Request, caller: Caller) -> Any:
    offset = _query_int(request, "offset", 0) or 0
    limit = _query_int(request, "limit", MAX_TEMPLATE_PAGE) or 0
    status = _query_int(request, "status", None)
    if offset < 0 or not 0 < limit <= MAX_TEMPLATE_PAGE or (status and status not in STATUSES):
        raise Fail(-132, "Param is invalid")
    rows = list(reversed(caller.oa.templates.values()))
    rows.sort(key=lambda t: -t.created_ms)
    if status:
        rows = [template for template in rows if template.status == STATUSES[status]]
    page = [
        {
            "templateId": int(t.template_id) if t.template_id.isdigit() else t.template_id,
            "templateName": t.name,
            "createdTime": t.created_ms,
            "status": t.status,
            "templateQuality": t.quality,
        }
        for t in rows[offset : offset + limit]
    ]
    return Reply(page, {"metadata": {"total": len(rows)}})


@guarded("zns")
async def template_info(request: Request, caller: Caller) -> Any:
    template = caller.oa.templates.get(request.query_params.get("template_id", ""))
    if template is None:
        raise Fail(-109, "Template ID is invalid")
    return {
        "templateId": template.template_id,
        "templateName": template.name,
        "status": template.status,
        "listParams": template.params,
        "listButtons": template.buttons,
        "timeout": template.timeout_ms,
        "previewUrl": template.preview_url,
        "templateQuality": template.quality,
        "templateTag": template.tag,
        "price": template.price,
        "applyTemplateQuota": False,
        "templateDailyQuota": "0",
        "templateRemainingQuota": "0",
    }


@guarded("zns", send=True)
async def send(request: Request, caller: Caller) -> Any:
    body = await json_body(request)
    world, oa = caller.world, caller.oa
    if not oa.zns_enabled:
        raise Fail(-135, "OA is not allowed to send ZNS")
    phone = str(body.get("phone", "")).removeprefix("+")
    if not ZNS_PHONE.fullmatch(phone):
        raise Fail(-108, "Phone number is invalid")
    template = oa.templates.get(str(body.get("template_id", "")))
    if template is None:
        raise Fail(-109, "Template ID is invalid")
    if template.status != "ENABLE":
        raise Fail(-131, "Template is not approved")
    data = checked_data(template, body.get("template_data"))
    development = body.get("mode") == "development"
    if development and phone not in oa.admin_phones:
        raise Fail(-127, "Development mode sends only to the app's and OA's admins")
    if world.knobs.night_window:
        raise Fail(-133, "Sending at night (22:00-06:00) is not allowed")
    if not development:
        if oa.zns_remaining_quota <= 0:
            raise Fail(-144, "OA has reached its daily ZNS quota")
        oa.zns_remaining_quota -= 1
    now_ms = world.clock.now_ms()
    sent = SentZns(
        msg_id=new_message_id(),
        oa_id=oa.oa_id,
        phone=phone,
        template_id=template.template_id,
        template_data=data,
        tracking_id=str(body.get("tracking_id", "")),
        sent_ms=now_ms,
        development=development,
        delivery_ms=now_ms + 1000,
    )
    world.sent_zns.append(sent)
    if world.knobs.zns_delivery_webhooks:
        caller.background.add_task(webhook.zns_delivered, world, caller.app, sent)
    return {
        "msg_id": sent.msg_id,
        "sent_time": str(now_ms),
        "sending_mode": "1",
        "quota": {
            "dailyQuota": str(oa.zns_daily_quota),
            "remainingQuota": str(oa.zns_remaining_quota),
        },
    }


@guarded("zns")
async def quota(request: Request, caller: Caller) -> Any:
    oa = caller.oa
    return {
        "dailyQuota": str(oa.zns_daily_quota),
        "remainingQuota": str(oa.zns_remaining_quota),
        "dailyQuotaPromotion": "0",
        "remainingQuotaPromotion": "0",
    }


@guarded("zns")
async def status(request: Request, caller: Caller) -> Any:
    message_id = request.query_params.get("message_id", "")
    for sent in caller.world.sent_zns:
        if sent.msg_id == message_id and sent.oa_id == caller.oa.oa_id:
            return {
                "delivery_time": str(sent.delivery_ms or ""),
                "message": "Delivered" if sent.status == 1 else "Not delivered yet",
                "status": sent.status,
            }
    raise Fail(-201, "message_id is invalid")


routes = [
    Route("/template/all", templates),
    Route("/template/info/v2", template_info),
    Route("/message/template", send, methods=["POST"]),
    Route("/message/quota", quota),
    Route("/message/status", status),
]
