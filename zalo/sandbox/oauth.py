"""The fake ``oauth.zaloapp.com``: OA consent with PKCE and the token endpoint.

Error codes -14002, -14003 and -14014 are Zalo's; -14001 (bad parameter or grant type),
-14004 (wrong secret key), -14005 (bad, used or expired code) and -14006 (PKCE verifier
mismatch) are invented here, since Zalo's own numbers for those are not documented.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from zalo.pkce import challenge
from zalo.sandbox.state import World
from zalo.sandbox.wire import html_500, json_response, world_of

_REF_DOC = (
    "https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new"
)


class _TokenFail(Exception):
    def __init__(self, code: int, name: str, reason: str) -> None:
        super().__init__(code, name)
        self.code = code
        self.name = name
        self.reason = reason


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


async def permission(request: Request) -> Response:
    world = world_of(request)
    query = request.query_params
    prefix = request.url.path.removesuffix("/v4/oa/permission")

    def error_page(code: int) -> Response:
        page = request.url.replace(
            path=f"{prefix}/v4/permission/error", query=urlencode({"error_code": code})
        )
        return RedirectResponse(str(page), status_code=302)

    app = world.apps.get(query.get("app_id", ""))
    if app is None:
        return error_page(-14002)
    if query.get("redirect_uri") != app.redirect_uri:
        return error_page(-14003)
    state = query.get("state", "")
    if world.knobs.deny_consent:
        # Zalo's answer to a refusing admin is not documented; this shape is invented.
        denied = {"error": "access_denied", "state": state}
        return RedirectResponse(_with_query(app.redirect_uri, denied), status_code=302)
    code = world.new_code(app, query.get("code_challenge") or None)
    params = {"code": code, "oa_id": app.oa_id, "state": state}
    return RedirectResponse(_with_query(app.redirect_uri, params), status_code=302)


async def permission_error(request: Request) -> Response:
    code = request.query_params.get("error_code", "")
    return HTMLResponse(f"<html><body><h1>Zalo</h1><p>error_code={code}</p></body></html>")


def _grant(world: World, form: dict[str, str], secret: str | None) -> dict[str, Any]:
    app = world.apps.get(form.get("app_id", ""))
    if app is None:
        raise _TokenFail(-14002, "Invalid app id", "app_id is not registered")
    if secret != app.secret_key:
        raise _TokenFail(-14004, "Invalid secret key", "secret_key header does not match")
    missing_refresh = world.knobs.token_fault == "missing_refresh"
    now = world.clock.now()
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        code = world.codes.get(form.get("code", ""))
        if code is None or code.app_id != app.app_id or code.used or now >= code.expires_at:
            raise _TokenFail(-14005, "Invalid code", "code is unknown, used or expired")
        verifier = form.get("code_verifier")
        if code.challenge is not None and (verifier or world.knobs.require_verifier):
            if not verifier or challenge(verifier) != code.challenge:
                raise _TokenFail(-14006, "Invalid code verifier", "code_verifier does not match")
        code.used = True
        return world.issue_tokens(app.app_id, code.oa_id, with_refresh=not missing_refresh)
    if grant_type == "refresh_token":
        grant = world.refresh.get(form.get("refresh_token", ""))
        if grant is not None:
            grant.attempts += 1
        if (
            grant is None
            or grant.app_id != app.app_id
            or grant.spent
            or now >= grant.expires_at
            or (grant.app_id, grant.oa_id) in world.revoked
        ):
            raise _TokenFail(-14014, "Invalid refresh token", "refresh token is invalid or used")
        grant.uses += 1
        # Zalo reportedly sometimes answers without a new refresh token; the old one then stays.
        grant.spent = not missing_refresh
        return world.issue_tokens(app.app_id, grant.oa_id, with_refresh=not missing_refresh)
    raise _TokenFail(-14001, "Invalid parameter", "grant_type is invalid")


def _take_fault(world: World) -> str | None:
    knobs = world.knobs
    if knobs.token_fault is None:
        return None
    if knobs.token_fault_count is not None:
        if knobs.token_fault_count <= 0:
            knobs.token_fault, knobs.token_fault_count = None, None
            return None
        knobs.token_fault_count -= 1
    return knobs.token_fault


def _error_body(fail: _TokenFail, quoted: bool) -> dict[str, Any]:
    return {
        "error": str(fail.code) if quoted else fail.code,
        "error_name": fail.name,
        "error_reason": fail.reason,
        "error_description": fail.reason,
        "ref_doc": _REF_DOC,
    }


async def access_token(request: Request) -> Response:
    world = world_of(request)
    async with request.form() as submitted:
        form = {key: str(value) for key, value in submitted.items()}
    fault = _take_fault(world)
    if fault is not None and fault.startswith("slow:"):
        await asyncio.sleep(float(fault.removeprefix("slow:")))
    if fault == "http500":
        return html_500()
    if fault == "empty":
        return Response(b"", status_code=200, media_type="application/json")
    if fault == "html":
        return HTMLResponse("<html><body>Đang bảo trì hệ thống</body></html>")
    if fault == "no_access_token":
        # The shape that fooled clients which only looked for a numeric "error".
        return json_response({"error_name": "Invalid refresh token", "expires_in": "90000"})
    if fault == "quoted_error":
        refused = _TokenFail(-14014, "Invalid refresh token", "refresh token is invalid")
        return json_response(_error_body(refused, quoted=True))
    try:
        pair = _grant(world, form, request.headers.get("secret_key"))
    except _TokenFail as fail:
        return json_response(_error_body(fail, quoted=False))
    if world.knobs.expires_in_number:
        pair["expires_in"] = int(pair["expires_in"])
    return json_response(pair)


routes = [
    Route("/v4/oa/permission", permission),
    Route("/v4/permission/error", permission_error),
    Route("/v4/oa/access_token", access_token, methods=["POST"]),
]
