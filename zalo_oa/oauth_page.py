"""``GET /v4/zalo-oa/oauth/callback``: where Zalo sends the operator after consent."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from resolvers import oauth
from resolvers.errors import DomainError
from zalo_oa.services import Services

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Zalo OA — {title}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}}
.ok{{color:#0a7d32}}.bad{{color:#b00020}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{text}</p></body></html>"""


def _page(ok: bool, title: str, text: str, status: int) -> HTMLResponse:
    body = _PAGE.format(css="ok" if ok else "bad", title=html.escape(title), text=html.escape(text))
    return HTMLResponse(body, status_code=status)


def router(services: Services) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/v4/zalo-oa/oauth/callback")
    async def callback(
        code: str | None = None,
        state: str | None = None,
        oa_id: str | None = None,
        error_code: str | None = None,
    ) -> HTMLResponse:
        if error_code:
            return _page(
                False,
                "Authorization refused",
                f"Zalo answered with error {error_code}; nothing was stored.",
                400,
            )
        async with services.database.sessions() as session:
            try:
                account = await oauth.finish(
                    session, services.zalo, code=code, state=state, oa_id=oa_id
                )
            except DomainError as exc:
                await session.rollback()
                return _page(
                    False, "Authorization failed", f"{exc.message}. Nothing was stored.", 400
                )
            await session.commit()
        return _page(
            True,
            "Official account authorized",
            f"Account {account} is connected to Zalo; its tokens are stored "
            "encrypted and kept fresh. You can close this page.",
            200,
        )

    return api
