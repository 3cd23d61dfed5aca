"""``serve --sandbox``: a demo OA wired to the sandbox Zalo, authorized through the real
OAuth flow, so a newcomer sees everything work without a Zalo account."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import sqlalchemy as sa

import models
from resolvers import _crud, oauth
from resolvers.caller import SYSTEM
from resolvers.resources import OFFICIAL_ACCOUNTS
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_OA_ID, DEMO_OA_SECRET_KEY
from zalo_oa.services import Services

DEMO_CODE = "DEMO"


async def ensure_demo_account(services: Services, callback_url: str) -> str:
    """Create the demo OA (once) and authorize it against the sandbox; returns a summary."""
    table = models.OfficialAccount.__table__  # type: ignore[attr-defined]
    async with services.database.sessions() as session:
        found = (
            await session.execute(sa.select(table.c.status).where(table.c.code == DEMO_CODE))
        ).first()
        if found is None:
            result = await _crud.create_many(
                session,
                OFFICIAL_ACCOUNTS,
                [
                    {
                        "code": DEMO_CODE,
                        "name": "demo OA",
                        "app_id": DEMO_APP_ID,
                        "app_name": "Sandbox app",
                        "app_secret": DEMO_APP_SECRET,
                        "oa_id": DEMO_OA_ID,
                        "oa_secret_key": DEMO_OA_SECRET_KEY,
                        "callback_url": callback_url,
                        "is_default": True,
                        "is_enabled": True,
                        "status": 0,
                        "webhook_user": "zalo-webhook",
                        "description": "Official account of the sandbox Zalo (serve --sandbox)",
                    }
                ],
                SYSTEM,
            )
            assert result.ok, result.problems
            await session.commit()
        elif found.status == 1:
            return f"demo OA {DEMO_CODE} already authorized"
        started = await oauth.start(session, services.zalo, DEMO_CODE, callback_url)
        await session.commit()
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(started.url, follow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlparse(consent.headers["location"]).query).items()}
    async with services.database.sessions() as session:
        await oauth.finish(
            session,
            services.zalo,
            code=query.get("code"),
            state=query.get("state"),
            oa_id=query.get("oa_id"),
        )
        await session.commit()
    return f"demo OA {DEMO_CODE} authorized against the sandbox"
